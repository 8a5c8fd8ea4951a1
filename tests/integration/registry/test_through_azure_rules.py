"""The registry code against the Azure-rules stand-in: the branches Azure ML's refusals select.

Every test talks to the session server through ``azure_rules`` (a proxy that refuses aliases, renames, model
deletes, ordered or non-name version searches, LIKE and tag filters in model search, run searches ordered by
metrics, parameters or tags, with != on a tag or with OR, and MLflow 3's logged-models API) and checks the
real server behind it for the result. Each client learns a refusal once.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry import capabilities
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.all_or_nothing.upload import drop_retried_duplicates
from labhelpers.registry.pinning import DEPLOYMENT_DIR, PINS_FILE, read_pins
from labhelpers.registry.promotion import promote, rollback
from labhelpers.registry.references import resolve
from labhelpers.registry.register import register_batch, register_models


def _client(uri: str) -> MlflowClient:
    return MlflowClient(uri, uri)


def _refusals(proxy, since: int, rule: str) -> int:
    return sum(1 for name, _, _ in proxy.refused[since:] if name == rule)


def _aliases(server_uri: str, name: str) -> dict:
    return dict(_client(server_uri).get_registered_model(name).aliases)


@pytest.fixture
def registered(azure_rules, trained_dirs, unique_names):
    """One batch of the three models registered through the stand-in; returns what register_models did."""
    return register_models(*trained_dirs, names=unique_names, tracking_uri=azure_rules.uri)


def test_the_stand_in_refuses_each_azure_rule_and_forwards_the_rest(azure_rules, registered):
    client, name = _client(azure_rules.uri), registered[0].name
    experiment = client.get_run(registered[0].run_id).info.experiment_id
    refused = {
        "aliases": lambda: client.set_registered_model_alias(name, "production", "1"),
        "rename registered model": lambda: client.rename_registered_model(name, name + "-renamed"),
        "delete registered model": lambda: client.delete_registered_model(name),
        "order versions": lambda: client.search_model_versions(f"name='{name}'", order_by=["version_number"]),
        "version filter other than name": lambda: client.search_model_versions(
            f"run_id='{registered[0].run_id}'"
        ),
        "LIKE in registered-model search": lambda: client.search_registered_models("name LIKE 'test-%'"),
        "order runs by metrics, parameters or tags": lambda: client.search_runs(
            [experiment], order_by=["metrics.rmse"]
        ),
        "!= on a tag in run search": lambda: client.search_runs([experiment], "tags.lifecycle != 'x'"),
        "OR in run search": lambda: client.search_runs([experiment], "params.a = '1' OR params.a = '2'"),
    }
    if hasattr(client, "search_logged_models"):  # MLflow 3 only (make test-mlflow2 runs MLflow 2)
        refused["MLflow 3 logged-models endpoints"] = lambda: client.search_logged_models(
            experiment_ids=["0"]
        )
    for rule, call in refused.items():
        before = len(azure_rules.refused)
        with pytest.raises(MlflowException, match="Not supported by Azure ML"):
            call()
        assert _refusals(azure_rules, before, rule) >= 1, rule
    assert [v.version for v in client.search_model_versions(f"name='{name}'")] == ["1"]
    assert client.get_model_version(name, "1").tags["lifecycle"] == "candidate"


def test_a_batch_registers_with_tags_only_learning_once_that_aliases_are_refused(
    azure_rules, trained_dirs, unique_names, mlflow_server
):
    before = len(azure_rules.refused)
    done = register_models(*trained_dirs, names=unique_names, tracking_uri=azure_rules.uri)
    assert [item.version for item in done] == ["1", "1", "1"]
    for item in done:
        version = _client(mlflow_server.uri).get_model_version(item.name, item.version)
        assert (version.tags["lifecycle"], version.tags["lab.batch_status"]) == ("candidate", "complete")
        assert _aliases(mlflow_server.uri, item.name) == {}
    assert _refusals(azure_rules, before, "aliases") == 1  # one client: asked once, then remembered


def test_references_resolve_by_tags_and_by_the_highest_number(azure_rules, trained_dirs, unique_names):
    linear = collect(trained_dirs[0], trained_dirs[1], unique_names)[0]
    for _ in range(3):
        register_batch([linear], tracking_uri=azure_rules.uri)
    client = _client(azure_rules.uri)
    client.set_model_version_tag(linear.name, "2", "lifecycle", "production")
    before = len(azure_rules.refused)
    for form, expected in [("azureml:{n}@latest", "3"), ("{n}@production", "2"), ("models:/{n}/latest", "3")]:
        assert resolve(form.format(n=linear.name), client).version == expected, form
    assert resolve(f"azureml:{linear.name}:1", client).version == "1"
    assert _refusals(azure_rules, before, "order versions") == 1
    assert _refusals(azure_rules, before, "aliases") == 1
    assert (capabilities.of(client).ordering, capabilities.of(client).aliases) == (False, False)
    with pytest.raises(RegistryError, match="No registered model named 'nope'"):
        resolve("nope@latest", client)


def test_promotion_and_rollback_move_the_lifecycle_tag_and_the_pin(
    azure_rules, trained_dirs, unique_names, tmp_path, mlflow_server
):
    linear = collect(trained_dirs[0], trained_dirs[1], unique_names)[0]
    for _ in range(2):
        register_batch([linear], tracking_uri=azure_rules.uri)
    deployment = Path(shutil.copytree(DEPLOYMENT_DIR, tmp_path / "deployment"))
    (deployment / PINS_FILE).unlink(missing_ok=True)
    client = _client(azure_rules.uri)
    for version in ("1", "2"):
        promote(linear.name, version, "validated", client=client, actor="t", deployment_dir=deployment)
        promote(linear.name, version, "production", client=client, actor="t", deployment_dir=deployment)
    rollback(linear.name, reason="test", client=client, actor="t", deployment_dir=deployment)
    tags = {v: client.get_model_version(linear.name, v).tags["lifecycle"] for v in ("1", "2")}
    assert tags == {"1": "production", "2": "archived"}
    assert read_pins(deployment) == {linear.name: f"azureml:{linear.name}:1"}
    assert resolve(f"{linear.name}@production", client).version == "1"
    assert _aliases(mlflow_server.uri, linear.name) == {}


def test_a_failed_batch_removes_its_versions_and_keeps_the_model_azure_cannot_delete(
    azure_rules, trained_dirs, unique_names, monkeypatch, mlflow_server
):
    create = MlflowClient.create_model_version
    asked = []

    def create_version(self, name, *args, **kwargs):
        # kmeans: the first request finds no model, so the batch creates it; the version then fails
        if name == unique_names["kmeans"]:
            asked.append(name)
            if len(asked) > 1:
                raise RuntimeError("simulated registry failure")
        return create(self, name, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "create_model_version", create_version)
    before = len(azure_rules.refused)
    with pytest.raises(RegistryError, match="simulated registry failure"):
        register_models(*trained_dirs, names=unique_names, tracking_uri=azure_rules.uri)
    server = _client(mlflow_server.uri)
    for name in unique_names.values():
        assert server.search_model_versions(f"name='{name}'") == []
        assert server.get_registered_model(name).name == name  # the empty model stays, as on Azure ML
    assert _refusals(azure_rules, before, "delete registered model") == 1


def test_only_a_true_twin_of_the_same_run_is_deleted(azure_rules, registered, mlflow_server):
    client, first = _client(azure_rules.uri), registered[0]
    other = client.create_run(client.get_run(first.run_id).info.experiment_id).info.run_id
    source = str(client.get_model_version(first.name, first.version).source)
    client.create_model_version(first.name, source, other)  # v2: another run's version
    client.create_model_version(first.name, source, first.run_id)  # v3: a twin of v1 (same run)
    drop_retried_duplicates(client, first.name, first.run_id, kept="1")
    left = sorted(v.version for v in _client(mlflow_server.uri).search_model_versions(f"name='{first.name}'"))
    assert left == ["1", "2"]


def _refused_filters(proxy, since: int) -> list[str]:
    from urllib.parse import parse_qs, urlparse

    return [
        parse_qs(urlparse(target).query).get("filter", [""])[0]
        for rule, _, target in proxy.refused[since:]
        if rule == "version filter other than name"
    ]


def test_the_narrowed_searches_registration_and_repair_send_are_refused_and_fall_back(
    azure_rules, trained_dirs, unique_names, mlflow_server
):
    from labhelpers.registry.all_or_nothing.repair import repair
    from labhelpers.registry.catalog import audit

    before = len(azure_rules.refused)
    done = register_models(*trained_dirs, names=unique_names, tracking_uri=azure_rules.uri)
    refused = _refused_filters(azure_rules, before)
    # what the code really sends (captured by the stand-in): the repair's pending search, the twin check
    pending = {f"name='{name}' and tags.`lab.batch_status`='pending'" for name in unique_names.values()}
    twins = {f"name='{item.name}' and run_id='{item.run_id}'" for item in done}
    assert set(refused) & (pending | twins) and set(refused) <= pending | twins, refused
    for item in done:  # ...and the fallback registered every version, complete
        assert _client(mlflow_server.uri).get_model_version(item.name, item.version).tags[
            "lab.batch_status"
        ] == ("complete")
    client = _client(azure_rules.uri)
    before = len(azure_rules.refused)
    assert repair(client, list(unique_names.values())) == []  # nothing pending: nothing to do
    # the names are searched side by side: each narrowed search is sent at most once, and once a refusal is
    # learned the searches not yet sent go by name only (how many were sent first depends on the threads)
    refused_now = _refused_filters(azure_rules, before)
    assert refused_now and set(refused_now) <= pending and len(refused_now) == len(set(refused_now))
    assert capabilities.of(client).version_filters is False
    before = len(azure_rules.refused)
    names = list(unique_names.values())
    found = audit(names, client)  # the catalog: the same answer as from the server itself, nothing refused
    assert found.to_dict("records") == audit(names, _client(mlflow_server.uri)).to_dict("records")
    assert azure_rules.refused[before:] == []
