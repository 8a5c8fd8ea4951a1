"""The tracking server's state folder: its file layout, the pid file and server.json, its lock and its log.

See :mod:`labhelpers.server.local` for what each file holds.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from labhelpers.server.processes import _group_alive

LOG_TAIL_LINES = 20


class _Paths(NamedTuple):
    root: Path
    db: Path
    artifacts: Path
    pid: Path
    record: Path
    log: Path


def _paths(root: Path) -> _Paths:
    names = ("mlflow.db", "artifacts", "server.pid", "server.json", "server.log")
    return _Paths(root, *(root / name for name in names))


def _read_record(paths: _Paths) -> dict | None:
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


def _forget(paths: _Paths) -> None:
    for path in (paths.pid, paths.record):
        path.unlink(missing_ok=True)


def _running_record(paths: _Paths) -> dict | None:
    """The record of our live server, or None; a stale pid file (process gone) is removed."""
    record = _read_record(paths)
    if record is None:
        if paths.record.exists():
            _forget(paths)
        return None
    if _group_alive(record["pid"]):
        return record
    _forget(paths)
    return None


@contextlib.contextmanager
def _locked(paths: _Paths) -> Iterator[None]:
    """Serialise start/stop calls on one state folder (two notebooks starting the server at once)."""
    import fcntl  # POSIX only, like the rest of this module

    with open(paths.root / "server.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _log_tail(paths: _Paths, lines: int = LOG_TAIL_LINES) -> str:
    try:
        tail = paths.log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return "(no log written)"
    return "\n".join(tail) or "(log is empty)"
