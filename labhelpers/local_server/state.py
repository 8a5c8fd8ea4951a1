"""The tracking server's state folder: its file layout, the pid file and server.json, its lock and its log.

See :mod:`labhelpers.local_server.control` for what each file holds; that module is the one user of the public
names here (:class:`Paths`, :func:`state_paths`, :func:`locked`, :func:`running_record`, :func:`forget`,
:func:`check_stores`, :func:`database_problem`, :func:`startup_failure`). Before a start,
:func:`check_stores` asks SQLite itself (the standard library's sqlite3, ``PRAGMA quick_check``) whether the
database is sound and walks the artifact tree with ``os.access``: MLflow offers no such check, it only fails
later with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from labhelpers.foundation.errors import ServerError
from labhelpers.processes.groups import group_alive

LOG_TAIL_LINES = 20


class Paths(NamedTuple):
    """The files of one state folder (see :func:`state_paths`)."""

    root: Path
    db: Path
    artifacts: Path
    pid: Path
    record: Path
    log: Path


def state_paths(root: Path) -> Paths:
    """The layout of the state folder ``root``: database, artifacts, pid file, server.json, log."""
    names = ("mlflow.db", "artifacts", "server.pid", "server.json", "server.log")
    return Paths(root, *(root / name for name in names))


def _read_record(paths: Paths) -> dict | None:
    """The pid file plus server.json, or None when there is no (readable) pid file."""
    try:
        pid = int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        record = json.loads(paths.record.read_text())
    except (OSError, ValueError):
        record = {}
    return {**record, "pid": pid}


def forget(paths: Paths) -> None:
    """Remove the pid file and server.json (the server they describe is gone)."""
    for path in (paths.pid, paths.record):
        path.unlink(missing_ok=True)


def running_record(paths: Paths) -> dict | None:
    """The record of our live server, or None; a stale pid file (process gone or pid reused) is removed."""
    record = _read_record(paths)
    if record is None:
        if paths.record.exists():
            forget(paths)
        return None
    if group_alive(record["pid"], record.get("created")):
        return record
    forget(paths)
    return None


@contextlib.contextmanager
def locked(paths: Paths) -> Iterator[None]:
    """Serialise start/stop calls on one state folder (two notebooks starting the server at once).

    An exclusive lock on ``server.lock`` (filelock's ``FileLock``: released when the block ends, and by the
    system when the process dies); a second holder waits.
    """
    from filelock import FileLock

    with FileLock(paths.root / "server.lock"):
        yield


def _log_tail(paths: Paths, lines: int = LOG_TAIL_LINES) -> str:
    try:
        tail = paths.log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log written)"
    return "\n".join(tail) or "(log is empty)"


def database_problem(db: Path) -> str | None:
    """What SQLite finds wrong with the database file, or None when it is sound (or not created yet)."""
    if not db.exists():
        return None
    if not db.is_file():
        return "it is not a file"
    try:
        # Not read-only: a read-only connection refuses a database whose crashed server left a journal
        # behind; a normal one rolls it back, as the server's first connection would. quick_check writes
        # nothing.
        with contextlib.closing(sqlite3.connect(db)) as connection:
            verdict = connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        return f"SQLite says: {error}"
    return None if verdict == "ok" else f"SQLite's quick_check says: {verdict}"


def check_stores(paths: Paths) -> None:
    """Refuse to start on a damaged database or an unusable artifact folder, before the server is spawned.

    Without this, MLflow dies at startup with a long SQLAlchemy traceback. Neither file is changed: what is
    registered stays there for a backup, a repair or a look.

    Raises:
        ServerError: One message naming the file and the way out.
    """
    problem = database_problem(paths.db)
    if problem is not None:
        raise ServerError(
            f"The local registry database {paths.db} is damaged ({problem}), so the MLflow server cannot "
            "start; the file was left as it is. To keep what it holds, restore it from a backup or try "
            f"`sqlite3 {paths.db} .recover > recovered.sql`. To start with an empty registry instead, move "
            f"it aside (`mv {paths.db} {paths.db}.damaged`) and start the server again; the artifacts in "
            f"{paths.artifacts} stay where they are."
        )
    artifacts = paths.artifacts
    if artifacts.exists() and not artifacts.is_dir():
        raise ServerError(
            f"The artifact folder {artifacts} of the local server is not a folder, so no model could be "
            f"stored or read. Move it aside (`mv {artifacts} {artifacts}.aside`) and start the server again."
        )
    blocked = _first_unusable(artifacts) if artifacts.is_dir() else None
    if blocked is not None:
        raise ServerError(
            f"{blocked} in the artifact folder of the local server cannot be read and written by this "
            "user, so registered models could not be stored or loaded. Give it back "
            f"(`chmod -R u+rwX {artifacts}`, or `sudo chown -R $USER {artifacts}`, e.g. after a server "
            "started with sudo) and start the server again; nothing in it was changed."
        )


def _first_unusable(folder: Path) -> Path | None:
    """The first path under ``folder`` (itself included) this user cannot use, or None.

    Folders need read, write and enter; files need read. A lab's artifact tree is small, so walking it
    before each start is cheap.
    """
    folders = os.R_OK | os.W_OK | os.X_OK
    if not os.access(folder, folders):
        return folder
    for root, dirs, files in os.walk(folder):
        for name in dirs:
            if not os.access(os.path.join(root, name), folders):
                return Path(root, name)
        for name in files:
            if not os.access(os.path.join(root, name), os.R_OK):
                return Path(root, name)
    return None


_SCHEMA = re.compile(r"Detected out-of-date database schema \(found version (\S*), but expected (\S+)\)")
_UNKNOWN_REVISION = re.compile(r"Can't locate revision identified by '([^']*)'")


def startup_failure(paths: Paths, what: str) -> str:
    """Why a server did not come up: a known cause's one message, else ``what`` and the log's last lines."""
    return _known_failure(paths) or f"{what}. Last lines of {paths.log}:\n{_log_tail(paths)}"


def _known_failure(paths: Paths) -> str | None:
    """One message for a startup failure whose cause the server log names, or None.

    The causes known: a database whose schema another MLflow version wrote, older (MLflow asks for a
    migration) or unknown to this one (a newer MLflow wrote it). MLflow prints either mid-traceback.
    """
    try:
        log = paths.log.read_text(errors="replace")
    except OSError:
        return None
    backup = f"Back it up (`cp {paths.db} {paths.db}.bak`)"
    if found := _SCHEMA.search(log):  # MLflow checked the version and changed nothing
        return (
            f"The local registry database {paths.db} has schema {found[1]}, but this MLflow expects "
            f"{found[2]}: another MLflow version wrote it. The file was left as it is. {backup}, then "
            "migrate it with "
            f"`{sys.executable} -m mlflow db upgrade sqlite:///{paths.db}` and start the server again (or "
            "use the MLflow version that wrote it)."
        )
    if found := _UNKNOWN_REVISION.search(log):
        return (
            f"The local registry database {paths.db} has schema {found[1]}, which this MLflow does not "
            f"know: a newer MLflow (or another program) wrote it. {backup}, then use the MLflow version that "
            f"wrote it, or move it aside (`mv {paths.db} {paths.db}.other`) to start with an empty registry."
        )
    return None
