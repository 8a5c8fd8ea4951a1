"""No call on the Azure path can wait on a browser or device-code sign-in (network blocked, no credential).

Each scenario runs in a worker thread that must finish within the 15 s the lab promises; the interactive
credentials of azure-identity are replaced by recorders, so reaching one fails the test even if it would
have returned. Nothing here contacts Azure or 169.254.169.254: every connection attempt is refused and
recorded, and no managed identity is declared.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

import pytest

from labhelpers.azure.ml import connect as lab_azure
from labhelpers.azure.ml.workspace import AzureError
from labhelpers.azure.mlflow_api import signin
from labhelpers.tracking import connection as tracking

LIMIT = 15.0  # seconds: the bound for "fails, saying what to run"
URI = (
    "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/00000000-0000-0000-0000-000000000001"
    "/resourceGroups/rg-lab/providers/Microsoft.MachineLearningServices/workspaces/{name}"
)


@pytest.fixture
def no_credential_offline(monkeypatch, tmp_path):
    """No Azure variables, no az/pwsh/azd, an empty home, the network refused, prompts recorded."""
    for name in list(os.environ):
        if name.startswith(("AZURE", "MSI_", "IDENTITY_", "IMDS_", "MLFLOW_TRACKING_TOKEN", "MLFLOW_RUN_ID")):
            monkeypatch.delenv(name)
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, "")
    monkeypatch.delenv(tracking.TRACKING_URI_ENV)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(lab_azure, "EXPORTED_CHOICE", [])
    monkeypatch.chdir(tmp_path)
    seen: dict[str, list[object]] = {"network": [], "prompts": []}

    def refuse(target):
        seen["network"].append(target)
        raise OSError(f"network blocked in tests: {target}")

    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(address))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(host))
    import azure.identity as identity

    for cls in (identity.InteractiveBrowserCredential, identity.DeviceCodeCredential):

        def prompt(self, *scopes, _name=cls.__name__, **kwargs):
            seen["prompts"].append(_name)
            raise AssertionError(f"{_name} was asked for a token: a prompt would wait here")

        monkeypatch.setattr(cls, "get_token", prompt)
        monkeypatch.setattr(cls, "get_token_info", prompt, raising=False)
    return seen


def _finishes(action) -> BaseException:
    """Run ``action`` in a thread; it must raise within LIMIT seconds. Returns what it raised."""
    box: dict = {}

    def work():
        try:
            action()
            box["error"] = AssertionError("the call succeeded without any credential")
        except BaseException as error:
            box["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    worker.join(LIMIT)
    assert not worker.is_alive(), f"still waiting after {LIMIT:g} s (a prompt, or a sign-in without deadline)"
    return box["error"]


def _workspace(monkeypatch, name: str) -> str:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "rg-lab")
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", name)
    return URI.format(name=name)


def _fresh_name() -> str:  # the plugin caches sign-ins per URI for the process: one URI per test
    return f"ws-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("credential", ["default", "cli"])
def test_connect_without_a_credential_fails_saying_what_to_run(
    no_credential_offline, monkeypatch, credential
):
    _workspace(monkeypatch, _fresh_name())
    error = _finishes(lambda: lab_azure.connect("azure", credential=credential))
    assert isinstance(error, AzureError), repr(error)
    assert "az login" in str(error) and "AZURE_CLIENT_SECRET" in str(error)
    assert no_credential_offline["prompts"] == []
    assert not any("169.254.169.254" in str(target) for target in no_credential_offline["network"])


def test_a_preset_workspace_uri_is_checked_with_an_mlflow_request_before_connect_returns(
    no_credential_offline, monkeypatch
):
    uri = _workspace(monkeypatch, _fresh_name())
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, uri)  # as on a compute instance: no lookup needed
    error = _finishes(lambda: lab_azure.connect("azure"))
    assert isinstance(error, AzureError), repr(error)
    assert str(error).startswith("Could not sign in to Azure with credential 'default'")
    assert "az login" in str(error)
    assert no_credential_offline["prompts"] == []


def test_an_mlflow_call_on_an_azureml_uri_never_reaches_the_plugins_prompts(no_credential_offline):
    from mlflow import MlflowClient

    uri = URI.format(name=_fresh_name())
    assert tracking.use_tracking(uri) == uri  # installs the bounded, non-interactive sign-in
    error = _finishes(lambda: MlflowClient(uri, uri).search_registered_models(max_results=1))
    assert "Could not sign in to Azure" in str(error) and "az login" in str(error), repr(error)
    again = _finishes(lambda: MlflowClient(uri, uri).search_experiments(max_results=1))
    assert "Could not sign in to Azure" in str(again)
    assert no_credential_offline["prompts"] == []


def test_a_credential_that_hangs_is_abandoned_and_the_failure_remembered():
    release = threading.Event()

    class Hanging:
        calls = 0

        def get_token(self, *scopes, **kwargs):
            Hanging.calls += 1
            release.wait(60)

    bounded = signin.BoundedCredential(Hanging(), "cli", timeout=0.5)
    try:
        first = _finishes(lambda: bounded.get_token("scope"))
        second = _finishes(lambda: bounded.get_token("scope"))
    finally:
        release.set()
    assert "no token within 0.5 s" in str(first) and "az login" in str(first)
    assert str(second) == str(first) and Hanging.calls == 1  # remembered: no second wait


def test_inside_an_azure_ml_job_the_plugin_keeps_the_jobs_token(monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", "job-token")
    monkeypatch.setenv("MLFLOW_RUN_ID", "run-1")
    assert signin.guard(URI.format(name=_fresh_name())) is False
