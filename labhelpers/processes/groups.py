"""Process groups: whether one still holds our live MLflow process, waiting, and terminating it as a whole.

Shared by :mod:`labhelpers.local_server.control` (the tracking server), :mod:`labhelpers.serving` (scoring and
inference servers) and :mod:`labhelpers.classroom.stack`, which all start their process in its own session
and so lead its process group. Their public names: :data:`SPAWNED`, :func:`created_at`, :func:`group_alive`,
:func:`wait_until`, :func:`terminate_group`.
psutil does the process table portably (Linux, macOS, WSL); only the group id itself comes from
``os.getpgid``, which psutil does not expose.

A pid file can outlive its server, and the pid in it can be reused by an unrelated program. The group is
taken for ours only when it still looks like the one we started:

- its leader (pid == group id) is alive with the creation time recorded when we started it; or
- its leader is gone and members remain (a ``kill -9`` of ``mlflow server`` leaves uvicorn serving). The
  kernel never hands out a pid that is still some group's id, so these members are the original group's.

Either way a member must have ``mlflow`` in its command line (another marker where the server is not MLflow's,
e.g. the Azure ML inference server), except our own leader while it is still our unreaped child: its command
line may not show the program yet while exec is under way. Signals go to those verified processes one by one
through psutil, which refuses to signal a pid that was reused in the meantime; never to a bare group id.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable

import psutil

from labhelpers.foundation.errors import ServerError

#: Popen objects of the servers this process started, by pid (= process group id). Whoever spawns a server
#: (server.local, serving, classroom) records it here, so :func:`terminate_group` and a status check can reap
#: it (no zombies) and :func:`group_alive` knows our unreaped child before its command line names the program.
SPAWNED: dict[int, subprocess.Popen] = {}
#: Seconds two readings of one process's creation time may differ (clock ticks, boot-time rounding).
CREATED_TOLERANCE = 1.0


def created_at(pid: int) -> float | None:
    """The creation time of process ``pid`` (seconds since the epoch), or None when it is gone."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


#: What the command line of a process of ours holds, unless told otherwise.
MLFLOW = "mlflow"


def _is_ours(process: psutil.Process, marker: str = MLFLOW) -> bool:
    """True for a live (not zombie) process whose command line holds ``marker``, or shows none at all.

    A process of the group that shows no command line is exiting: its memory is being freed (about 0.4 s for a
    process of 4 GB) before it turns zombie. It is still ours until then, so a stop waits for it.
    """
    try:
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        command = process.cmdline()
        return not command or any(marker in part for part in command)
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def _in_group(process: psutil.Process, pgid: int) -> bool:
    try:
        return os.getpgid(process.pid) == pgid
    except OSError:  # ended while we looked
        return False


def _members(pgid: int, created: float | None = None, marker: str = MLFLOW) -> list[psutil.Process]:
    """Our live MLflow processes in group ``pgid``; empty when the group is gone or is not the one we started.

    Args:
        pgid: The group id, i.e. the pid of the process we started in its own session.
        created: Its creation time as recorded at start; None (a record older than this check) falls back
            to the command-line test alone.
        marker: What a member's command line holds.
    """
    # Our own child, not yet reaped, is ours whatever its command line says: while its exec is under way (long
    # on a loaded machine) it may show none yet, and without this a server only starting looked dead.
    own_leader = pgid in SPAWNED and SPAWNED[pgid].poll() is None  # poll() also reaps it once it ended
    leader_created = created_at(pgid)
    if (
        leader_created is not None
        and created is not None
        and abs(leader_created - created) > CREATED_TOLERANCE
    ):
        return []  # the pid was reused by another program: not our server
    group = [p for p in psutil.process_iter() if _in_group(p, pgid)]
    ours = {p.pid for p in group if (own_leader and p.pid == pgid) or _is_ours(p, marker)}
    # the children a server of ours forked or spawned (uvicorn's workers run as multiprocessing spawns,
    # whose command line names no server) are ours too: signalled with their parent, never left behind it
    grew = True
    while grew:
        children = {p.pid for p in group if p.pid not in ours and _parent(p) in ours}
        ours |= children
        grew = bool(children)
    return [p for p in group if p.pid in ours]


def _parent(process: psutil.Process) -> int | None:
    try:
        return process.ppid()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def group_alive(pgid: int, created: float | None = None, marker: str = MLFLOW) -> bool:
    """True while a live process of ours is left in the process group our server leads (see the module)."""
    return bool(_members(pgid, created, marker))


#: The most one round of :func:`wait_until` counts against its timeout. A round is a probe (a few seconds
#: at most, even on a loaded machine) and a short sleep; a longer one means the machine itself was paused (a
#: laptop suspended, a virtual machine stopped or snapshotted). The awaited process could not run in that
#: time either, so it is not counted: a server that was paused while starting is not reported as hung.
MAX_ROUND_SECONDS = 30.0


class _Counted:
    """The stop rule of :func:`wait_until`: rounds so far, each counted up to MAX_ROUND_SECONDS."""

    def __init__(self, timeout: float) -> None:
        self.timeout, self.waited, self.last = timeout, 0.0, time.monotonic()

    def __call__(self, state: object) -> bool:
        now = time.monotonic()
        self.waited += min(now - self.last, MAX_ROUND_SECONDS)
        self.last = now
        return self.waited >= self.timeout


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll ``condition`` every ``interval`` seconds until it holds (True) or ``timeout`` seconds passed."""
    import tenacity

    polling = tenacity.Retrying(
        retry=tenacity.retry_if_result(lambda held: not held),
        stop=_Counted(timeout),
        wait=tenacity.wait_fixed(interval),
        sleep=lambda seconds: time.sleep(seconds),  # looked up at each call: tests replace the clock
        retry_error_callback=lambda state: False,
    )
    return bool(polling(condition))


def terminate_group(pgid: int, timeout: float, created: float | None = None, marker: str = MLFLOW) -> None:
    """SIGTERM our processes in the group (uvicorn and any children too), then SIGKILL what is left.

    Raises:
        ServerError: A process survived SIGKILL.
    """
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        for process in _members(pgid, created, marker):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                process.send_signal(sig)  # psutil checks the pid was not reused since it was listed
        if wait_until(lambda: not group_alive(pgid, created, marker), wait):
            break
    else:
        raise ServerError(f"Process group {pgid} survived SIGKILL; check it with `ps -g {pgid}`.")
    spawned = SPAWNED.pop(pgid, None)
    if spawned is not None:
        spawned.wait(timeout=5)
