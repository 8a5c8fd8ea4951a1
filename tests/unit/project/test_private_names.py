"""Each module keeps its private parts: no module imports or reaches into another module's ``_name``.

What one room offers another is a public, documented name where it lives (see each subpackage's docstring).
The rule holds for the product (``labhelpers/``, ``ML/``), the benchmarks and the tests alike: a test that
needs a private helper tests the public function that uses it instead.
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


def reaches_into_privates(path: Path, root: Path = ROOT) -> list[str]:
    """Every place in ``path`` that imports or reads another labhelpers module's private name."""
    here = _module_of(path, root)
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    modules: dict[str, str] = {}  # local alias -> labhelpers module it names
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("labhelpers"):
                    modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom):
            source = _imported_from(node, here, path.name == "__init__.py")
            if not source.startswith("labhelpers") or source == here:
                continue
            for alias in node.names:
                if _private(alias.name):
                    found.append(f"{path.relative_to(root)}:{node.lineno}: from {source} import {alias.name}")
                else:
                    modules[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in modules and modules[owner.id] != here:
                found.append(f"{path.relative_to(root)}:{node.lineno}: {modules[owner.id]}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    found = [
        hit
        for tree in TREES
        for path in sorted((ROOT / tree).rglob("*.py"))
        for hit in reaches_into_privates(path)
    ]
    assert not found, (
        "private names used outside their module (make them public and documented):\n" + "\n".join(found)
    )


def test_the_check_sees_both_kinds_of_reach(tmp_path):
    sample = tmp_path / "labhelpers" / "serving" / "inference.py"
    sample.parent.mkdir(parents=True)
    sample.write_text(
        "from labhelpers.server.processes import _terminate_group, group_alive\n"
        "from labhelpers.serving import scoring\n"
        "from . import scoring as s\n"
        "scoring._launch()\ns._ready()\ngroup_alive()\n"
    )
    hits = reaches_into_privates(sample, root=tmp_path)
    assert [hit.split(": ", 1)[1] for hit in hits] == [
        "from labhelpers.server.processes import _terminate_group",
        "labhelpers.serving.scoring._launch",
        "labhelpers.serving.scoring._ready",
    ]


if __name__ == "__main__":  # `make lint` runs this file as a script, beside ruff, import-linter and mypy
    import sys

    paths = [path for tree in TREES for path in sorted((ROOT / tree).rglob("*.py"))]
    hits = [hit for path in paths for hit in reaches_into_privates(path)]
    print("\n".join(hits) or "private names: no module reaches into another's")
    sys.exit(1 if hits else 0)
