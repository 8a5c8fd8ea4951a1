"""The Azure inference server (azmlinfsrv) with the deployment's scoring script, on the pinned version.

A small registry is set up through the session server: one batch registered, version 1 pinned as production
in a copy of ML/deployment. The server is started exactly as notebook 05 starts it, sent the sample request
file's body unchanged, and must answer what the same version predicts in-process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labhelpers.foundation.errors import ServerError
from labhelpers.registry.pinning import DEPLOYMENT_DIR, PINS_FILE, pin_production
from labhelpers.registry.register import register_models
from labhelpers.serving.inference import SAMPLE_REQUEST, read_sample_request, serve_inference
from labhelpers.serving.scoring import compare_with_in_process, pinned_version, rest_payload

# azmlinfsrv comes with the lab extra, which `make test-mlflow2`'s environment lacks: it deselects this.
pytestmark = pytest.mark.inference_server


@pytest.fixture
def pinned(trained_dirs, unique_names, tracking_uri, tmp_path):
    """The linear model registered twice under this test's names, version 1 pinned; returns its version."""
    for _ in range(2):
        register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    deployment = Path(shutil.copytree(DEPLOYMENT_DIR, tmp_path / "deployment"))
    (deployment / PINS_FILE).unlink(missing_ok=True)
    pin_production(unique_names["linear"], 1, deployment)
    return pinned_version(unique_names["linear"], deployment)


def test_the_inference_server_answers_the_sample_request_like_the_version_in_process(
    pinned, tmp_path, process_group
):
    assert pinned.version == "1"
    body = json.loads(SAMPLE_REQUEST.read_text())
    server = serve_inference(pinned, log_dir=tmp_path / "serving")
    try:
        served = server.invoke(body)
        # a wrong body: the server's own reason, HTTP 400 naming input_data (MLflow's body, a bare trip)
        with pytest.raises(ServerError, match=r"/score answered HTTP 400: Bad request: .*input_data"):
            server.invoke(rest_payload(read_sample_request()))
        with pytest.raises(ServerError, match=r"HTTP 400: .*without input_data \(trip_distance"):
            server.invoke(read_sample_request().iloc[0].to_dict())
        assert len(process_group(server.pid)) >= 2  # azmlinfsrv and its worker
        assert served.logged() == served and served.model_uri == "models:/" + pinned.name + "/1"
    finally:
        server.stop()
    assert process_group(server.pid) == []  # stopped whole: no "mlflow" on their command lines, still found
    # laid out as a managed endpoint lays out an MLflow model: AZUREML_MODEL_DIR/<folder>/MLmodel only
    assert server.model_dir.is_relative_to(tmp_path) and server.model_dir.parts[-3:] == (
        "azureml-models",
        pinned.name,
        "1",
    )
    assert [p.relative_to(server.model_dir) for p in server.model_dir.rglob("MLmodel")] == [
        Path("model", "MLmodel")
    ]
    comparison = compare_with_in_process(pinned, read_sample_request(), served)
    assert len(comparison) == len(body["input_data"]["data"]) > 0
    assert (comparison["difference"].abs() < 1e-9).all(), comparison


def test_serving_a_version_twice_leaves_one_server(pinned, tmp_path, process_group):
    first = serve_inference(pinned, log_dir=tmp_path / "serving")
    second = None
    try:
        second = serve_inference(pinned, log_dir=tmp_path / "serving")  # the notebook's cell run again
        assert process_group(first.pid) == []  # the first one is stopped, not left behind its variable
        assert second.invoke(read_sample_request().head(1))
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert process_group(second.pid) == []


def test_serving_a_version_twice_with_mlflows_scoring_server_leaves_one_server(
    pinned, tmp_path, process_group
):
    import requests

    from labhelpers.serving.scoring import serve

    first = serve(pinned, log_dir=tmp_path / "scoring", wait=False)  # notebook 05 launches it early
    second = None
    try:
        with pytest.raises(requests.ConnectionError):  # returned at once: the model is still loading
            requests.get(f"{first.url}/ping", timeout=5)
        assert first.wait() is first and requests.get(f"{first.url}/ping", timeout=5).status_code == 200
        second = serve(pinned, log_dir=tmp_path / "scoring", wait=False)  # notebook 05's cell run again
        assert process_group(first.pid) == []
        assert len(second.invoke(read_sample_request().head(2))) == 2  # the first call waits for it
    finally:
        first.stop()
        if second is not None:
            second.stop()
    assert process_group(second.pid) == []
    with pytest.raises(ServerError, match="is not running"):
        second.wait()
