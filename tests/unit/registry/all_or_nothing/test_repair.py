"""repair: which pending batches are completed, removed or left alone, and which requests that takes.

The unit tier's registry in memory (``tests/unit/fakes.py``) stands in for the server, allowing only the
requests repair needs: any other fails the test. As Azure ML, it answers only what Azure ML's MLflow API
documents for versions (search filtered by ``name='X'``, tag writes, version deletes): it refuses narrowed
searches and model deletes with an MLflow error, as the Azure-rules stand-in does, so repair is shown to learn
the rules and work there too.
"""

from __future__ import annotations

import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST

from labhelpers.registry.all_or_nothing.lease import DEFAULT_LEASE_SECONDS, lease_until
from labhelpers.registry.all_or_nothing.repair import find_pending, repair
from tests.unit.fakes import FakeRegistry, Version

NOW = time.time()
EXPIRED = lease_until(-60, NOW)
LIVE = lease_until(300, NOW)


#: What Azure ML's MLflow API refuses of what repair asks: version searches narrowed beyond ``name='X'`` and
#: deleting a registered model (they are immutable there).
AZURE_REFUSES = {"version_filters", "model_delete"}
#: The requests repair may make; any other fails the test (aliases, other searches...: never needed).
REPAIR_CALLS = {
    "search_model_versions",
    "delete_model_version",
    "set_model_version_tag",
    "set_terminated",
    "get_registered_model",
    "delete_registered_model",
}


def add(
    registry: FakeRegistry,
    name: str,
    batch: str,
    members: list[str],
    status: str = "pending",
    lease: str | None = EXPIRED,
    run: str | None = None,
    **tags: str,
) -> Version:
    """A version of ``name`` registered by ``batch`` (of ``members``) an hour ago, its run running."""
    number = 1 + max((int(v.version) for v in registry.models.get(name, [])), default=0)
    base = {"lab.batch_id": batch, "lab.batch_status": status, "lab.batch_names": ",".join(members)}
    if lease is not None:
        base["lab.batch_lease_until"] = lease
    run_id = run or f"run-{batch}-{name}"
    created = int((NOW - 3600) * 1000)
    version = Version(name, str(number), run_id, {**base, **tags}, creation_timestamp=created)
    registry.models.setdefault(name, []).append(version)
    registry.model_tags.setdefault(name, {"lab.created_by_batch": batch})
    if run_id not in registry.runs:
        registry.add_run(run_id)
    return version


def finished(registry: FakeRegistry, status: str) -> set[str]:
    return {run_id for run_id, run in registry.runs.items() if run.status == status}


NAMES = ["a", "b", "c"]


def in_memory(tracking_uri: str) -> FakeRegistry:
    """The registry in memory; on an ``azureml://`` URI it refuses what Azure ML refuses."""
    azure = tracking_uri.startswith("azureml:")
    return FakeRegistry(
        tracking_uri=tracking_uri, refuses=AZURE_REFUSES if azure else (), allows=REPAIR_CALLS
    )


@pytest.fixture(params=["http://127.0.0.1:5000", "azureml://eastus.api.azureml.ms/mlflow/v1.0/x"])
def registry(request: pytest.FixtureRequest) -> FakeRegistry:
    return in_memory(request.param)


def test_a_batch_with_a_version_of_every_member_is_completed_and_its_runs_finished(registry):
    done_before = add(registry, "a", "old", NAMES, status="complete", lease=None)
    for name in NAMES:
        add(registry, name, "dead", NAMES)

    [result] = repair(registry, ["a"], now=NOW)  # b and c are found through the batch_names tag

    assert (result.batch_id, result.action) == ("dead", "completed")
    assert result.versions == ("a version 2", "b version 1", "c version 1")
    assert {
        v.name: v.tags["lab.batch_status"] for v in registry.versions if v.tags["lab.batch_id"] == "dead"
    } == {
        "a": "complete",
        "b": "complete",
        "c": "complete",
    }
    assert finished(registry, "FINISHED") == {f"run-dead-{n}" for n in NAMES}
    assert done_before.tags["lab.batch_status"] == "complete"


def test_a_batch_missing_a_member_is_removed_and_its_runs_failed(registry):
    add(registry, "a", "live-before", NAMES, status="complete", lease=None)
    for name in ("a", "b"):
        add(registry, name, "dead", NAMES)

    [result] = repair(registry, NAMES, now=NOW)

    assert (result.action, result.versions, result.note) == (
        "removed",
        ("a version 2", "b version 1"),
        "c had no version",
    )
    assert [(v.name, v.version) for v in registry.versions] == [("a", "1")]
    assert registry.runs["run-dead-a"].status == registry.runs["run-dead-b"].status == "FAILED"


def test_a_model_the_dead_batch_created_is_deleted_only_where_the_registry_allows_it(registry):
    add(registry, "b", "dead", NAMES)  # b was new: the dead batch created it

    repair(registry, NAMES, now=NOW)

    azure = registry.tracking_uri.startswith("azureml:")
    assert ("b" in registry.models) is azure  # Azure ML keeps it (empty); elsewhere it goes
    assert (("delete_registered_model", ("b",)) in registry.answered) is not azure


