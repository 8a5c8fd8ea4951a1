"""Process groups: whether one still holds a live MLflow process, waiting, and terminating it as a whole.

Shared by :mod:`labhelpers.server.local` (the tracking server) and :mod:`labhelpers.serving.scoring`
(scoring servers), which both start their process in its own session and so lead its process
group. POSIX only.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from labhelpers.core.errors import ServerError

# Popen objects of servers this process started, so stop() and status() can reap them (no zombies).
_SPAWNED: dict[int, subprocess.Popen] = {}


def _linux_group(pgid: int) -> list[bytes]:
    """Command lines of the group's live (not zombie) processes, read from Linux's /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if entry.name.isdigit() and int(fields[2]) == pgid and fields[0] != "Z":
                found.append((entry / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue  # not a process, or it ended while we looked
    return found


def _group_alive(pgid: int) -> bool:
    """True while a live MLflow process is left in the process group our server leads.

    The group, not just its leader: a ``kill -9`` of ``mlflow server`` leaves its uvicorn child serving.
    On Linux the command lines are checked too, so a recycled pid in a stale pid file is never taken for ours.
    """
    if pgid in _SPAWNED:
        _SPAWNED[pgid].poll()  # reap our own child, or it lingers as a zombie
    if Path("/proc/self/stat").exists():
        return any(b"mlflow" in cmdline for cmdline in _linux_group(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def _terminate_group(pgid: int, timeout: float) -> None:
    """SIGTERM the whole process group (uvicorn and any children too), then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        if _wait_until(lambda: not _group_alive(pgid), wait):
            break
    else:
        raise ServerError(f"Process group {pgid} survived SIGKILL; check it with `ps -g {pgid}`.")
    spawned = _SPAWNED.pop(pgid, None)
    if spawned is not None:
        spawned.wait(timeout=5)
