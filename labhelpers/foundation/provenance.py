"""Provenance facts (the code commit) recorded with every training run and registered version.

MLflow does not set ``mlflow.source.git.commit`` for notebook runs, so the lab records it itself.

What counts as an uncommitted change (``git_dirty=true``): a tracked file that differs from the commit, except
the course notebooks (``notebooks/*.ipynb``). Running them writes outputs into them (JupyterLab's autosave, a
papermill run in place), and what a learner types in them is their exercise work; what a notebook hands to
training is recorded with the version anyway (parameters, features, the ``data_version`` digest of the
cleaned rows). A change to the code or data the notebooks call (``labhelpers/``, ``ML/``, ``data/``, the
pins, ...) is a change. Course outputs (``outputs/``, ``build/``, ``.mlflow/``, ...) are ignored by git, and
untracked files do not count.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from pathlib import Path

from labhelpers.foundation.config import PROJECT_ROOT, login_name

#: Set by environments without a git checkout (e.g. an Azure ML job's uploaded snapshot).
GIT_COMMIT_ENV = "LAB_GIT_COMMIT"
#: Who owns the versions a run registers (the ``owner`` version tag); default: the login name.
OWNER_ENV = "LAB_OWNER"


def default_owner() -> str:
    """The owner recorded on registered versions: ``$LAB_OWNER``, else the login name, else ``unknown``."""
    return os.environ.get(OWNER_ENV) or login_name()


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


#: Tracked files the course itself writes to when it runs (``fnmatch`` patterns, relative to the checkout).
COURSE_WRITTEN = ("notebooks/*.ipynb",)


def _is_change(relpath: str) -> bool:
    return not any(fnmatch.fnmatch(relpath, pattern) for pattern in COURSE_WRITTEN)


def git_info(path: Path | None = None) -> dict[str, str]:
    """The commit of the code and whether the work tree had uncommitted changes.

    Args:
        path: A folder inside the checkout (default: the project root).

    Returns:
        ``{"git_commit": sha or "unknown", "git_dirty": "true"/"false"/"unknown"}``; strings, because they
        become MLflow tags. ``git_dirty`` is ``true`` when a tracked file other than a course notebook
        differs from the commit (see the module doc).
    """
    if os.environ.get(GIT_COMMIT_ENV):
        return {"git_commit": os.environ[GIT_COMMIT_ENV], "git_dirty": "unknown"}
    cwd = path or PROJECT_ROOT
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if not commit:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    changed = _git("diff", "HEAD", "--name-only", "--no-renames", "-z", cwd=cwd)
    if changed is None:
        return {"git_commit": commit, "git_dirty": "unknown"}
    dirty = any(_is_change(relpath) for relpath in changed.split("\0") if relpath)
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}
