"""The MLflow 2 test environment (.ci/mlflow2-requirements.txt) pins what pyproject.toml pins, bar MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is 3.11+; the dev extra installs tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[3]
MLFLOW2_PINS = ROOT / ".ci" / "mlflow2-requirements.txt"
#: Pins that must differ, and why: mlflow 2.22 declares pyarrow<20 (pyproject.toml pins 22.0.0 for MLflow 3).
ALLOWED_DIFFERENCES = {"pyarrow": lambda version: int(version.split(".")[0]) < 20}
SHARED = {
    "scikit-learn",
    "numpy",
    "pandas",
    "pyarrow",
    "scipy",
    "joblib",
    "requests",
    "tqdm",
    "pyyaml",
    "psutil",
    "pooch",
    "ruamel-yaml",
    "tenacity",
    "filelock",
    "pytest",
    "trustme",
    "pytest-httpserver",
}


def _exact(line: str) -> Requirement | None:
    """The requirement on ``line`` when it pins one exact version (``name==1.2``), else None."""
    try:
        requirement = Requirement(line.split("#", 1)[0].strip())
    except InvalidRequirement:
        return None
    [*specs] = requirement.specifier
    return requirement if len(specs) == 1 and specs[0].operator == "==" else None


def _pins(lines) -> dict[str, str]:
    found = [r for r in map(_exact, lines) if r is not None]
    return {canonicalize_name(r.name): next(iter(r.specifier)).version for r in found}


def _unpinned(lines) -> list[str]:
    return [line for line in lines if line.split("#", 1)[0].strip() and _exact(line) is None]


@pytest.fixture(scope="module")
def mlflow2() -> dict[str, str]:
    return _pins(MLFLOW2_PINS.read_text().splitlines())


@pytest.fixture(scope="module")
def pyproject() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"]) + [s for e in project["optional-dependencies"].values() for s in e]
    return _pins(lines)


def test_every_line_is_an_exact_pin():
    assert _unpinned(MLFLOW2_PINS.read_text().splitlines()) == []


def test_mlflow_is_a_2x_release(mlflow2):
    assert mlflow2["mlflow"].split(".")[0] == "2"


def test_shared_pins_equal_pyproject(mlflow2, pyproject):
    assert set(mlflow2) >= SHARED
    differ = {
        name: (v, pyproject[name])
        for name, v in mlflow2.items()
        if name in pyproject and v != pyproject[name]
    }
    differ.pop("mlflow")
    assert set(differ) <= set(ALLOWED_DIFFERENCES), differ
    assert all(ALLOWED_DIFFERENCES[name](mine) for name, (mine, _) in differ.items())


def test_no_azure_packages(mlflow2):
    assert [name for name in mlflow2 if name.startswith("azure")] == []
