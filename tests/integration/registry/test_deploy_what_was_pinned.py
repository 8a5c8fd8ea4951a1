"""What notebook 04 pinned is what the printed az ml commands deploy: learner alice, end to end, offline.

Notebook 04's promotion path runs through labhelpers against the session server (register, validate,
promote, pinning into the run's deployment folder, exactly the calls the notebook makes); then every file
the commands of ``python -m labhelpers azure endpoint`` name must exist and load with azure-ai-ml's own
loaders, and the production deployment must pin alice's fare model at the production version.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from labhelpers.azure.ml.deployment import check_deployment_dir, deployment_commands
from labhelpers.course.session import run_deployment_dir
from labhelpers.foundation import config
from labhelpers.foundation.learner import LEARNER_ENV, namespace
from labhelpers.registry.promotion import current_production, promote
from labhelpers.registry.register import register_models

pytestmark = [
    pytest.mark.azure_sdk,  # azure-ai-ml's loaders and marshmallow: not in the MLflow 2 environment
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]
FILE_FLAGS = {"--file", "--request-file"}


def test_the_printed_commands_deploy_what_alice_s_promotion_pinned(
    tracking_uri, trained_dirs, tmp_path, monkeypatch
):
    import azure.ai.ml
    from mlflow import MlflowClient

    monkeypatch.delenv(config.ENDPOINT_SUFFIX_ENV, raising=False)
    monkeypatch.setenv(LEARNER_ENV, "alice")
    alice = namespace()
    fare = alice.models["linear"]
    assert fare == "taxi-fare-linear-regression-alice"
    client = MlflowClient(tracking_uri, tracking_uri)
    # notebook 04: this run's deployment folder, then the fare model promoted through both gates
    folder = run_deployment_dir(tmp_path / "outputs")
    version = next(item.version for item in register_models(*trained_dirs) if item.name == fare)
    promote(fare, version, "validated", client=client)
    promote(fare, version, "production", client=client, deployment_dir=folder)
    production = current_production(fare, client)
    assert production is not None and production.version == version

    pinned = f"azureml:{fare}:{version}"
    assert check_deployment_dir(folder, alice) == pinned
    commands = [shlex.split(line) for line in deployment_commands(folder, alice.endpoint)]
    named = {
        Path(words[i + 1]) for words in commands for i, word in enumerate(words[:-1]) if word in FILE_FLAGS
    }
    assert {path.name for path in named} == {
        "endpoint.yml",
        "production-deployment.yml",
        "staging-deployment.yml",
        "sample-request.json",
    }
    assert {path.resolve().parent for path in named} == {folder}  # the pinned folder, never ML/deployment
    for words in commands:  # every command names the learner's endpoint
        name_flag = "--endpoint-name" if words[2] == "online-deployment" else "--name"
        assert words[words.index(name_flag) + 1] == "taxi-fare-alice", words
    for path in named:
        assert path.is_file(), path
        if path.name == "endpoint.yml":
            assert azure.ai.ml.load_online_endpoint(path).name == "taxi-fare-alice"
        elif path.suffix == ".yml":
            deployment = azure.ai.ml.load_online_deployment(path)
            assert deployment.endpoint_name == "taxi-fare-alice"
            expected = f"{fare}:{version}" if path.name.startswith("production") else f"{fare}@latest"
            assert deployment.model == expected, path.name
            code = deployment.code_configuration
            assert code is not None and code.code is not None
            assert (path.parent / code.code / "score.py").is_file()
