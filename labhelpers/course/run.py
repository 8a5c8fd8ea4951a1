"""The course as a whole: run notebooks 01 -> 05 with papermill, hand folders between them, summarise.

``python -m labhelpers course run`` and the notebook tests execute the same notebooks a learner opens in
JupyterLab, with the kernel of this interpreter, parameters passed by name (a misspelt name is an error, not
papermill's warning) and a time limit per cell. A failing notebook ends the run with its one-line error.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from labhelpers.core import config
from labhelpers.core.errors import LabError
from labhelpers.core.learner import LEARNER_ENV, current_learner

# Notebooks written before the split import this from here (05 does).
from labhelpers.course.session import brief_errors  # noqa: F401

NOTEBOOK_DIR = config.PROJECT_ROOT / "notebooks"
NOTEBOOKS = (
    "01_train_models.ipynb",
    "02_register_models.ipynb",
    "03_inspect_registry.ipynb",
    "04_pin_and_promote.ipynb",
    "05_serve_pinned_model.ipynb",
)
#: Named parameter sets for ``course run --parameters NAME``.
PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    # The silhouette score is quadratic in its sample; 2,000 rows keep KMeans' metrics meaningful.
    "small": {"silhouette_sample": 2000},
}
#: Seconds one cell may run; papermill's default is forever, so a hung server would hang CI.
CELL_TIMEOUT = 300
KERNEL = "python3"
#: The kernel's own log (plain-TCP notice, shutdown interrupts) is noise to a learner; cell errors still
#: arrive through the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
#: The file of a course run's output folder that its kernels' own messages are appended to.
KERNEL_LOG = "kernels.log"
#: What every notebook imports first: a kernel started ahead imports it while the notebook before runs.
WARM_IMPORTS = "import mlflow, pandas, sklearn.linear_model, labhelpers"


class CourseError(LabError):
    """A notebook of the course failed, or the course was asked for something it cannot do."""


def kernel_name() -> str:
    """The Jupyter kernel that runs this very interpreter (``python3`` from this venv).

    Raises:
        CourseError: No ``python3`` kernel, or it belongs to another Python (e.g. a user-wide kernelspec).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        raise CourseError(
            f"No {KERNEL!r} Jupyter kernel found: run `make venv` (it installs ipykernel)."
        ) from None
    program = spec.argv[0]
    # jupyter_client starts "python"/"python3" kernels with sys.executable
    ours = program in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}")
    if not ours and Path(program).resolve() != Path(sys.executable).resolve():
        raise CourseError(
            f"The {KERNEL!r} kernel ({spec.resource_dir}) runs {program}, not this venv's {sys.executable}; "
            f"remove that kernelspec (`jupyter kernelspec remove {KERNEL}`) or run from its environment."
        )
    return KERNEL


