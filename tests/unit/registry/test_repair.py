"""repair: which pending batches are completed, removed or left alone, and which requests that takes.

A registry in memory stands in for the server. As Azure ML, it answers only what Azure ML's MLflow API
documents for versions (search filtered by ``name='X'``, tag writes, version deletes): it refuses narrowed
searches and model deletes with an MLflow error, as the Azure-rules stand-in does, and fails the test on
anything else, so repair is shown to learn the rules and work there too.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, RESOURCE_DOES_NOT_EXIST

from labhelpers.registry.lease import DEFAULT_LEASE_SECONDS, lease_until
from labhelpers.registry.repair import find_pending, repair

NOW = time.time()
EXPIRED = lease_until(-60, NOW)
LIVE = lease_until(300, NOW)


@dataclass
class Version:
    name: str
    version: str
    run_id: str
    tags: dict
    creation_timestamp: int = field(default_factory=lambda: int((NOW - 3600) * 1000))


class Registry:
    """An in-memory registry that refuses every request Azure ML's MLflow API does not document."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.versions: list[Version] = []
        self.models: dict[str, dict] = {}
        self.runs: dict[str, str] = {}
        self.calls: list[str] = []

    def add(self, name, batch, members, status="pending", lease=EXPIRED, run=None, **tags) -> Version:
        number = str(1 + max((int(v.version) for v in self.versions if v.name == name), default=0))
        base = {"lab.batch_id": batch, "lab.batch_status": status, "lab.batch_names": ",".join(members)}
        if lease is not None:
            base["lab.batch_lease_until"] = lease
        version = Version(name, number, run or f"run-{batch}-{name}", {**base, **tags})
        self.versions.append(version)
        self.models.setdefault(name, {"lab.created_by_batch": batch})
        self.runs.setdefault(version.run_id, "RUNNING")
        return version

    def search_model_versions(self, filter_string):
        name, *conditions = filter_string.split(" and ")
        match = re.fullmatch(r"name='([^']+)'", name)
        assert match, f"every version search is filtered by name, got {filter_string!r}"
        if conditions and self.tracking_uri.startswith("azureml:"):  # documented: by name only
            self.calls.append(f"refused {filter_string}")
            raise MlflowException(f"unsupported filter {filter_string!r}", INVALID_PARAMETER_VALUE)
        self.calls.append(f"search {filter_string}")
        found = [v for v in self.versions if v.name == match[1]]
        for condition in conditions:  # what an MLflow server narrows by: tags.KEY='V', run_id='R'
            key, value = re.fullmatch(r"([\w.`]+)='([^']*)'", condition).groups()
            tag = key.removeprefix("tags.").strip("`")
            found = [v for v in found if (v.run_id if key == "run_id" else v.tags.get(tag)) == value]
        return found

    def delete_model_version(self, name, version):
        self.calls.append(f"delete {name} {version}")
        self.versions = [v for v in self.versions if (v.name, v.version) != (name, str(version))]

    def set_model_version_tag(self, name, version, key, value):
        self.calls.append(f"tag {name} {version} {key}={value}")
        [found] = [v for v in self.versions if (v.name, v.version) == (name, str(version))]
        found.tags[key] = value

    def set_terminated(self, run_id, status="FINISHED"):
        self.calls.append(f"run {run_id} {status}")
        self.runs[run_id] = status

    def get_registered_model(self, name):
        self.calls.append(f"get model {name}")
        return type("Model", (), {"name": name, "tags": self.models[name]})

    def delete_registered_model(self, name):
        if self.tracking_uri.startswith("azureml:"):  # registered models are immutable there
            self.calls.append(f"refused delete model {name}")
            raise MlflowException("deleting a registered model is not supported", INVALID_PARAMETER_VALUE)
        self.calls.append(f"delete model {name}")
        del self.models[name]

    def __getattr__(self, name):  # aliases, other searches...: never needed
        if name.startswith("_"):  # an attribute MlflowClient may or may not have (_registry_uri)
            raise AttributeError(name)
        raise AssertionError(f"repair called {name}, which it must not need")


NAMES = ["a", "b", "c"]


@pytest.fixture(params=["http://127.0.0.1:5000", "azureml://eastus.api.azureml.ms/mlflow/v1.0/x"])
def registry(request) -> Registry:
    return Registry(request.param)


def test_a_batch_with_a_version_of_every_member_is_completed_and_its_runs_finished(registry):
    done_before = registry.add("a", "old", NAMES, status="complete", lease=None)
    for name in NAMES:
        registry.add(name, "dead", NAMES)

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
    assert {run for run, status in registry.runs.items() if status == "FINISHED"} == {
        f"run-dead-{n}" for n in NAMES
    }
    assert done_before.tags["lab.batch_status"] == "complete"


