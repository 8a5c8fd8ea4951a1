"""Registration from tracked training runs on a real server: every version's run is the run that trained it,
a second batch from the same runs keeps the first batch's versions, a failed batch leaves the training runs
as they were, and notebook 01's sweep logs what its rows say.
"""

from __future__ import annotations

import json
import uuid

import pytest

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.register import register_models, tags_from_run
from labhelpers.training.held_out import score_fare_model
from labhelpers.training.outputs import SUPERVISED_METRICS, UNSUPERVISED_METRICS
from labhelpers.training.steps import prepare_data, run_supervised, run_unsupervised
from labhelpers.training.sweep import FEATURE_SETS, sweep

KEYS = ("linear", "ridge", "kmeans")


@pytest.fixture(scope="module")
def tracked(mlflow_server, sample_csv, tmp_path_factory):
    """Both steps trained with tracking into a fresh experiment: (supervised, unsupervised, experiment)."""
    import mlflow

    mlflow.set_tracking_uri(mlflow_server.uri)
    experiment = f"test-tracked-{uuid.uuid4().hex[:8]}"
    root = tmp_path_factory.mktemp("tracked")
    run_supervised(sample_csv, root / "sup", features=FEATURE_SETS["meter"], experiment=experiment)
    run_unsupervised(sample_csv, root / "uns", silhouette_sample=500, experiment=experiment)
    return root / "sup", root / "uns", experiment


def _names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {key: f"test-tracked-{key}-{tag}" for key in KEYS}


def _training_runs(tracked) -> dict[str, str]:
    sup = json.loads((tracked[0] / SUPERVISED_METRICS).read_text())["training_run"]
    uns = json.loads((tracked[1] / UNSUPERVISED_METRICS).read_text())["training_run"]
    return {"linear": sup, "ridge": sup, "kmeans": uns}


def test_two_batches_from_the_same_training_runs_keep_both_versions(tracked, tracking_uri):
    from mlflow import MlflowClient

    client, names, runs = MlflowClient(tracking_uri, tracking_uri), _names(), _training_runs(tracked)
    first = register_models(tracked[0], tracked[1], names=names, tracking_uri=tracking_uri)
    second = register_models(tracked[0], tracked[1], names=names, tracking_uri=tracking_uri)
    for key, one, two in zip(KEYS, first, second, strict=True):
        assert (one.run_id, two.run_id) == (runs[key], runs[key])  # the training run, not a new one
        found = sorted(client.search_model_versions(f"name='{names[key]}'"), key=lambda v: int(v.version))
        assert [(v.version, v.run_id) for v in found] == [("1", runs[key]), ("2", runs[key])]
        assert found[0].tags["lab.batch_id"] != found[1].tags["lab.batch_id"]
    tracking = client.get_experiment_by_name(tracked[2])
    assert tracking is not None
    experiment = tracking.experiment_id
    assert {r.info.run_name for r in client.search_runs([experiment])} == {
        "train-supervised",
        "train-unsupervised",
    }


def test_a_failed_batch_from_training_runs_removes_its_versions_and_leaves_the_runs(
    tracked, tracking_uri, monkeypatch
):
    from mlflow import MlflowClient

    client, names, runs = MlflowClient(tracking_uri, tracking_uri), _names(), _training_runs(tracked)
    create = MlflowClient.create_model_version

    def refuse_kmeans(self, name, *args, **kwargs):
        if name == names["kmeans"]:
            raise RuntimeError("simulated registry failure")
        return create(self, name, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "create_model_version", refuse_kmeans)
    with pytest.raises(RegistryError, match="simulated registry failure.*Nothing from this batch remains"):
        register_models(tracked[0], tracked[1], names=names, tracking_uri=tracking_uri)
    assert [v for name in names.values() for v in client.search_model_versions(f"name='{name}'")] == []
    for run_id in set(runs.values()):  # training is not undone: the runs stay, finished
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED" and run.info.lifecycle_stage == "active"


def test_a_training_run_on_another_server_is_refused_naming_the_metrics_file(tracked, tracking_uri, tmp_path):
    import shutil

    from labhelpers.files.artifacts import write_manifest

    copy = tmp_path / "sup"
    shutil.copytree(tracked[0], copy)
    metrics = copy / SUPERVISED_METRICS
    payload = json.loads(metrics.read_text())
    payload["training_run"] = uuid.uuid4().hex
    metrics.write_text(json.dumps(payload))
    write_manifest(copy, "supervised")  # a consistent folder whose run this server never saw
    with pytest.raises(RegistryError, match=f"{SUPERVISED_METRICS} names training run .* Train it again"):
        register_models(copy, tracked[1], names=_names(), tracking_uri=tracking_uri)


def test_the_sweep_logs_what_its_table_says_and_tags_from_run_reads_it_back(
    mlflow_server, tracking_uri, sample_csv
):
    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(tracking_uri)
    experiment = f"test-sweep-{uuid.uuid4().hex[:8]}"
    frame = prepare_data(sample_csv)[0]
    table = sweep(frame, experiment, feature_sets=["distance", "all"], alphas=(100.0,))
    assert len(table) == 4 and list(table["rmse"]) == sorted(table["rmse"])
    client = MlflowClient(tracking_uri, tracking_uri)
    for row in table.itertuples():
        run = client.get_run(row.run_id)
        assert run.info.run_name == row.run and run.data.params["feature_set"] == row.feature_set
        model = mlflow.sklearn.load_model(f"runs:/{row.run_id}/model")
        features = FEATURE_SETS[row.feature_set]
        assert run.data.metrics["rmse"] == pytest.approx(score_fare_model(model, features)["rmse"], rel=1e-12)
    best = table.iloc[0]
    tags = tags_from_run(best.run_id, "someone", client)
    assert tags["model_type"] == best.model_type and tags["lifecycle"] == "candidate"
    assert float(tags["rmse"]) == pytest.approx(best.rmse, rel=1e-5) and tags["owner"] == "someone"
    assert tags["data_version"].startswith("sha256:") and tags["git_commit"] != "unknown"
