"""The course as a whole: run notebooks 01 -> 05 with papermill, hand folders between them, summarise.

``python -m labhelpers course run`` and the notebook tests execute the same notebooks a learner opens in
JupyterLab, with the kernel of this interpreter, parameters passed by name (a misspelt name is an error, not
papermill's warning) and a time limit per cell. A failing notebook ends the run with its one-line error.
The notebooks and their parameters are in ``course.notebooks``; the kernels in ``course.kernels``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from labhelpers.course.kernels import KERNEL_ARGUMENTS, AheadKernel, kernel_forks, kernel_name, start_ahead
from labhelpers.course.notebooks import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    learner_environment,
    learner_parameters,
    notebook_parameters,
    split_parameters,
    with_run_deployment,
)
from labhelpers.foundation.errors import CourseError
from labhelpers.foundation.learner import current_learner

__all__ = ["CELL_TIMEOUT", "KERNEL_LOG", "CourseError", "run_course", "run_notebook"]

#: Seconds one cell may run; papermill's default is forever, so a hung server would hang CI.
CELL_TIMEOUT = 300
#: The file of a course run's output folder that its kernels' own messages are appended to.
KERNEL_LOG = "kernels.log"


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

    from labhelpers.course.engine import ENGINE  # papermill's engine, writing the notebook once

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
            engine_name=ENGINE,
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


def run_course(
    output_dir: str | Path,
    parameters: dict[str, object] | None = None,
    *,
    notebooks: tuple[str, ...] = NOTEBOOKS,
    source_dir: str | Path = NOTEBOOK_DIR,
    timeout: int = CELL_TIMEOUT,
    echo: Callable[[str], object] | None = print,
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
    with learner_environment(learner):  # the run's deployment copy names the learner's model too
        per_notebook = split_parameters(with_run_deployment(parameters, sources), sources)
        log = _kernel_log(Path(output_dir), len(sources))
        return _run_in_order(sources, per_notebook, Path(output_dir), log, timeout, echo, registry_ready)


def _kernel_log(output_dir: Path, count: int) -> Path:
    """The run's file for the kernels' own messages (not cell output), headed by one line for this run.

    ipykernel prints a tornado traceback when it is interrupted on its way out: it belongs in a file of the
    run, not in the learner's terminal.
    """
    log = output_dir / KERNEL_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as header:
        header.write(f"--- course run, {time.strftime('%Y-%m-%d %H:%M:%S')}: {count} notebook(s)\n")
    return log


def _run_in_order(
    sources: list[Path],
    per_notebook: dict[Path, dict[str, object]],
    output_dir: Path,
    log: Path,
    timeout: int,
    echo: Callable[[str], object] | None,
    registry_ready: Callable[[], object] | None,
) -> list[Path]:
    """Run each notebook in a kernel started while the one before ran; stop at the first failure.

    The kernels are forks of one template process of the run (:func:`kernel_forks`), which imports what every
    notebook imports first once, not once per kernel; it stops after the last kernel.
    """
    done: list[Path] = []
    with kernel_forks(log) as forks:
        ahead = start_ahead(sources[0], log, forks) if sources else None
        try:
            # papermill (about 1 s), imported while the first kernel and the registry start, not after them
            from labhelpers.course import engine  # noqa: F401

            for index, source in enumerate(sources):
                started = time.monotonic()
                if registry_ready and "backend" in notebook_parameters(source):
                    registry_ready()
                    registry_ready = None  # once
                kernel, ahead = ahead, None
                assert kernel is not None  # started for this notebook during the one before
                try:
                    if index + 1 < len(sources):  # the next notebook's kernel starts while this one runs
                        ahead = start_ahead(sources[index + 1], log, forks)
                    kernel.settle(timeout)
                    target = output_dir / source.name
                    values = per_notebook[source]
                    done.append(run_notebook(source, target, values, timeout=timeout, kernel=kernel))
                finally:
                    kernel.shutdown()
                if echo:
                    echo(f"{source.name}: done in {time.monotonic() - started:.1f} s")
        finally:
            if ahead is not None:
                ahead.shutdown()
    return done
