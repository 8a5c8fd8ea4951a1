"""Importing labhelpers does nothing; its public names all resolve."""

from __future__ import annotations

import subprocess
import sys

import labhelpers


def test_import_is_inert(tmp_path):
    code = (
        "import os, sys; import labhelpers; "
        "heavy = [m for m in ('mlflow', 'pandas', 'sklearn', 'azure.ai.ml') if m in sys.modules]; "
        "print(heavy, os.listdir('.'), os.environ.get('MLFLOW_TRACKING_URI'))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(labhelpers.__path__[0] + "/..")},
    )
    assert done.stdout.strip() == "[] [] None"


def test_every_public_name_resolves():
    missing = [name for name in labhelpers.__all__ if getattr(labhelpers, name, None) is None]
    assert missing == []


def test_no_submodule_shadows_a_public_name():
    # importing labhelpers.X sets the package attribute X to the module, hiding an export of that name
    from pathlib import Path

    modules = {p.stem for p in Path(labhelpers.__path__[0]).glob("*.py")}
    assert modules & set(labhelpers.__all__) == set()
