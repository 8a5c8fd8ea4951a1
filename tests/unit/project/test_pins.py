"""The pinned set has one source of truth (pyproject.toml); the other pin files must agree with it."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import cast

import pytest
import yaml
from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is 3.11+; the dev extra installs tomli there
    import tomli as tomllib

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]


def _exact(line: str) -> Requirement | None:
    """The requirement on ``line`` when it pins one exact version (``name==1.2``), else None."""
    try:
        requirement = Requirement(line.split("#", 1)[0].strip())
    except InvalidRequirement:  # a comment, a blank line, an option
        return None
    [*specs] = requirement.specifier
    return (
        requirement if len(specs) == 1 and specs[0].operator == "==" and "*" not in specs[0].version else None
    )


def _pins(lines) -> dict[str, str]:
    """Exact pins by canonical name (``ruamel.yaml`` -> ``ruamel-yaml``)."""
    found = [r for r in map(_exact, lines) if r is not None]
    return {canonicalize_name(r.name): next(iter(r.specifier)).version for r in found}


def _environment(python: str) -> dict[str, str]:
    return {
        **cast("dict[str, str]", default_environment()),
        "python_full_version": python,
        "python_version": python.rsplit(".", 1)[0],
    }


def pyproject_specs() -> list[str]:
    """Every requirement line of pyproject.toml: the dependencies, then each extra's."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [
        *project["dependencies"],
        *(s for e in project.get("optional-dependencies", {}).values() for s in e),
    ]


def pyproject_pins(python: str) -> dict[str, str]:
    """pyproject.toml's pins that apply on ``python`` (a pair of lines with markers pins one per Python)."""
    applies = [
        line
        for line in pyproject_specs()
        if (marker := Requirement(line).marker) is None or marker.evaluate(_environment(python))
    ]
    return _pins(applies)


def conda_pip_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pip_sections = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections, f"{path} has no pip: section"
    return _pins(pip_sections[0])


def test_every_pyproject_dependency_is_pinned_exactly():
    loose = [spec for spec in pyproject_specs() if _exact(spec) is None]
    assert loose == []


def test_environment_yml_matches_pyproject_pins_on_its_python():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    [python] = [
        d.split("=", 1)[1] for d in spec["dependencies"] if isinstance(d, str) and d.startswith("python=")
    ]
    assert conda_pip_pins(ROOT / "environment.yml") == pyproject_pins(f"{python}.0")


def test_environment_yml_uses_conda_forge_without_defaults():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]


#: The Pythons the pinned set installs on (requires-python), each at its first and at a late patch release:
#: a marker may draw its line at a patch level (soupsieve's newest release needs 3.11.5).
PYTHONS = ("3.10.0", "3.10.19", "3.11.0", "3.11.14", "3.12.0", "3.12.12")


def _constraints() -> list[Requirement]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return [Requirement(line) for line in lines if line.strip() and not line.lstrip().startswith("#")]


def constraint_pins(python: str) -> dict[str, list[str]]:
    """Every constraint that applies on ``python``, by name: the versions pinned for it (one, if sound)."""
    pins: dict[str, list[str]] = {}
    for requirement in _constraints():
        if requirement.marker is None or requirement.marker.evaluate(_environment(python)):
            pins.setdefault(canonicalize_name(requirement.name), []).append(str(requirement.specifier))
    return pins


def test_every_constraint_is_an_exact_pin():
    loose = [str(r) for r in _constraints() if _exact(str(r)) is None]
    assert loose == []


@pytest.mark.parametrize("python", PYTHONS)
def test_every_constrained_package_has_exactly_one_pin_on_each_python(python):
    # A package whose lines carry markers must still be pinned once on every Python, or pip resolves it
    # freely there (e.g. tornado 6.6.1 needs 3.11: a second line pins the newest 3.10 release).
    every = {canonicalize_name(r.name) for r in _constraints()}
    pins = constraint_pins(python)
    assert sorted(every - set(pins)) == []
    assert {name: versions for name, versions in pins.items() if len(versions) != 1} == {}


@pytest.mark.parametrize("python", PYTHONS)
def test_a_pyproject_pair_of_marker_lines_pins_its_package_once_on_each_python(python):
    # A gap would let that Python resolve the package freely, an overlap would conflict. (A single line with a
    # marker, like tomli's for 3.10, pins what only those Pythons install.)
    lines: dict[str, list[Requirement]] = {}
    for spec in map(Requirement, pyproject_specs()):
        lines.setdefault(canonicalize_name(spec.name), []).append(spec)
    pairs = {name: found for name, found in lines.items() if len(found) > 1}
    assert "ipykernel" in pairs
    applying = {
        name: [r for r in found if r.marker is None or r.marker.evaluate(_environment(python))]
        for name, found in pairs.items()
    }
    assert {name: len(found) for name, found in applying.items() if len(found) != 1} == {}


@pytest.mark.parametrize("python", PYTHONS)
def test_constraints_agree_with_pyproject_pins_on_each_python(python):
    constraints = {name: versions[0].removeprefix("==") for name, versions in constraint_pins(python).items()}
    disagree = {
        n: (v, constraints.get(n)) for n, v in pyproject_pins(python).items() if constraints.get(n) != v
    }
    assert disagree == {}


def test_mlflow_stays_within_the_azureml_mlflow_cap():
    # azureml-mlflow caps MLflow (1.62.0.post6: mlflow-skinny<=3.15.0); a newer MLflow silently drags in an
    # older azureml-mlflow. The limits are read from the installed package's own requirements.
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    pins = pyproject_pins("3.10.0")
    assert (
        importlib.metadata.version("azureml-mlflow") == pins["azureml-mlflow"]
    )  # the metadata read is the pin's
    limits = {
        canonicalize_name(r.name): r.specifier
        for r in map(Requirement, importlib.metadata.requires("azureml-mlflow") or [])
        if canonicalize_name(r.name) in ("mlflow", "mlflow-skinny")
    }
    assert limits, "azureml-mlflow declares no MLflow requirement any more: check what caps it"
    for name, specifier in limits.items():
        assert Version(pins["mlflow"]) in specifier, (name, str(specifier), pins["mlflow"])
    assert constraints["mlflow-skinny"] == pins["mlflow"]
