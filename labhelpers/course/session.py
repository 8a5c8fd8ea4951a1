"""What the notebooks call between the lessons: one-line errors, run folders, the owner, the run's pins.

Each function here is plumbing a learner need not read to follow the course: where notebook 01 writes its
models, which of them notebook 02 registers, which versions notebook 04 promotes, and where it pins them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labhelpers.foundation.config import LINEAR_MODEL_NAME
from labhelpers.foundation.errors import LabError, RegistryError, TrainingError
from labhelpers.foundation.learner import LEARNER_ENV, Namespace, namespace
from labhelpers.foundation.provenance import default_owner  # noqa: F401 (the notebooks' `owner` default)
from labhelpers.registry.client import RegistryClient

if TYPE_CHECKING:
    from types import TracebackType

#: The month notebook 04 retrains on: generated like the sample, a month the sample does not cover.
RETRAIN_MONTH = ("2016-06-01", "2016-07-01")
RETRAIN_ROWS, RETRAIN_SEED = 20_000, 606


def use_learner(learner: str | None = None) -> Namespace:
    """The names a notebook uses: ``learner``'s (else ``$LAB_LEARNER``'s), or the seed's without one.

    A learner given here is also exported as ``$LAB_LEARNER`` in this kernel, so every labhelpers function
    that picks a name itself (registration, catalog, audit, the exercise checks) picks the learner's too.

    Raises:
        LearnerError: The name is invalid (the message says what would do).
    """
    names = namespace(learner)
    if names.learner:
        os.environ[LEARNER_ENV] = names.learner
    return names


def ready_for(
    notebook: str,
    names: Namespace | None = None,
    *,
    output_dir: str | Path | None = None,
    deployment_dir: str | Path | None = None,
    client: RegistryClient | None = None,
) -> None:
    """Check that what ``notebook`` needs from the notebooks before it is there; else say which to do first.

    What each needs: 02, notebook 01's complete training run under ``output_dir``; 03, a registered version
    of each of the course's three models (notebook 02); 04, the same and 01's training run (it retrains
    beside it); 05, a production pin in ``deployment_dir`` (notebook 04); 06, a version of the fare model
    whose ``lifecycle`` tag is ``production`` (notebook 04). Only reads: the registry is asked by name, as
    every registry (Azure ML too) allows.

    Args:
        notebook: ``"02"`` to ``"06"``.
        names: The notebook's names (:func:`use_learner`; default: ``$LAB_LEARNER``'s or the seed's).
        output_dir: Notebook 01's output folder (02 and 04).
        deployment_dir: Where notebook 04 pinned production (05).
        client: An ``MlflowClient`` (default: one for the current tracking URI).

    Raises:
        TrainingError: 01's run is missing: "Do notebook 01 first: ...".
        RegistryError: A version or a pin is missing: "Do notebook 02 first: ..." (or 04).
    """
    names = names or namespace()
    if notebook in ("02", "04") and output_dir is not None:
        try:
            latest_run_dir(output_dir)
        except TrainingError as missing:
            raise TrainingError(f"Do notebook 01 first: {missing}") from None
    if notebook in ("03", "04"):
        from labhelpers.registry.throttling import registry_client

        client = registry_client(client)
        empty = [name for name in names.model_names if not client.search_model_versions(f"name='{name}'")]
        if empty:
            raise RegistryError(
                f"Do notebook 02 first: the registry has no version of {', '.join(empty)} yet "
                f"(notebook 02 registers them; notebook {notebook} reads them)."
            )
    if notebook == "06":
        _production_exists(names.models["linear"], client)
    if notebook == "05" and deployment_dir is not None:
        from labhelpers.registry.pinning import PINS_FILE, read_pins

        if not read_pins(deployment_dir):
            where = Path(deployment_dir) / PINS_FILE
            raise RegistryError(
                f"Do notebook 04 first: nothing is pinned in production in {where} "
                "(notebook 04 promotes a version and pins it there; this notebook serves it)."
            )


def _production_exists(linear: str, client: RegistryClient | None = None) -> None:
    """Notebook 06's need: a version of the fare model whose ``lifecycle`` tag is ``production``."""
    from labhelpers.registry.throttling import registry_client

    versions = registry_client(client).search_model_versions(f"name='{linear}'")
    if not any((v.tags or {}).get("lifecycle") == "production" for v in versions):
        raise RegistryError(
            f"Do notebook 04 first: no version of {linear} is in production yet "
            "(notebook 04 promotes one; this notebook governs it and copies it)."
        )


