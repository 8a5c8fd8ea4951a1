"""The catalog on a real server: the comparison table (one search per model, not one request per version),
one version's lineage, and the reproducibility audit.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter

import pytest

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.catalog import audit, comparison_table, lineage
from labhelpers.registry.register import register_models
from labhelpers.training.steps import SUPERVISED_METRICS, UNSUPERVISED_METRICS

KEYS = ("linear", "ridge", "kmeans")


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def rows(frame, *columns) -> list[tuple]:
    """The frame's values in ``columns`` as sorted tuples."""
    return sorted(frame[list(columns)].itertuples(index=False, name=None))


class Counting:
    """Wraps a client and counts the calls made through it, by method name."""

    def __init__(self, client):
        self.client, self.calls = client, Counter[str]()

    def __getattr__(self, name: str):
        attribute = getattr(self.client, name)
        if not callable(attribute):
            return attribute

        def counted(*args, **kwargs):
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


@pytest.fixture(scope="module")
def registered(mlflow_server, trained_dirs):
    """Fresh names registered twice (versions 1 and 2 of each); returns the names and both batches."""
    tag = uuid.uuid4().hex[:8]
    names = {key: f"test-{key}-{tag}" for key in KEYS}
    batches = [register_models(*trained_dirs, names=names, tracking_uri=mlflow_server.uri) for _ in range(2)]
    return names, batches


def test_the_comparison_table_has_one_row_per_version_with_lifecycle_and_metrics(
    registered, mlflow_server, trained_dirs
):
    names, batches = registered
    sup = json.loads((trained_dirs[0] / SUPERVISED_METRICS).read_text())
    uns = json.loads((trained_dirs[1] / UNSUPERVISED_METRICS).read_text())

    table = comparison_table(names.values(), client=client_for(mlflow_server.uri))

    assert len(table) == 6
    assert rows(table, "name", "version") == sorted((n, v) for n in names.values() for v in (1, 2))
    assert set(table["lifecycle"]) == {"candidate"}
    for batch in batches:
        of_batch = table[table["batch_id"] == batch[0].batch_id]
        assert rows(of_batch, "name", "version", "run_id") == sorted(
            (item.name, int(item.version), item.run_id) for item in batch
        )
    linear = table[table["name"] == names["linear"]]
    assert list(linear["version"]) == [2, 1]  # newest first
    assert list(linear["rmse"]) == pytest.approx([sup["linear_regression"]["rmse"]] * 2, rel=1e-5)
    assert list(linear["model_type"]) == ["LinearRegression"] * 2
    ridge = table[table["name"] == names["ridge"]]
    assert list(ridge["r2"]) == pytest.approx([sup["ridge_regression"]["r2"]] * 2, rel=1e-5)
    kmeans = table[table["name"] == names["kmeans"]]
    assert list(kmeans["silhouette"]) == pytest.approx([uns["silhouette"]] * 2, rel=1e-5)
    assert kmeans["rmse"].isna().all()  # a clustering model has no rmse: NaN, not 0
    assert linear["silhouette"].isna().all()


def test_the_comparison_table_costs_one_search_per_model_not_one_request_per_version(
    registered, mlflow_server
):
    names, _ = registered
    counting = Counting(client_for(mlflow_server.uri))

    table = comparison_table(names.values(), client=counting)

    assert len(table) == 6
    assert counting.calls == Counter({"search_model_versions": 3})


def test_lineage_traces_a_version_to_its_data_commit_run_params_and_metrics(
    registered, mlflow_server, trained_dirs
):
    names, batches = registered
    sup = json.loads((trained_dirs[0] / SUPERVISED_METRICS).read_text())
    commit = json.loads((trained_dirs[0] / "manifest.json").read_text())["lineage"]["git_commit"]

    trail = lineage(names["ridge"], 2, client=client_for(mlflow_server.uri))

    assert (trail["name"], trail["version"], trail["lifecycle"]) == (names["ridge"], "2", "candidate")
    assert trail["git_commit"] == commit
    assert trail["data_version"] == sup["data_version"]
    assert trail["run_id"] == batches[1][1].run_id
    assert trail["batch_id"] == batches[1][1].batch_id
    assert trail["parameters"]["alpha"] == str(sup["parameters"]["alpha"])
    assert trail["parameters"]["features"] == ",".join(sup["features_used"])
    assert trail["metrics"]["ridge_regression_rmse"] == pytest.approx(sup["ridge_regression"]["rmse"])
    assert trail["source"].endswith("/model")


def test_lineage_of_a_missing_version_lists_the_versions(registered, mlflow_server):
    names, _ = registered

    with pytest.raises(RegistryError, match=r"has no version 7; versions: 1, 2\."):
        lineage(names["linear"], 7, client=client_for(mlflow_server.uri))


def test_the_audit_lists_exactly_the_versions_that_lost_their_lineage(
    trained_dirs, unique_names, tracking_uri
):
    client = client_for(tracking_uri)
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    assert audit(unique_names.values(), client=client).empty  # freshly registered versions comply

    client.set_model_version_tag(unique_names["linear"], "1", "git_commit", "unknown")
    client.delete_model_version_tag(unique_names["ridge"], "2", "data_version")

    found = audit(unique_names.values(), client=client)

    assert rows(found, "name", "version") == sorted([(unique_names["linear"], 1), (unique_names["ridge"], 2)])
    problems = {(n, v): why for n, v, why in rows(found, "name", "version", "problems")}
    assert "git_commit unknown" in problems[(unique_names["linear"], 1)]
    assert problems[(unique_names["ridge"], 2)] == "tag data_version missing"
