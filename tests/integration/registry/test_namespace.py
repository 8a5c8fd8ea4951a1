"""Learner namespaces on a real server: learners' names, experiment and tag; the seed's names untouched.

Each test uses a learner name of its own, so the session server's other tests never see these models.
"""

from __future__ import annotations

import uuid

import pytest

from labhelpers.foundation.learner import LEARNER_ENV, namespace
from labhelpers.registry.catalog import comparison_table
from labhelpers.registry.promotion import current_production, promote, rollback
from labhelpers.registry.references import resolve
from labhelpers.registry.register import register_models


@pytest.fixture
def learner():
    return "t" + uuid.uuid4().hex[:8]


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def test_lab_learner_puts_every_name_of_a_registration_in_the_namespace(
    tracking_uri, trained_dirs, learner, monkeypatch
):
    monkeypatch.setenv(LEARNER_ENV, learner)
    done = register_models(*trained_dirs)
    space = namespace(learner)
    assert [item.name for item in done] == list(space.model_names)
    client = _client(tracking_uri)
    for item in done:
        version = client.get_model_version(item.name, item.version)
        assert version.tags["learner"] == learner and version.tags["lab.batch_status"] == "complete"
        experiment = client.get_run(item.run_id).info.experiment_id
        assert client.get_experiment(experiment).name == f"taxi-model-registry-{learner}"
    assert sorted(comparison_table()["name"].unique()) == sorted(space.model_names)  # default names: mine


def test_two_learners_promote_and_roll_back_without_touching_each_other(
    tracking_uri, trained_dirs, tmp_path, monkeypatch
):
    monkeypatch.delenv(LEARNER_ENV, raising=False)
    client = _client(tracking_uri)
    ann, ben = "a" + uuid.uuid4().hex[:8], "b" + uuid.uuid4().hex[:8]
    for who in (ann, ben):
        register_models(*trained_dirs, learner=who)
        register_models(*trained_dirs, learner=who)
    ann_fare, ben_fare = namespace(ann).models["linear"], namespace(ben).models["linear"]
    pins = tmp_path / "deployment"
    for version in ("1", "2"):
        promote(ann_fare, version, "validated", client=client, deployment_dir=pins)
        promote(ann_fare, version, "production", client=client, deployment_dir=pins, override_reason="test")
    assert resolve(f"azureml:{ann_fare}@latest", client).version == "2"
    assert current_production(ben_fare, client) is None  # nothing of ben's moved
    assert {v.tags["lifecycle"] for v in client.search_model_versions(f"name='{ben_fare}'")} == {"candidate"}
    rollback(ann_fare, client=client, deployment_dir=pins)
    assert getattr(current_production(ann_fare, client), "version", None) == "1"
    assert (pins / "production-models.yml").read_text().count(ann_fare) == 2  # key and azureml:NAME:1
    assert ben_fare not in (pins / "production-models.yml").read_text()


def test_without_a_learner_the_seed_names_are_used(tracking_uri, monkeypatch):
    monkeypatch.delenv(LEARNER_ENV, raising=False)
    assert namespace().model_names == (
        "taxi-fare-linear-regression",
        "taxi-fare-ridge-regression",
        "taxi-trip-kmeans",
    )
    monkeypatch.setenv(LEARNER_ENV, "Not Valid")
    from labhelpers.foundation.learner import LearnerError

    with pytest.raises(LearnerError):
        register_models("unused", "unused")
