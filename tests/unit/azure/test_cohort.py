"""A cohort in one workspace: the learner reaches every pipeline step (offline: built, never sent)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
import yaml

from labhelpers.azure.ml import connect as lab_azure
from labhelpers.azure.ml import pipeline as azure_pipeline
from labhelpers.azure.ml.connect import Connection
from labhelpers.foundation.learner import LEARNER_ENV, LearnerError

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]
STEPS = ("supervised_learning", "unsupervised_learning", "register_models")


def _learners(job) -> dict[str, str | None]:
    return {name: (node.environment_variables or {}).get(LEARNER_ENV) for name, node in job.jobs.items()}


def test_the_learner_reaches_every_step_as_lab_learner(monkeypatch):
    monkeypatch.delenv(LEARNER_ENV, raising=False)
    assert _learners(azure_pipeline.load_pipeline()) == dict.fromkeys(STEPS)  # no learner: no variable
    assert _learners(azure_pipeline.load_pipeline(learner="alice")) == dict.fromkeys(STEPS, "alice")
    monkeypatch.setenv(LEARNER_ENV, "bob")
    assert _learners(azure_pipeline.load_pipeline()) == dict.fromkeys(STEPS, "bob")
    job = azure_pipeline.load_pipeline(learner="alice")  # the argument wins over the variable
    assert _learners(job) == dict.fromkeys(STEPS, "alice")
    # what azure-ai-ml submits: each step's environment_variables in the job's YAML form (its public dump)
    dumped = io.StringIO()
    job.dump(dumped)
    body = yaml.safe_load(dumped.getvalue())
    assert {name: step["environment_variables"][LEARNER_ENV] for name, step in body["jobs"].items()} == (
        dict.fromkeys(STEPS, "alice")
    )


def test_an_invalid_learner_is_refused_before_anything_is_loaded_or_signed_in(monkeypatch):
    monkeypatch.setattr(azure_pipeline, "PIPELINE_FILE", "/nonexistent/pipeline.yaml")
    with pytest.raises(LearnerError, match="Invalid learner name 'Alice'"):
        azure_pipeline.load_pipeline(learner="Alice")
    signed_in = []
    monkeypatch.setattr(lab_azure, "connect", lambda *a, **k: signed_in.append(a))
    with pytest.raises(LearnerError):
        azure_pipeline.submit_pipeline(learner="Alice")
    assert signed_in == []


def test_azure_submit_learner_builds_a_job_whose_steps_carry_it(monkeypatch, capsys):
    from labhelpers.cli import main

    monkeypatch.delenv(LEARNER_ENV, raising=False)
    sent = []

    class Jobs:
        def create_or_update(self, job, **kwargs):
            sent.append(job)
            return SimpleNamespace(name="j1", studio_url="https://ml.azure.com/runs/j1")

    client = SimpleNamespace(jobs=Jobs(), workspace_name="ws")
    monkeypatch.setattr(
        lab_azure, "connect", lambda backend, **kwargs: Connection("azure", "azureml://x/ws", "ws", client)
    )
    assert main(["azure", "submit", "--learner", "alice"]) == 0
    [job] = sent
    assert _learners(job) == dict.fromkeys(STEPS, "alice")
    assert "j1" in capsys.readouterr().out
    assert main(["azure", "submit", "--learner", "Alice"]) == 2  # refused before signing in
    assert "Invalid learner name 'Alice'" in capsys.readouterr().err and len(sent) == 1
