"""Process groups: ours are found and stopped whole; a reused pid from a stale record is never signalled.

Stand-in processes (``python -c ... mlflow-stand-in``) play the server: no MLflow server is started.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from labhelpers.processes import groups as processes

# A leader that starts one child in its group, then both sleep; "mlflow" in argv marks them as a server.
LEADER = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', 'mlflow-stand-in-child']); "
    "time.sleep(120)"
)


def _spawn(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", *argv], start_new_session=True)


@pytest.fixture
def stand_in(process_group) -> Iterator[subprocess.Popen]:
    """A process group of two stand-in MLflow processes, killed afterwards whatever the test did."""
    leader = _spawn(LEADER, "mlflow-stand-in")
    assert processes.wait_until(lambda: len(process_group(leader.pid)) == 2, 20)
    yield leader
    for process in process_group(leader.pid):
        process.kill()
    leader.wait(10)


def test_our_group_is_alive_and_is_stopped_children_included(
    stand_in: subprocess.Popen, process_group
) -> None:
    created = processes.created_at(stand_in.pid)
    assert created is not None
    processes.SPAWNED[stand_in.pid] = stand_in

    assert processes.group_alive(stand_in.pid, created)
    processes.terminate_group(stand_in.pid, 10.0, created)

    assert process_group(stand_in.pid) == []
    assert not processes.group_alive(stand_in.pid, created)
    assert stand_in.pid not in processes.SPAWNED


def test_a_leader_we_spawned_is_alive_before_its_command_line_names_mlflow() -> None:
    # Between fork and exec a new server shows the starter's command line; it must not look dead then.
    code = "import sys, time; sys.stdout.write('ready\\n'); sys.stdout.flush(); time.sleep(120)"
    leader = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert leader.stdout is not None
        assert leader.stdout.readline() == "ready\n"
        created = processes.created_at(leader.pid)
        assert not processes.group_alive(leader.pid, created)  # not ours: no mlflow in its command line
        processes.SPAWNED[leader.pid] = leader
        assert processes.group_alive(leader.pid, created)  # ours: we spawned it and it runs

        processes.terminate_group(leader.pid, 5.0, created)

        assert leader.returncode is not None  # stopped and reaped, no TimeoutExpired from the final wait
        assert leader.pid not in processes.SPAWNED
    finally:
        processes.SPAWNED.pop(leader.pid, None)
        if leader.poll() is None:
            leader.kill()
            leader.wait(10)
        assert leader.stdout is not None
        leader.stdout.close()


def test_a_reused_pid_is_not_taken_for_our_server_and_is_left_running(
    stand_in: subprocess.Popen, process_group
) -> None:
    # The record says the server started an hour before the process now holding that pid.
    created = processes.created_at(stand_in.pid)
    assert created is not None
    stale = created - 3600

    assert not processes.group_alive(stand_in.pid, stale)
    processes.terminate_group(stand_in.pid, 1.0, stale)  # nothing of ours left: returns at once

    assert len(process_group(stand_in.pid)) == 2
    assert stand_in.poll() is None


# A leader whose child names no server: uvicorn's workers run as multiprocessing spawns, and their command
# line is Python's own (`-c "from multiprocessing.spawn import spawn_main..."`).
ANONYMOUS_CHILD = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', 'spawn-main']); "
    "time.sleep(120)"
)


def test_a_child_whose_command_line_names_no_server_is_stopped_with_its_server(process_group) -> None:
    leader = _spawn(ANONYMOUS_CHILD, "mlflow-stand-in")
    try:
        assert processes.wait_until(lambda: len(process_group(leader.pid)) == 2, 20)
        processes.SPAWNED[leader.pid] = leader
        created = processes.created_at(leader.pid)
        processes.terminate_group(leader.pid, 10.0, created)
        assert processes.wait_until(lambda: process_group(leader.pid) == [], 10), process_group(leader.pid)
    finally:
        for process in process_group(leader.pid):
            process.kill()


def test_a_group_without_mlflow_is_not_ours() -> None:
    other = _spawn("import time; time.sleep(120)", "some-other-program")
    try:
        created = processes.created_at(other.pid)
        assert created is not None
        assert not processes.group_alive(other.pid, created)
        processes.terminate_group(other.pid, 1.0, created)
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(10)


def test_members_left_by_a_killed_leader_are_still_ours(stand_in: subprocess.Popen, process_group) -> None:
    created = processes.created_at(stand_in.pid)
    stand_in.kill()  # like `kill -9` of `mlflow server`: its child keeps running in the group
    stand_in.wait(10)

    assert processes.created_at(stand_in.pid) is None
    assert processes.group_alive(stand_in.pid, created)
    processes.terminate_group(stand_in.pid, 10.0, created)
    # The orphaned child belongs to init now, which reaps it in its own time: SIGKILLed, it is at most
    # still exiting (its command line already gone), never running on.
    assert processes.wait_until(lambda: process_group(stand_in.pid) == [], 10), process_group(stand_in.pid)


def test_a_process_that_ignores_sigterm_gets_sigkill() -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(120)"
    )
    stubborn = subprocess.Popen(
        [sys.executable, "-c", code, "mlflow-stubborn"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert stubborn.stdout is not None
    assert stubborn.stdout.readline() == "ready\n"  # SIGTERM is ignored from here on
    processes.SPAWNED[stubborn.pid] = stubborn
    created = processes.created_at(stubborn.pid)

    processes.terminate_group(stubborn.pid, 0.5, created)

    assert stubborn.returncode == -9
    assert stubborn.stdout is not None
    stubborn.stdout.close()


def test_created_at_of_a_finished_process_is_none() -> None:
    finished = _spawn("pass")
    finished.wait(10)
    assert processes.created_at(finished.pid) is None


def test_a_stale_pid_file_naming_a_reused_pid_is_dropped_and_that_process_left_alone(
    stand_in: subprocess.Popen, tmp_path, free_port, capsys, process_group
) -> None:
    import json

    from labhelpers.local_server import control as local

    port = free_port()
    for ask in (lambda: local.status(port, tmp_path).running, lambda: local.stop(port, tmp_path)):
        # The pid file of a server that died long ago; its pid now belongs to another "mlflow" program.
        (tmp_path / "server.pid").write_text(f"{stand_in.pid}\n")
        created = processes.created_at(stand_in.pid)
        assert created is not None
        record = {"pid": stand_in.pid, "port": port, "created": created - 3600}
        (tmp_path / "server.json").write_text(json.dumps(record))

        assert ask() is False

        assert not (tmp_path / "server.pid").exists() and not (tmp_path / "server.json").exists()
        assert stand_in.poll() is None and len(process_group(stand_in.pid)) == 2
    assert "No local MLflow server was running" in capsys.readouterr().out


class _PausedClock:
    """time.monotonic and time.sleep for processes: each sleep advances the clock, one by a long pause."""

    def __init__(self, pause_at: int, pause: float):
        self.now, self.sleeps, self.pause_at, self.pause = 1000.0, 0, pause_at, pause

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds + (self.pause if self.sleeps == self.pause_at else 0.0)


def test_a_pause_of_the_machine_does_not_count_against_the_wait(monkeypatch) -> None:
    clock = _PausedClock(pause_at=3, pause=3600.0)  # the machine stops for an hour at the third sleep
    monkeypatch.setattr(processes, "time", clock)

    ready_after = 50  # rounds of 1 s: the process needs 50 s of running time
    assert processes.wait_until(lambda: clock.sleeps >= ready_after, timeout=90, interval=1.0)
    assert clock.sleeps == ready_after


def test_the_wait_still_times_out_when_the_condition_never_holds(monkeypatch) -> None:
    clock = _PausedClock(pause_at=3, pause=3600.0)
    monkeypatch.setattr(processes, "time", clock)

    assert not processes.wait_until(lambda: False, timeout=90, interval=1.0)
    # 90 s of waiting: 89 plain rounds of 1 s and the paused round counted as at most MAX_ROUND_SECONDS
    assert 90 - processes.MAX_ROUND_SECONDS <= clock.sleeps <= 90


def test_a_stop_waits_until_a_large_process_has_finished_exiting(process_group) -> None:
    # Exiting, a process first frees its memory (0.2 s or more for 2 GB), showing no command line while its
    # state still reads "running"; only then it turns zombie. A stop that returned in that window left the
    # server's port and memory held (seen in CI right after `labhelpers server stop`).
    code = "import time; block = b'x' * (2 << 30); print('ready', flush=True); time.sleep(120)"
    large = subprocess.Popen(
        [sys.executable, "-c", code, "mlflow-stand-in"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert large.stdout is not None
        assert large.stdout.readline() == "ready\n"
        created = processes.created_at(large.pid)  # not in SPAWNED: stopped like another process's server

        processes.terminate_group(large.pid, 10.0, created)

        assert process_group(large.pid) == []  # a zombie at most, waiting for us to reap it
    finally:
        large.kill()
        large.wait(10)
        assert large.stdout is not None
        large.stdout.close()
