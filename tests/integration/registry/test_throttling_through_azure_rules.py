"""Throttling and lost answers through the Azure-rules stand-in: no orphan run, no duplicate version.

The stand-in injects the two faults a classroom's burst meets on a shared workspace: HTTP 429 with
``Retry-After`` (the server never sees the request) and "timed out after commit" (the server created the run
or version, the client got a 504). Registration runs with the Azure path's client (:class:`ThrottledClient`,
which the stand-in's http:// URI would not get on its own); waits are recorded, never slept: MLflow's own
(urllib3's ``Retry.sleep``) and labhelpers' (the budget's). The real server behind the stand-in is then asked
what exists.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from labhelpers.azure.mlflow_api.rules import THROTTLE, TIMED_OUT_AFTER_COMMIT
from labhelpers.registry import register
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.register import register_batch, register_models
from labhelpers.registry.throttling import ThrottledClient


@pytest.fixture
def waits(azure_rules, monkeypatch):
    """(MLflow's own waits, labhelpers' waits), recorded instead of slept; faults cleared afterwards."""
    from urllib3.util.retry import Retry

    inner: list[float | None] = []
    outer: list[float] = []
    monkeypatch.setattr(
        Retry,
        "sleep",
        lambda self, response=None: inner.append(self.get_retry_after(response) if response else None),
    )
    monkeypatch.setattr(register, "throttled", lambda client: ThrottledClient(client, 60, outer.append))
    yield inner, outer
    azure_rules.clear_faults()


def _runs(server: MlflowClient, item) -> list:
    """Every run (active or deleted) of this batch registering ``item.name``."""
    experiment = server.get_run(item.run_id).info.experiment_id
    query = f"tags.`lab.batch_id` = '{item.batch_id}' and tags.`mlflow.runName` = 'register-{item.name}'"
    return server.search_runs([experiment], query, run_view_type=ViewType.ALL)


def _models_exist(server_uri: str, names) -> None:
    """Register the names first, so a version's create request is one the server carries out."""
    server = MlflowClient(server_uri, server_uri)
    for name in names:
        server.create_registered_model(name)


def _exactly_one_of_each(server: MlflowClient, item) -> None:
    assert [v.version for v in server.search_model_versions(f"name='{item.name}'")] == [item.version]
    active = [r.info.run_id for r in _runs(server, item) if r.info.lifecycle_stage == "active"]
    assert active == [item.run_id], item.name


def test_a_create_that_timed_out_after_commit_leaves_no_orphan_run_and_no_duplicate_version(
    azure_rules, trained_dirs, unique_names, mlflow_server, waits
):
    _models_exist(mlflow_server.uri, unique_names.values())
    before = len(azure_rules.injected)
    azure_rules.inject(r"/runs/create$", TIMED_OUT_AFTER_COMMIT)
    azure_rules.inject(r"/model-versions/create$", TIMED_OUT_AFTER_COMMIT)
    done = register_models(*trained_dirs, names=unique_names, tracking_uri=azure_rules.uri)
    assert [kind for kind, _, _ in azure_rules.injected[before:]] == [TIMED_OUT_AFTER_COMMIT] * 2
    server = MlflowClient(mlflow_server.uri, mlflow_server.uri)
    for item in done:
        _exactly_one_of_each(server, item)
    # MLflow re-sent both POSTs: the run and the version the lost answers made existed too, and are deleted
    assert sum(len(_runs(server, item)) for item in done) == 4
    assert sorted(item.version for item in done) == ["1", "1", "2"]  # one name's version 1 was the twin


def test_a_create_whose_every_attempt_timed_out_is_looked_up_not_made_again(
    azure_rules, trained_dirs, unique_names, mlflow_server, waits
):
    inner, outer = waits
    linear = collect(trained_dirs[0], trained_dirs[1], unique_names)[0]
    _models_exist(mlflow_server.uri, [linear.name])
    before = len(azure_rules.injected)
    # MLflow's own three attempts all land and all answer 504: MLflow gives up, labhelpers looks it up
    azure_rules.inject(r"/model-versions/create$", TIMED_OUT_AFTER_COMMIT, times=3)
    [item] = register_batch([linear], tracking_uri=azure_rules.uri)
    assert len(azure_rules.injected) - before == 3
    server = MlflowClient(mlflow_server.uri, mlflow_server.uri)
    _exactly_one_of_each(server, item)
    assert item.version == "1"  # the first that landed is kept; versions 2 and 3 were its twins
    assert outer == []  # found by the look-up: no wait, no fourth request


def test_429_with_retry_after_is_honoured_within_one_budget_and_nothing_lands_twice(
    azure_rules, trained_dirs, unique_names, mlflow_server, waits
):
    inner, outer = waits
    linear = collect(trained_dirs[0], trained_dirs[1], unique_names)[0]
    before = len(azure_rules.injected)
    for path in (r"/runs/create$", r"/model-versions/create$"):
        azure_rules.inject(path, THROTTLE, times=4, retry_after=3)
    [item] = register_batch([linear], tracking_uri=azure_rules.uri)
    assert [kind for kind, _, _ in azure_rules.injected[before:]] == [THROTTLE] * 8
    # MLflow's own attempts waited the answer's Retry-After each time (3 between its 3 attempts, twice per
    # create); once it gave up, labhelpers looked up (nothing had landed) and waited once within its budget
    assert inner == [3.0] * 6
    assert len(outer) == 2 and all(0 <= w <= 60 for w in outer)
    _exactly_one_of_each(MlflowClient(mlflow_server.uri, mlflow_server.uri), item)
