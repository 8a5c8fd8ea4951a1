"""Cleanup after class, offline: a fake MLClient holding azure-ai-ml's own entity objects.

The fake answers as azure-ai-ml's operations do (``get`` raises ``ResourceNotFoundError`` for a missing name,
``begin_*`` return pollers, ``models.list`` lists active versions only) and records every change, so the
tests see exactly which of two learners' resources the command touched.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labhelpers.azure.ml import cleanup as lab_cleanup
from labhelpers.azure.ml import connect as lab_azure
from labhelpers.azure.ml.connect import Connection
from labhelpers.foundation.learner import LearnerError

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]


class _Done:
    def result(self):
        return None


def _missing(kind: str, name: str):
    from azure.core.exceptions import ResourceNotFoundError

    return ResourceNotFoundError(f"{kind} {name} not found")


class FakeWorkspace:
    """The parts of an ``MLClient`` cleanup uses, over azure-ai-ml entities."""

    def __init__(self):
        from azure.ai.ml.entities import (
            ComputeInstance,
            ManagedOnlineDeployment,
            ManagedOnlineEndpoint,
            Model,
        )

        self.changes: list[tuple[str, ...]] = []
        self.endpoints = {n: ManagedOnlineEndpoint(name=n) for n in ("taxi-fare-alice", "taxi-fare-bob")}
        self.deployments = {
            e: [ManagedOnlineDeployment(name=d, endpoint_name=e) for d in ("production", "staging")]
            for e in self.endpoints
        }
        self.computes = {}
        for name, state in (("ci-alice", "Running"), ("ci-bob", "Running")):
            instance = ComputeInstance(name=name, size="Standard_DS3_v2")
            instance._state = state  # noqa: SLF001 - azure-ai-ml's ComputeInstance.state is read-only
            self.computes[name] = instance
        self.versions = {
            f"{base}-{who}": [Model(name=f"{base}-{who}", version=str(v)) for v in (1, 2, 3)]
            for base in ("taxi-fare-linear-regression", "taxi-fare-ridge-regression", "taxi-trip-kmeans")
            for who in ("alice", "bob")
        }
        self.archived: set[tuple[str, str]] = {("taxi-fare-linear-regression-alice", "1")}
        workspace = self
        self.online_endpoints = SimpleNamespace(get=self._endpoint, begin_delete=self._delete_endpoint)
        self.online_deployments = SimpleNamespace(list=lambda name: list(workspace.deployments[name]))
        self.compute = SimpleNamespace(
            get=self._compute, begin_stop=self._stop, begin_delete=self._delete_compute
        )
        self.models = SimpleNamespace(list=self._models, archive=self._archive)

    def _endpoint(self, name):
        if name not in self.endpoints:
            raise _missing("endpoint", name)
        return self.endpoints[name]

    def _delete_endpoint(self, name=None):
        self.changes.append(("delete endpoint", name))
        del self.endpoints[name], self.deployments[name]  # Azure ML deletes the deployments with it
        return _Done()

    def _compute(self, name):
        if name not in self.computes:
            raise _missing("compute", name)
        return self.computes[name]

    def _stop(self, name):
        self.changes.append(("stop", name))
        self.computes[name]._state = "Stopped"  # noqa: SLF001 - read-only state, as above
        return _Done()

    def _delete_compute(self, name):
        self.changes.append(("delete compute", name))
        del self.computes[name]
        return _Done()

    def _models(self, name=None):
        if name not in self.versions:
            raise _missing("model", name)
        return [m for m in self.versions[name] if (m.name, m.version) not in self.archived]

    def _archive(self, name, version=None):
        self.changes.append(("archive", name, version))
        self.archived.add((name, version))


@pytest.fixture
def workspace():
    return FakeWorkspace()


def _bob_untouched(workspace) -> None:
    assert "taxi-fare-bob" in workspace.endpoints and len(workspace.deployments["taxi-fare-bob"]) == 2
    assert workspace.computes["ci-bob"].state == "Running"
    assert not any(name.endswith("-bob") for name, _ in workspace.archived)


def test_the_plan_lists_only_the_learner_s_resources_and_changes_nothing(workspace):
    plan = lab_cleanup.plan_cleanup(workspace, "alice")
    assert (plan.endpoint, plan.deployments) == ("taxi-fare-alice", ["production", "staging"])
    assert (plan.instance, plan.instance_state) == ("ci-alice", "Running")
    assert plan.versions == [
        ("taxi-fare-linear-regression-alice", "2"),  # version 1 is archived already
        ("taxi-fare-linear-regression-alice", "3"),
        *[("taxi-fare-ridge-regression-alice", v) for v in ("1", "2", "3")],
        *[("taxi-trip-kmeans-alice", v) for v in ("1", "2", "3")],
    ]  # no taxi-fare-by-hand-alice: not registered, not an error
    text = plan.describe()
    assert "delete endpoint taxi-fare-alice (with its deployments: production, staging)" in text
    assert "stop compute instance ci-alice (now Running)" in text
    assert "archive taxi-trip-kmeans-alice version(s) 1, 2, 3" in text and "bob" not in text
    assert workspace.changes == []


def test_cleanup_deletes_the_endpoint_stops_the_instance_and_archives_every_version(workspace):
    said: list[str] = []
    done = lab_cleanup.run_cleanup(workspace, lab_cleanup.plan_cleanup(workspace, "alice"), echo=said.append)
    assert said == done and len(done) == 1 + 1 + 8
    assert workspace.changes[:2] == [("delete endpoint", "taxi-fare-alice"), ("stop", "ci-alice")]
    assert "taxi-fare-alice" not in workspace.endpoints and workspace.computes["ci-alice"].state == "Stopped"
    models = (
        "taxi-fare-linear-regression-alice",
        "taxi-fare-ridge-regression-alice",
        "taxi-trip-kmeans-alice",
    )
    archived = {tuple(change[1:]) for change in workspace.changes[2:]}
    assert archived == {(m, v) for m in models for v in ("1", "2", "3")} - {(models[0], "1")}
    _bob_untouched(workspace)
    again = lab_cleanup.plan_cleanup(workspace, "alice")  # a second run finds only the stopped instance
    assert (again.endpoint, again.versions, again.instance_state) == (None, [], "Stopped")
    done = lab_cleanup.run_cleanup(workspace, again, echo=lambda _: None)
    assert done == ["compute instance ci-alice is stopped already"]


def test_delete_compute_deletes_the_instance_and_another_name_can_be_given(workspace):
    plan = lab_cleanup.plan_cleanup(workspace, "alice", instance="ci-bob")
    assert plan.instance == "ci-bob"
    plan = lab_cleanup.plan_cleanup(workspace, "alice")
    lab_cleanup.run_cleanup(workspace, plan, delete_compute=True, echo=lambda _: None)
    assert "ci-alice" not in workspace.computes and ("delete compute", "ci-alice") in workspace.changes
    _bob_untouched(workspace)


def test_an_invalid_learner_is_refused_and_other_errors_are_not_taken_for_missing(workspace):
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(LearnerError):
        lab_cleanup.plan_cleanup(workspace, "Alice")

    def forbidden(name):
        raise HttpResponseError(message="(AuthorizationFailed) no computes/read")

    workspace.compute.get = forbidden
    with pytest.raises(HttpResponseError, match="AuthorizationFailed"):
        lab_cleanup.plan_cleanup(workspace, "alice")


def test_the_command_lists_then_acts_only_when_asked(workspace, monkeypatch, capsys):
    from labhelpers.cli import main

    monkeypatch.setattr(
        lab_azure, "connect", lambda backend, **kwargs: Connection("azure", "azureml://x/ws", "ws", workspace)
    )
    assert main(["azure", "cleanup", "--learner", "alice", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "delete endpoint taxi-fare-alice" in out and "Nothing changed (--dry-run)." in out
    assert workspace.changes == []
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    assert main(["azure", "cleanup", "--learner", "alice"]) == 1
    assert workspace.changes == []
    assert main(["azure", "cleanup", "--learner", "alice", "--yes"]) == 0
    assert "deleted endpoint taxi-fare-alice" in capsys.readouterr().out
    _bob_untouched(workspace)
    assert main(["azure", "cleanup", "--learner", "Bad!"]) == 2  # refused before signing in
