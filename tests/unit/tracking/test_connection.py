"""Tracking URI resolution, fail-fast client settings and the reachability check (no MLflow server)."""

from __future__ import annotations

import os
import sys

import pytest

from labhelpers.foundation import config
from labhelpers.foundation.errors import ServerError
from labhelpers.tracking import connection as tracking


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No tracking URI, port or client settings from the developer's shell; all restored afterwards."""
    for name in (tracking.TRACKING_URI_ENV, config.PORT_ENV, *tracking.CLIENT_DEFAULTS):
        monkeypatch.setenv(name, "placeholder")  # recorded, so even values set by code are undone
        monkeypatch.delenv(name)
    return monkeypatch


def test_explicit_uri_beats_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(tracking.TRACKING_URI_ENV, "http://env-server:5000")
    assert tracking.resolve_tracking_uri("http://explicit:5000") == "http://explicit:5000"


def test_environment_beats_local_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(tracking.TRACKING_URI_ENV, "http://env-server:5000")
    assert tracking.resolve_tracking_uri() == "http://env-server:5000"


def test_default_is_local_server_never_a_local_file(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(config.PORT_ENV, "5123")
    assert tracking.resolve_tracking_uri() == "http://127.0.0.1:5123"


def test_blank_values_count_as_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv(tracking.TRACKING_URI_ENV, "  ")
    assert tracking.resolve_tracking_uri("") == config.local_tracking_uri()


def test_client_timeouts_keep_user_values(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "300")
    applied = tracking.configure_client_timeouts()
    assert applied == {**tracking.CLIENT_DEFAULTS, "MLFLOW_HTTP_REQUEST_TIMEOUT": "300"}
    assert {name: os.environ[name] for name in applied} == applied


def test_check_reachable_dead_port_fails_fast_with_start_hint(free_port, connections, monkeypatch) -> None:
    uri = f"http://{config.HOST}:{free_port()}"
    timeouts = []
    get = tracking.requests.get
    monkeypatch.setattr(
        tracking.requests, "get", lambda *a, **k: timeouts.append(k["timeout"]) or get(*a, **k)
    )
    with pytest.raises(ServerError) as raised:
        tracking.check_reachable(uri)
    assert timeouts == [5.0] and len(connections) == 1  # fails fast: one attempt, a short timeout, no retry
    message = str(raised.value)
    assert f"No MLflow server answers at {uri}." in message
    assert "`make server`" in message and "python -m labhelpers server start" in message
    assert "MLFLOW_TRACKING_URI" in message


def test_check_reachable_rejects_a_web_server_that_is_not_mlflow(httpserver) -> None:
    httpserver.expect_request("/").respond_with_data("<html>a web site</html>", content_type="text/html")
    httpserver.no_handler_status_code = 404  # every other path, MLflow's API included, is not found
    with pytest.raises(ServerError, match=r"not as an MLflow tracking server \(HTTP 404"):
        tracking.check_reachable(httpserver.url_for("/").rstrip("/"))
    [(asked, _)] = httpserver.log  # one request, to MLflow's API, and no retry
    assert asked.path.startswith("/api/2.0/mlflow/")


def test_check_reachable_leaves_azureml_alone(connections) -> None:
    loaded = set(sys.modules)
    tracking.check_reachable("azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/x")
    assert connections == []  # nothing was asked of the workspace (nor of the IMDS endpoint)
    assert [m for m in set(sys.modules) - loaded if m.startswith(("azureml", "azure"))] == []  # no plugin


def test_use_tracking_refuses_a_dead_server(clean_env: pytest.MonkeyPatch, free_port) -> None:
    clean_env.setenv(tracking.TRACKING_URI_ENV, f"http://{config.HOST}:{free_port()}")
    with pytest.raises(ServerError, match="make server"):
        tracking.use_tracking()


def test_mlflow_client_gives_up_quickly_on_a_dead_server(
    clean_env: pytest.MonkeyPatch, free_port, connections
) -> None:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from urllib3.util.retry import Retry

    waits: list[float] = []  # the backoffs urllib3 would sleep between attempts (recorded, not slept)
    clean_env.setattr(Retry, "sleep", lambda self, response=None: waits.append(self.get_backoff_time()))
    tracking.configure_client_timeouts()
    client = MlflowClient(f"http://{config.HOST}:{free_port()}")
    with pytest.raises(MlflowException):
        client.search_experiments()
    # MLflow's own defaults: 8 attempts over minutes. These: 3 attempts, a few seconds of backoff in all.
    assert len(connections) == 1 + int(tracking.CLIENT_DEFAULTS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]) == 3
    assert len(waits) == 2 and sum(waits) <= 4
