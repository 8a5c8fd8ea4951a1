"""backend="env": the server $MLFLOW_TRACKING_URI names (a classroom export block), never a default."""

from __future__ import annotations

import pytest

from labhelpers.azure.ml.connect import connect
from labhelpers.foundation.errors import ServerError
from labhelpers.tracking import connection as tracking


def test_env_without_the_variable_says_what_to_paste(monkeypatch):
    monkeypatch.delenv(tracking.TRACKING_URI_ENV, raising=False)
    with pytest.raises(ServerError) as refused:
        connect("env")
    assert "$MLFLOW_TRACKING_URI, which is not set" in str(refused.value)
    assert "classroom export" in str(refused.value)


def test_env_goes_to_the_server_the_variable_names(monkeypatch, free_port):
    port = free_port()  # nothing listens there: the check names it, so it was asked, not the lab's server
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LAB_MLFLOW_PORT", str(free_port()))
    with pytest.raises(ServerError) as refused:
        connect("env")
    assert f"127.0.0.1:{port}" in str(refused.value)