def notebook_parameters(path: str | Path) -> dict[str, object]:
    """The parameters a notebook declares in its one ``parameters`` cell, with their default values.

    Raises:
        CourseError: Not exactly one cell is tagged ``parameters``, or it holds anything but
            ``name = <plain literal>`` lines (papermill overrides by name and recomputes nothing).
    """
    import ast

    import nbformat

    name = Path(path).name
    cells = [c for c in nbformat.read(path, as_version=4).cells if "parameters" in c.metadata.get("tags", [])]
    if len(cells) != 1:
        raise CourseError(f"{name} has {len(cells)} cells tagged 'parameters'; it needs exactly one.")
    values = {}
    for node in ast.parse(cells[0].source).body:
        single = isinstance(node, ast.Assign) and len(node.targets) == 1
        if not (single and isinstance(node.targets[0], ast.Name)):
            raise CourseError(f"{name}: the parameters cell holds {ast.unparse(node)!r}; only `name = value`")
        try:
            values[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise CourseError(
                f"{name}: parameter {node.targets[0].id} = {ast.unparse(node.value)} is not a plain literal."
            ) from None
    return values


def load_parameters(spec: str | None, overrides: dict[str, object] | None = None) -> dict[str, object]:
    """Parameters from a preset name (see :data:`PRESETS`) or a YAML file, updated with ``overrides``.

    Raises:
        CourseError: ``spec`` is neither a preset nor a readable YAML mapping.
    """
    import yaml

    values: dict[str, object] = {}
    if spec in PRESETS:
        values = dict(PRESETS[spec])
    elif spec:
        try:
            values = yaml.safe_load(Path(spec).read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            presets = ", ".join(PRESETS)
            raise CourseError(
                f"--parameters {spec}: not a preset ({presets}) nor a YAML file ({error})."
            ) from None
        if not isinstance(values, dict):
            raise CourseError(f"{spec} must hold a mapping of parameter names to values.")
    return {**values, **(overrides or {})}


def split_parameters(parameters: dict[str, object], notebooks: list[Path]) -> dict[Path, dict[str, object]]:
    """Give each notebook the parameters it declares; refuse names no notebook declares.

    Raises:
        CourseError: A parameter name is declared by none of the notebooks (papermill would only warn).
    """
    declared = {path: notebook_parameters(path) for path in notebooks}
    known = set().union(*declared.values())
    unknown = sorted(set(parameters) - known)
    if unknown:
        raise CourseError(
            f"Unknown parameter(s) {', '.join(unknown)}; the notebooks take: {', '.join(sorted(known))}."
        )
    return {path: {k: v for k, v in parameters.items() if k in names} for path, names in declared.items()}


class AheadKernel:
    """A kernel started before its notebook's turn, already importing what every notebook imports first.

    Each notebook still runs in a fresh kernel of its own and executes every one of its cells; the kernel
    only spends the seconds of ``import mlflow`` while the notebook before is running, on the other core.

    Args:
        cwd: The kernel's working folder (the notebook's own).
        log: File that the kernel process's own output is appended to (its log, a traceback printed while
            it is stopped); default: this process's terminal. Cell output goes to the notebook either way.
        startup_timeout: Seconds the kernel may take to answer its first request.
        warm_imports: The code run ahead.
        name: The notebook it is for, as messages name it.

    Raises:
        CourseError: The kernel did not answer within ``startup_timeout`` (it is stopped).
    """

    def __init__(
        self,
        cwd: Path,
        *,
        log: Path | None = None,
        startup_timeout: float = 60,
        warm_imports: str = WARM_IMPORTS,
        name: str = "a notebook",
    ) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.log, self.name, self._warm = log, name, warm_imports
        self._where = f" (its own messages: {log})" if log else ""
        self.manager = AsyncKernelManager(kernel_name=kernel_name())
        # The kernel process keeps its own copy of the file; a restart would need it open again (the course
        # never restarts a kernel: each notebook gets a fresh one).
        with open(log, "ab") if log else contextlib.nullcontext() as output:
            streams = {"stdout": output, "stderr": output} if output else {}
            run_sync(self.manager.start_kernel)(cwd=str(cwd), extra_arguments=KERNEL_ARGUMENTS, **streams)
        self._client = self.manager.client()
        self._client.start_channels()
        try:
            run_sync(self._client.wait_for_ready)(timeout=startup_timeout)
            self._warm_id = self._client.execute(warm_imports, silent=True, store_history=False)
        except Exception as error:
            self.shutdown()
            raise CourseError(
                f"The Jupyter kernel for {name} did not start: {error}{self._where}. Check that this venv's "
                "python starts (`make venv` rebuilds it)."
            ) from None

    def settle(self, timeout: float) -> None:
        """Wait until the kernel has answered its warm imports, then let go of it (before papermill connects).

        ipykernel 7.3 can leave a request unread when it arrives while the kernel is sending another
        client's reply (ipython/ipykernel#1554; 7.4 fixes it, but needs Python 3.11): papermill's first
        cell would then wait until its timeout. Once this client has its answer, papermill's client is the
        only one talking to the kernel. Whether the imports succeeded does not matter here: the notebook's
        own cells import the same modules and report any error themselves.

        Raises:
            CourseError: No answer within ``timeout`` seconds, or the kernel died first.
        """
        import queue

        from jupyter_core.utils import run_sync

        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    reply = run_sync(self._client.get_shell_msg)(timeout=1.0)
                except queue.Empty:
                    alive = run_sync(self.manager.is_alive)()
                    if alive and time.monotonic() < deadline:
                        continue
                    problem = (
                        f"did not finish running {self._warm!r} within {timeout:.0f} s"
                        if alive
                        else f"died while it ran {self._warm!r}"
                    )
                    raise CourseError(
                        f"The kernel for {self.name} {problem}{self._where}; try the import in a terminal "
                        "with this venv's python."
                    ) from None
                if reply.get("parent_header", {}).get("msg_id") == self._warm_id:
                    break
        finally:
            self._client.stop_channels()

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        self._client.stop_channels()
        with contextlib.suppress(Exception):  # already gone: nothing left to stop
            run_sync(self.manager.shutdown_kernel)(now=True)


def _ahead(notebook: Path, log: Path) -> AheadKernel:
    return AheadKernel(notebook.parent, log=log, name=notebook.name)


def run_notebook(
    source: Path,
    target: Path,
    parameters: dict,
    *,
    timeout: int = CELL_TIMEOUT,
    kernel: AheadKernel | None = None,
) -> Path:
    """Execute one notebook with papermill in its own folder (so its relative defaults hold).

    Args:
        kernel: A kernel started for this notebook (the caller shuts it down); default: papermill starts one.

    Raises:
        CourseError: A cell raised (the message is the cell's error, e.g. a labhelpers message), timed out,
            or the kernel died; the executed notebook is kept at ``target`` for reading.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name=kernel_name(),
            cwd=str(source.parent),
            execution_timeout=timeout,
            progress_bar=False,
            extra_arguments=KERNEL_ARGUMENTS,
            **({"km": kernel.manager} if kernel else {}),
        )
    except papermill.PapermillExecutionError as error:
        raise CourseError(
            f"{source.name} stopped at cell [{error.exec_count}]: {error.ename}: {error.evalue} "
            f"(executed notebook: {target})"
        ) from None
    except (CellTimeoutError, DeadKernelError) as error:
        messages = f"; the kernel's own messages: {kernel.log}" if kernel and kernel.log else ""
        raise CourseError(
            f"{source.name}: {type(error).__name__}: {error} (executed notebook: {target}{messages})"
        ) from None
    return target


def with_run_deployment(parameters: dict[str, object], notebooks: list[Path]) -> dict[str, object]:
    """Give ``deployment_dir`` a folder of the course run when no value was passed.

    Notebooks 04 (pins) and 05 (serves the pin) then share ``<output_dir>/deployment``, a copy of
    ``ML/deployment``: a course run never rewrites the tracked files (pass ``deployment_dir`` to do so).
    """
    from labhelpers.course.session import run_deployment_dir

    declared = [notebook_parameters(path) for path in notebooks]
    takers = [values for values in declared if "deployment_dir" in values]
    if "deployment_dir" in parameters or not takers:
        return parameters
    output_dir = parameters.get("output_dir") or next(
        (values["output_dir"] for values in declared if "output_dir" in values), "../outputs/course"
    )
    folder = run_deployment_dir(NOTEBOOK_DIR / str(output_dir))  # relative values: from notebooks/
    return {**parameters, "deployment_dir": str(folder)}


def learner_parameters(learner: str | None) -> dict[str, object]:
    """The ``learner`` parameter of notebooks 02-05 (empty without a learner: the seed's names).

    Each of those notebooks takes every name it uses from ``namespace(learner)``; the kernels also inherit
    ``$LAB_LEARNER`` (see :func:`_learner_environment`).

    Args:
        learner: A checked learner name, or None.

    Returns:
        ``{"learner": learner}``, or ``{}``.
    """
    return {"learner": learner} if learner else {}


@contextlib.contextmanager
def _learner_environment(learner: str | None) -> Iterator[None]:
    """Export ``$LAB_LEARNER`` while the kernels start (they inherit it), then restore the caller's value."""
    before = os.environ.get(LEARNER_ENV)
    if learner:
        os.environ[LEARNER_ENV] = learner
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LEARNER_ENV, None)
        else:
            os.environ[LEARNER_ENV] = before


def run_course(
    output_dir: str | Path,
    parameters: dict[str, object] | None = None,
    *,
    notebooks: tuple[str, ...] = NOTEBOOKS,
    source_dir: str | Path = NOTEBOOK_DIR,
    timeout: int = CELL_TIMEOUT,
    echo=print,
    learner: str | None = None,
    registry_ready: Callable[[], object] | None = None,
) -> list[Path]:
    """Run the notebooks in order, writing the executed copies to ``output_dir``; stop at the first failure.

    Args:
        output_dir: Folder for the executed notebooks (git-ignored, e.g. ``build/course``).
        parameters: Values by parameter name; each notebook receives those it declares. Relative paths in
            values are read from the notebooks' folder. Without ``deployment_dir``, production is pinned
            in the run's own copy of the deployment configuration (see :func:`with_run_deployment`).
        notebooks: File names to run, in order.
        source_dir: Folder holding them.
        timeout: Seconds one cell may run.
        echo: Called with one progress line per notebook (``None``: silent).
        learner: Run in this learner's namespace (default ``$LAB_LEARNER``; none: the seed's names).
        registry_ready: Called once before the first notebook that connects to a registry (one declaring
            ``backend``); e.g. waits for a server started beside notebook 01, which trains offline.

    Returns:
        The executed notebooks.

    Raises:
        CourseError: Unknown parameter names (before anything runs), or a notebook failed.
        LearnerError: The learner name is invalid (before anything runs).
    """
    learner = current_learner(learner)
    sources = [Path(source_dir) / name for name in notebooks]
    split_parameters(dict(parameters or {}), sources)  # refuses unknown names before anything is written
    parameters = {**learner_parameters(learner), **(parameters or {})}
    done = []
    with _learner_environment(learner):  # the run's deployment copy names the learner's model too
        per_notebook = split_parameters(with_run_deployment(parameters, sources), sources)
        # The kernels' own messages (not cell output) go to a file of the run, not the learner's terminal:
        # ipykernel prints a tornado traceback when it is interrupted on its way out.
        log = Path(output_dir) / KERNEL_LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as header:
            header.write(
                f"--- course run, {time.strftime('%Y-%m-%d %H:%M:%S')}: {len(sources)} notebook(s)\n"
            )
        ahead = _ahead(sources[0], log) if sources else None
        try:
            for index, source in enumerate(sources):
                started = time.monotonic()
                if registry_ready and "backend" in notebook_parameters(source):
                    registry_ready()
                    registry_ready = None  # once
                kernel, ahead = ahead, None
                assert kernel is not None  # started for this notebook during the one before
                target, values = Path(output_dir) / source.name, per_notebook[source]
                try:
                    if index + 1 < len(sources):  # the next notebook's kernel imports while this one runs
                        ahead = _ahead(sources[index + 1], log)
                    kernel.settle(timeout)
                    done.append(run_notebook(source, target, values, timeout=timeout, kernel=kernel))
                finally:
                    kernel.shutdown()
                if echo:
                    echo(f"{source.name}: done in {time.monotonic() - started:.1f} s")
        finally:
            if ahead is not None:
                ahead.shutdown()
    return done
