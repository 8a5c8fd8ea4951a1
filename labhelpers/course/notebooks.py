"""The course's notebooks as files: which ones, in what order, and the parameters each declares.

Public to ``course.run``, ``tools/store_outputs.py``, ``tools/screenshots.py``, the command line and the
tests: :data:`NOTEBOOK_DIR`, :data:`NOTEBOOKS`, :data:`PRESETS`, and the functions that read and hand out
parameters by name (papermill overrides by name and only warns on a misspelt one; these refuse it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from labhelpers.foundation import config
from labhelpers.foundation.errors import CourseError
from labhelpers.foundation.learner import LEARNER_ENV

NOTEBOOK_DIR = config.PROJECT_ROOT / "notebooks"
NOTEBOOKS = (
    "01_train_models.ipynb",
    "02_register_models.ipynb",
    "03_inspect_registry.ipynb",
    "04_pin_and_promote.ipynb",
    "05_serve_pinned_model.ipynb",
    "06_govern_the_registry.ipynb",
)
#: Named parameter sets for ``course run --parameters NAME``.
PRESETS: dict[str, dict[str, object]] = {
    "default": {},
    # The silhouette score is quadratic in its sample; 2,000 rows keep KMeans' metrics meaningful.
    "small": {"silhouette_sample": 2000},
}


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
    """The ``learner`` parameter of notebooks 01-06 (empty without a learner: the course's own names).

    Each of those notebooks takes every name it uses from ``namespace(learner)``; the kernels also inherit
    ``$LAB_LEARNER`` (see :func:`learner_environment`).

    Args:
        learner: A checked learner name, or None.

    Returns:
        ``{"learner": learner}``, or ``{}``.
    """
    return {"learner": learner} if learner else {}


@contextlib.contextmanager
def learner_environment(learner: str | None) -> Iterator[None]:
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