def brief_errors() -> None:
    """In IPython and Jupyter, show labhelpers' own errors as one line (``DataError: ...``), no traceback.

    Their messages say what went wrong and what to do; other exceptions keep their full traceback.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.set_custom_exc((LabError,), _one_line)


class _OneLine(Exception):
    """An error's message, rendered by IPython as one line through its public ``_render_traceback_`` hook.

    ``InteractiveShell.showtraceback`` shows an exception that has ``_render_traceback_`` with the lines it
    returns instead of formatting its frames; the kernel reports the name and message as given.
    """

    def __init__(self, etype: type, value: BaseException) -> None:
        super().__init__(str(value))
        self.line = f"{etype.__name__}: {value}"

    def _render_traceback_(self) -> list[str]:
        return [self.line]


def _one_line(
    shell: Any, etype: type, value: BaseException, tb: TracebackType | None, tb_offset: int | None = None
) -> list[str]:
    """IPython custom exception handler: it must display the error itself (the kernel then reports it)."""
    brief = _OneLine(etype, value)
    shell.showtraceback((etype, brief, tb))
    return [brief.line]


def new_run_dir(root: str | Path) -> Path:
    """Create and return a new, empty ``run-<timestamp>`` folder under ``root`` for training outputs."""
    folder = Path(root).resolve() / datetime.now().strftime("run-%Y%m%d-%H%M%S-%f")
    folder.mkdir(parents=True)
    return folder


def latest_run_dir(root: str | Path) -> Path:
    """The newest ``run-*`` folder under ``root`` holding both complete training outputs.

    Raises:
        TrainingError: No such folder (notebook 01 has not run, or wrote elsewhere).
    """
    from labhelpers.files.artifacts import MANIFEST

    root = Path(root).resolve()
    complete = [
        folder
        for folder in root.glob("run-*")
        if all((folder / step / MANIFEST).is_file() for step in ("supervised", "unsupervised"))
    ]
    if not complete:
        raise TrainingError(
            f"No complete training run under {root}: run notebook 01 with output_dir={str(root)!r}."
        )
    return max(complete, key=lambda folder: folder.name)


def candidate_versions(name: str, count: int = 2, client: RegistryClient | None = None) -> list[str]:
    """The ``count`` newest versions of ``name`` still in lifecycle ``candidate``, newest first.

    Raises:
        RegistryError: Fewer candidates than ``count``: register new versions first (notebook 02).
    """
    from labhelpers.registry.catalog import comparison_table

    table = comparison_table([name], client)
    found = table.loc[table["lifecycle"] == "candidate", "version"].astype(str).tolist()[:count]
    if len(found) < count:
        raise RegistryError(
            f"{name} has {len(found)} candidate version(s), {count} needed: "
            "run notebook 02 to register new ones."
        )
    return found


def run_deployment_dir(output_dir: str | Path, learner: str | None = None) -> Path:
    """The course run's own copy of the deployment configuration, created from ``ML/deployment`` once.

    The course pins production here, never in the tracked ``ML/deployment`` files: a course run must not
    leave the checkout dirty (later versions would record ``git_dirty=true``). Under a learner, the copy's
    deployments name the learner's fare model, so promotions pin their ``model:`` lines; the endpoint file
    and both deployments name the learner's endpoint (``namespace(learner).endpoint``). This folder is what
    ``python -m labhelpers azure endpoint`` deploys (see docs/azure.md, section 9).

    Args:
        output_dir: The course's output folder (notebook 01's ``output_dir``).
        learner: The learner (default ``$LAB_LEARNER``; none: the seed's names, as the tracked files).

    Returns:
        ``<output_dir>/deployment``.

    An existing folder is returned as it is (it holds the run's pins), whoever's it is: ``python -m
    labhelpers azure endpoint`` checks that it is the learner's before printing a command.
    """
    from labhelpers.registry.pinning import (
        DEPLOYMENT_DIR,
        ENDPOINT_FILE,
        PINS_FILE,
        PLACEHOLDER_ENDPOINT,
        name_deployment,
    )

    folder = Path(output_dir).resolve() / "deployment"
    names = namespace(learner)
    if not folder.is_dir():
        shutil.copytree(DEPLOYMENT_DIR, folder, ignore=shutil.ignore_patterns(PINS_FILE))
        for path in folder.glob("*-deployment.yml") if names.learner else ():
            seed = f"model: azureml:{LINEAR_MODEL_NAME}"  # then :1 or @latest
            path.write_text(path.read_text().replace(seed, f"model: azureml:{names.models['linear']}"))
        name_deployment(folder, names.endpoint, names.models["linear"])  # the learner's endpoint, 3 files
    elif f"name: {PLACEHOLDER_ENDPOINT}" in _text(folder / ENDPOINT_FILE):
        # a folder an earlier version made: named now, when it deploys this namespace's model (else left as
        # it is: `azure endpoint` checks the folder before printing anything)
        with contextlib.suppress(RegistryError):
            name_deployment(folder, names.endpoint, names.models["linear"])
    return folder


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def retraining_month(run_dir: str | Path) -> Path:
    """Write the month notebook 04 retrains on (generated, June 2016, new seed) into ``run_dir``."""
    from labhelpers.data.sample import write_sample

    start, end = RETRAIN_MONTH
    return write_sample(Path(run_dir) / "trips-2016-06.csv", RETRAIN_ROWS, RETRAIN_SEED, start=start, end=end)
