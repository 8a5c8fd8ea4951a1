"""Every repository path and every ``labhelpers`` name the docs and the notebooks' text mention exists.

A room renamed or a file moved leaves its old name behind in prose that no import checks: a learner who
follows README, docs/ or a notebook's markdown to a file that is gone is lost.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TOP = "labhelpers|ML|notebooks|tests|docs|data|bench|tools|\\.ci"
# `ML/deployment/score.py`, `labhelpers/foundation/config.py`; not a URL's path, not a fragment of a longer
# path
PATH = re.compile(rf"(?<![\w./:-])((?:{TOP})/[\w./*-]*[\w*])")
NAME = re.compile(r"\blabhelpers(?:\.\w+)+")


def _texts() -> dict[str, str]:
    texts = {path.name: path.read_text() for path in [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]}
    for notebook in sorted(ROOT.glob("notebooks/*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        texts[notebook.name] = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return texts


TEXTS = _texts()


def _exists(name: str) -> bool:
    """``labhelpers.a.b.c``: the longest importable module prefix, then attributes for the rest."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(found, attribute):
                return False
            found = getattr(found, attribute)
        return True
    return False


@pytest.mark.parametrize("document", sorted(TEXTS))
def test_every_path_a_document_names_exists(document):
    named = set(PATH.findall(TEXTS[document]))
    missing = sorted(path for path in named if not any(ROOT.glob(path.rstrip("/"))))
    assert not missing, f"{document} names paths that do not exist: {missing}"


@pytest.mark.parametrize("document", sorted(TEXTS))
def test_every_labhelpers_name_a_document_uses_exists(document):
    missing = sorted(name for name in set(NAME.findall(TEXTS[document])) if not _exists(name))
    assert not missing, f"{document} names what labhelpers does not have: {missing}"


def test_the_checks_find_a_stale_path_and_a_stale_name():
    assert PATH.findall("see `labhelpers/gone/away.py` and ML/train_*.py") == [
        "labhelpers/gone/away.py",
        "ML/train_*.py",
    ]
    assert not any(ROOT.glob("labhelpers/gone/away.py")) and any(ROOT.glob("ML/train_*.py"))
    assert not _exists("labhelpers.local_server.no_such_module")
    assert not _exists("labhelpers.promote.no_attribute")
    assert _exists("labhelpers.promote") and _exists("labhelpers.foundation.config.endpoint_name")
