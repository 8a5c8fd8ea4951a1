"""Provenance facts (the code commit) recorded with every training run and registered version.

MLflow does not set ``mlflow.source.git.commit`` for notebook runs, so the lab records it itself.
"""

from __future__ import annotations

import getpass
import os
import subprocess
from pathlib import Path

from labhelpers.core.config import PROJECT_ROOT

#: Set by environments without a git checkout (e.g. an Azure ML job's uploaded snapshot).
GIT_COMMIT_ENV = "LAB_GIT_COMMIT"
#: Who owns the versions a run registers (the ``owner`` version tag); default: the login name.
OWNER_ENV = "LAB_OWNER"


def default_owner() -> str:
    """The owner recorded on registered versions: ``$LAB_OWNER``, else the login name, else ``unknown``."""
    try:
        return os.environ.get(OWNER_ENV) or getpass.getuser()
    except Exception:  # no login name (some containers run with a bare uid)
        return "unknown"


def _git(*args: str, cwd: Path) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_info(path: Path | None = None) -> dict[str, str]:
    """The commit of the code and whether the work tree had uncommitted changes.

    Args:
        path: A folder inside the checkout (default: the project root).

    Returns:
        ``{"git_commit": sha or "unknown", "git_dirty": "true"/"false"/"unknown"}``; strings, because they
        become MLflow tags.
    """
    if os.environ.get(GIT_COMMIT_ENV):
        return {"git_commit": os.environ[GIT_COMMIT_ENV], "git_dirty": "unknown"}
    cwd = path or PROJECT_ROOT
    commit = _git("rev-parse", "HEAD", cwd=cwd)
    if not commit:
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    status = _git("status", "--porcelain", "--untracked-files=no", cwd=cwd)
    dirty = "unknown" if status is None else str(bool(status)).lower()
    return {"git_commit": commit, "git_dirty": dirty}
