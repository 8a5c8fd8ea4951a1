"""`course run --start-server`: what stops the server's start stops the run before notebook 01 trains."""

from __future__ import annotations

import socket

import pytest

from labhelpers.cli import main
from labhelpers.course import run as course
from labhelpers.foundation import config


def test_a_port_held_by_something_else_stops_the_run_before_any_notebook(tmp_path, monkeypatch, capsys):
    executed = []
    monkeypatch.setattr(course, "run_notebook", lambda source, *args, **kwargs: executed.append(source.name))
    with socket.socket() as holder:
        holder.bind((config.HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv(config.PORT_ENV, str(port))
        monkeypatch.setenv(config.STATE_DIR_ENV, str(tmp_path / "state"))

        status = main(["course", "run", "--start-server", "--output-dir", str(tmp_path / "out")])

    assert status == 2
    assert (
        f"Port {port} on {config.HOST} is in use by something else (another process"
        in capsys.readouterr().err
    )
    assert executed == []
    assert not (tmp_path / "out").exists()


@pytest.fixture(autouse=True)
def _no_kernels(monkeypatch):
    """No Jupyter kernel is started: the run must stop before it needs one."""

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel was started before the server's checks")

    monkeypatch.setattr(course, "AheadKernel", refuse)
