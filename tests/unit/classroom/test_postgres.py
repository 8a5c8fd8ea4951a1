"""The classroom's PostgreSQL cluster as labhelpers sees it from its pid file (no server started here)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from labhelpers.classroom import postgres

pytestmark = pytest.mark.unit


def _cluster(tmp_path, pid: int) -> postgres.Cluster:
    cluster = postgres.Cluster(tmp_path, 5999, tmp_path / "bin", None)
    cluster.data.mkdir(parents=True)
    (cluster.data / "postmaster.pid").write_text(f"{pid}\n{cluster.data}\n")
    return cluster


def test_a_live_postmaster_is_running(tmp_path):
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        try:
            assert postgres.postmaster_pid(_cluster(tmp_path, child.pid)) == child.pid
        finally:
            child.kill()


def test_a_killed_postmaster_not_yet_reaped_is_not_running(tmp_path):
    """After a SIGKILL its zombie keeps the pid until reaped: start() must start the cluster again."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.05)
        assert psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE  # killed, not reaped
        assert postgres.postmaster_pid(_cluster(tmp_path, child.pid)) is None
    finally:
        child.wait()


def test_a_pid_file_whose_process_is_gone_is_not_running(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert postgres.postmaster_pid(_cluster(tmp_path, child.pid)) is None
