"""tools/warm_bytecode.py: it records what was imported, and compiles what is listed and there."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def warm(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))  # importable by name: its workers unpickle by name
    return importlib.import_module("warm_bytecode")


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site-packages"
    for name in ("pkg/__init__.py", "pkg/used.py", "pkg/unused.py"):
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text("VALUE = 1\n")
    return site


def test_it_records_the_sources_that_have_bytecode_and_compiles_only_those_listed_and_present(warm, tmp_path):
    site = _site(tmp_path)
    for name in ("pkg/__init__.py", "pkg/used.py"):  # what a course run imported
        warm.compile_sources([site / name], workers=1)
    assert warm.recorded(site) == ["pkg/__init__.py", "pkg/used.py"]

    fresh = _site(tmp_path / "fresh")
    listing = tmp_path / "list.txt"
    listing.write_text("pkg/used.py\npkg/gone.py\n")  # a file the pins no longer bring is skipped
    sources = warm.listed_sources(fresh, listing)
    assert sources[0] == fresh / "pkg" / "used.py" and fresh / "pkg" / "gone.py" not in sources
    assert all(path.is_relative_to(ROOT / "labhelpers") for path in sources[1:])  # and this repository's own
    warm.compile_sources(sources[:1], workers=2)
    assert warm.recorded(fresh) == ["pkg/used.py"]