def test_an_empty_model_another_batch_created_is_kept(registry):
    add(registry, "b", "first", NAMES, status="complete", lease=None)
    registry.delete_model_version("b", "1")
    add(registry, "b", "dead", NAMES)

    repair(registry, ["b"], now=NOW)

    assert "b" in registry.models and registry.versions == []


def test_a_batch_whose_lease_runs_is_left_alone_and_untouched(registry):
    add(registry, "a", "running", NAMES, lease=EXPIRED)
    add(registry, "b", "running", NAMES, lease=LIVE)  # renewed by its heartbeat: the process is alive

    [result] = repair(registry, NAMES, now=NOW)

    assert result.action == "left alone" and "still being registered, lease until" in result.note
    assert [c for c in registry.calls if c != "search_model_versions"] == []


def test_an_older_version_without_a_lease_counts_it_from_its_creation(registry):
    old = add(registry, "a", "old", ["a"], lease=None)
    half = DEFAULT_LEASE_SECONDS / 2
    old.creation_timestamp = int((NOW - half) * 1000)  # created half a lease ago: still inside it

    assert repair(registry, ["a"], now=NOW)[0].action == "left alone"
    assert repair(registry, ["a"], now=NOW + half + 1)[0].action == "completed"


def test_a_dry_run_changes_nothing(registry):
    for name in ("a", "b"):
        add(registry, name, "dead", NAMES)
    add(registry, "c", "other", NAMES)
    for name in ("a", "b"):
        add(registry, name, "other", NAMES)

    results = repair(registry, ["a"], dry_run=True, now=NOW)

    assert [(r.batch_id, r.action) for r in results] == [
        ("dead", "would remove"),
        ("other", "would complete"),
    ]
    assert [c for c in registry.calls if c != "search_model_versions"] == []
    assert str(results[0]) == "batch dead: would remove a version 1, b version 1 (c had no version)"


def test_completing_deletes_a_twin_only_when_it_comes_from_the_same_run(registry):
    for name in NAMES:
        add(registry, name, "dead", NAMES)
    add(registry, "a", "dead", NAMES, run="run-dead-a")  # a retried create: same run, second version
    add(registry, "b", "dead", NAMES, run="someone-else")  # same batch tag, another run: not a twin

    [result] = repair(registry, NAMES, now=NOW)

    assert result.action == "completed" and result.note == "deleted twin a version 2"
    assert ("a", "2") not in {(v.name, v.version) for v in registry.versions}
    assert ("b", "2") in {(v.name, v.version) for v in registry.versions}


def test_one_search_per_name_narrowed_by_tag_only_where_the_registry_allows_it(registry):
    add(registry, "a", "dead", NAMES)

    find_pending(registry, ["a", "a"])

    searches = sorted(str(args[0]) for method, args in registry.answered if method == "search_model_versions")
    if registry.tracking_uri.startswith("azureml:"):  # all versions of each name, filtered here
        assert searches == ["name='a'", "name='b'", "name='c'"]
    else:  # the pending versions of the name looked under, then the batch's versions of each member
        assert searches == [
            "name='a' and tags.`lab.batch_id`='dead'",
            "name='a' and tags.`lab.batch_status`='pending'",
            "name='b' and tags.`lab.batch_id`='dead'",
            "name='c' and tags.`lab.batch_id`='dead'",
        ]


def test_completing_keeps_the_version_its_batch_already_tagged_complete_and_deletes_its_pending_twin(
    registry,
):
    twin = add(registry, "a", "batch", ["a"], run="run-a")  # a retried create's first, unanswered version
    add(registry, "a", "batch", ["a"], run="run-a", status="complete")  # the one the batch was told about

    [result] = repair(registry, ["a"], now=NOW)

    assert (result.action, result.versions, result.note) == (
        "completed",
        ("a version 2",),
        "deleted twin a version 1",
    )
    assert twin not in registry.versions


@pytest.mark.parametrize(
    ("error", "action"),
    [
        # another repair (or the batch's own undo) deleted it first: gone, as wanted
        (MlflowException("Model Version (name=a, version=1) not found", RESOURCE_DOES_NOT_EXIST), "removed"),
        # the same words under another code are no answer about the version: the repair failed
        (
            MlflowException("Permission denied: user ada not found in this workspace", PERMISSION_DENIED),
            "failed",
        ),
        (MlflowException("not found in the connection pool: internal error"), "failed"),
    ],
    ids=["resource-does-not-exist", "permission-denied-saying-not-found", "server-error-saying-not-found"],
)
def test_a_version_counts_as_gone_by_the_registrys_error_code_not_by_its_words(error, action):
    registry = in_memory("http://127.0.0.1:5000")
    registry.failures["delete_model_version"] = error  # the version itself is left where it was
    for name in ("a", "b"):
        add(registry, name, "dead", NAMES)

    [result] = repair(registry, NAMES, now=NOW)

    assert result.action == action
    if action == "failed":
        assert result.note == f"MlflowException: {error}"
