"""The pinned set has one source of truth (pyproject.toml); the other pin files must agree with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[3]
PIN = re.compile(r"^\s*([A-Za-z0-9_.\-\[\]]+)\s*==\s*([^\s;]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lines) -> dict[str, str]:
    pins = {}
    for line in lines:
        match = PIN.match(line)
        if match:
            pins[_normal(match.group(1))] = match.group(2)
    return pins


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    return _pins(lines)


def conda_pip_pins(path: Path) -> dict[str, str]:
    spec = yaml.safe_load(path.read_text())
    pip_sections = [d["pip"] for d in spec["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip_sections, f"{path} has no pip: section"
    return _pins(pip_sections[0])


def test_every_pyproject_dependency_is_pinned_exactly():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"]) + [s for e in project["optional-dependencies"].values() for s in e]
    loose = [spec for spec in specs if not PIN.match(spec)]
    assert loose == []


def test_environment_yml_matches_pyproject_pins():
    assert conda_pip_pins(ROOT / "environment.yml") == pyproject_pins()


def test_environment_yml_uses_conda_forge_without_defaults():
    spec = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert spec["channels"] == ["conda-forge", "nodefaults"]


def test_constraints_agree_with_pyproject_pins():
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    disagree = {n: (v, constraints.get(n)) for n, v in pyproject_pins().items() if constraints.get(n) != v}
    assert disagree == {}


def test_mlflow_stays_within_the_azureml_mlflow_cap():
    # azureml-mlflow 1.62.0.post6 requires mlflow-skinny<=3.15.0; a newer MLflow silently drags in 1.60.
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    pins = pyproject_pins()
    assert pins["azureml-mlflow"] == "1.62.0.post6"
    assert tuple(int(p) for p in pins["mlflow"].split(".")) <= (3, 15, 0)
    assert constraints["mlflow-skinny"] == pins["mlflow"]