def test_a_batch_missing_a_member_is_removed_and_its_runs_failed(registry):
    registry.add("a", "live-before", NAMES, status="complete", lease=None)
    for name in ("a", "b"):
        registry.add(name, "dead", NAMES)

    [result] = repair(registry, NAMES, now=NOW)

    assert (result.action, result.versions, result.note) == (
        "removed",
        ("a version 2", "b version 1"),
        "c had no version",
    )
    assert [(v.name, v.version) for v in registry.versions] == [("a", "1")]
    assert registry.runs["run-dead-a"] == registry.runs["run-dead-b"] == "FAILED"


def test_a_model_the_dead_batch_created_is_deleted_only_where_the_registry_allows_it(registry):
    registry.add("b", "dead", NAMES)  # b was new: the dead batch created it

    repair(registry, NAMES, now=NOW)

    azure = registry.tracking_uri.startswith("azureml:")
    assert ("b" in registry.models) is azure  # Azure ML keeps it (empty); elsewhere it goes
    assert ("delete model b" in registry.calls) is not azure


def test_an_empty_model_another_batch_created_is_kept(registry):
    registry.add("b", "first", NAMES, status="complete", lease=None)
    registry.delete_model_version("b", "1")
    registry.add("b", "dead", NAMES)

    repair(registry, ["b"], now=NOW)

    assert "b" in registry.models and registry.versions == []


def test_a_batch_whose_lease_runs_is_left_alone_and_untouched(registry):
    registry.add("a", "running", NAMES, lease=EXPIRED)
    registry.add("b", "running", NAMES, lease=LIVE)  # renewed by its heartbeat: the process is alive

    [result] = repair(registry, NAMES, now=NOW)

    assert result.action == "left alone" and "still being registered, lease until" in result.note
    assert [c for c in registry.calls if not c.startswith(("search", "refused"))] == []


def test_an_older_version_without_a_lease_counts_it_from_its_creation(registry):
    old = registry.add("a", "old", ["a"], lease=None)
    half = DEFAULT_LEASE_SECONDS / 2
    old.creation_timestamp = int((NOW - half) * 1000)  # created half a lease ago: still inside it

    assert repair(registry, ["a"], now=NOW)[0].action == "left alone"
    assert repair(registry, ["a"], now=NOW + half + 1)[0].action == "completed"


def test_a_dry_run_changes_nothing(registry):
    for name in ("a", "b"):
        registry.add(name, "dead", NAMES)
    registry.add("c", "other", NAMES)
    for name in ("a", "b"):
        registry.add(name, "other", NAMES)

    results = repair(registry, ["a"], dry_run=True, now=NOW)

    assert [(r.batch_id, r.action) for r in results] == [
        ("dead", "would remove"),
        ("other", "would complete"),
    ]
    assert [c for c in registry.calls if not c.startswith(("search", "refused"))] == []
    assert str(results[0]) == "batch dead: would remove a version 1, b version 1 (c had no version)"


def test_completing_deletes_a_twin_only_when_it_comes_from_the_same_run(registry):
    for name in NAMES:
        registry.add(name, "dead", NAMES)
    registry.add("a", "dead", NAMES, run="run-dead-a")  # a retried create: same run, second version
    registry.add("b", "dead", NAMES, run="someone-else")  # same batch tag, another run: not a twin

    [result] = repair(registry, NAMES, now=NOW)

    assert result.action == "completed" and result.note == "deleted twin a version 2"
    assert ("a", "2") not in {(v.name, v.version) for v in registry.versions}
    assert ("b", "2") in {(v.name, v.version) for v in registry.versions}


def test_one_search_per_name_narrowed_by_tag_only_where_the_registry_allows_it(registry):
    registry.add("a", "dead", NAMES)

    find_pending(registry, ["a", "a"])

    searches = sorted(c.removeprefix("search ") for c in registry.calls if c.startswith("search"))
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
    twin = registry.add("a", "batch", ["a"], run="run-a")  # a retried create's first, unanswered version
    registry.add("a", "batch", ["a"], run="run-a", status="complete")  # the one the batch was told about

    [result] = repair(registry, ["a"], now=NOW)

    assert (result.action, result.versions, result.note) == (
        "completed",
        ("a version 2",),
        "deleted twin a version 1",
    )
    assert twin not in registry.versions


class DeleteFails(Registry):
    """The registry whose version deletes raise ``error`` (the version itself is left where it was)."""

    def __init__(self, tracking_uri: str, error: Exception) -> None:
        super().__init__(tracking_uri)
        self.error = error

    def delete_model_version(self, name, version):
        self.calls.append(f"delete {name} {version}")
        raise self.error


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
    registry = DeleteFails("http://127.0.0.1:5000", error)
    for name in ("a", "b"):
        registry.add(name, "dead", NAMES)

    [result] = repair(registry, NAMES, now=NOW)

    assert result.action == action
    if action == "failed":
        assert result.note == f"MlflowException: {error}"
