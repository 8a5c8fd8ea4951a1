"""Each module keeps its private parts: no module imports another module's ``_name``.

What one room offers another is a public, documented name where it lives (see each subpackage's docstring).
ruff keeps most of this wall (``[tool.ruff.lint]`` in pyproject.toml): SLF001 refuses ``module._name`` and
``obj._attr`` of another object anywhere, PLC2701 a private name imported from another package. PLC2701
exempts by design an import within one package (``from labhelpers.x import _y`` or ``from .x import _y``
inside labhelpers) and a private name used only in annotations; this check closes exactly that gap, for the
product (``labhelpers/``, ``ML/``), the benchmarks and the tests alike.
"""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
TREES = ("labhelpers", "ML", "bench", "tests")


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported_from(node: ast.ImportFrom, here: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = here.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of_privates(path: Path, root: Path = ROOT) -> list[str]:
    """Every ``from <another labhelpers module> import _name`` in ``path``, relative imports included."""
    here = _module_of(path, root)
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        source = _imported_from(node, here, path.name == "__init__.py")
        if not source.startswith("labhelpers") or source == here:
            continue
        found += [
            f"{path.relative_to(root)}:{node.lineno}: from {source} import {alias.name}"
            for alias in node.names
            if _private(alias.name)
        ]
    return found


def test_no_module_imports_another_modules_private_names():
    found = [
        hit
        for tree in TREES
        for path in sorted((ROOT / tree).rglob("*.py"))
        for hit in imports_of_privates(path)
    ]
    assert not found, (
        "private names imported from another module (make them public and documented):\n" + "\n".join(found)
    )


def test_the_check_sees_absolute_and_relative_imports_and_leaves_the_rest_to_ruff(tmp_path):
    sample = tmp_path / "labhelpers" / "serving" / "inference.py"
    sample.parent.mkdir(parents=True)
    sample.write_text(
        "from labhelpers.processes.groups import _terminate_group, group_alive\n"
        "from .scoring import _launch\n"
        "from . import _ready\n"
        "from ._internal import helper\n"  # a private module's public name: PLC2701's and SLF001's to judge
        "from labhelpers.serving import scoring\n"
        "scoring._launch()\n"  # SLF001's
    )
    hits = imports_of_privates(sample, root=tmp_path)
    assert [hit.split(": ", 1)[1] for hit in hits] == [
        "from labhelpers.processes.groups import _terminate_group",
        "from labhelpers.serving.scoring import _launch",
        "from labhelpers.serving import _ready",
    ]


if __name__ == "__main__":  # `make lint` runs this file as a script, beside ruff, import-linter and mypy
    import sys

    paths = [path for tree in TREES for path in sorted((ROOT / tree).rglob("*.py"))]
    hits = [hit for path in paths for hit in imports_of_privates(path)]
    print("\n".join(hits) or "private names: no module imports another's")
    sys.exit(1 if hits else 0)
