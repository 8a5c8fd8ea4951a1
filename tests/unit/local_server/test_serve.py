"""The local server's one process starts MLflow's server as ``mlflow server`` would (local_server.serve).

MLflow's own command line runs here with the same options the local server would give it, stopped where it
would start its uvicorn process: the stores it opens, the environment and the command it passes are compared
with what ``serve`` does. An MLflow upgrade that changes any of them fails this test.
"""

from __future__ import annotations

import os
import signal
import sys

import pytest

from labhelpers.local_server import serve

pytestmark = pytest.mark.unit


class _Started:
    """Stands in for the uvicorn process ``mlflow server`` would have started."""

    def wait(self) -> int:
        return 0

    def poll(self) -> int:
        return 0


def test_serve_opens_the_stores_sets_the_environment_and_serves_the_app_as_mlflow_server_does(
    monkeypatch, tmp_path
) -> None:
    import mlflow.cli
    import mlflow.server
    import mlflow.server.handlers
    from click.testing import CliRunner

    backend, artifacts = f"sqlite:///{tmp_path / 'mlflow.db'}", str(tmp_path / "artifacts")
    seen: dict = {}

    def started(command, extra_env=None, **kwargs):
        seen.update(command=command, env=extra_env)
        return _Started()

    # MLflow's seams, patched for this test only: the stores it would open and the process it would start
    opened = lambda *stores, **options: seen.update(stores=stores)  # noqa: E731
    monkeypatch.setattr(mlflow.server.handlers, "initialize_backend_stores", opened)
    monkeypatch.setattr(mlflow.server, "_exec_cmd", started)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # it forwards SIGTERM/SIGINT to that process
    monkeypatch.setenv("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")  # as control._spawn sets it
    for name in ("MLFLOW_ENABLE_WORKSPACES", "MLFLOW_SERVER_ALLOWED_HOSTS", "MLFLOW_SERVER_X_FRAME_OPTIONS"):
        monkeypatch.delenv(name, raising=False)  # restored after the test, whatever the command line sets

    arguments = ["--backend-store-uri", backend, "--artifacts-destination", artifacts, "--serve-artifacts",
                 "--host", "127.0.0.1", "--port", "5123", "--workers", "1"]  # fmt: skip
    result = CliRunner().invoke(mlflow.cli.server, arguments, catch_exceptions=False)
    assert result.exit_code == 0, result.output

    assert seen["stores"][:3] == (backend, backend, serve.PROXIED_ARTIFACT_ROOT)
    inherited = {"MLFLOW_ENABLE_WORKSPACES": os.environ["MLFLOW_ENABLE_WORKSPACES"]}  # set in its own process
    assert serve.server_environment(backend, artifacts) == {**seen["env"], **inherited}
    command = seen["command"]
    assert command[:3] == [sys.executable, "-m", "uvicorn"] and command[-1] == serve.APP
    options = dict(zip(command[3:-1:2], command[4:-1:2], strict=True))
    assert options == {
        "--log-config": str(serve.log_config()),
        "--host": "127.0.0.1",
        "--port": "5123",
        "--workers": "1",
    }
