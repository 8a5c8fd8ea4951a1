"""The adversarial tier: alice, a curious learner, attacks bob's work on the classroom server.

Every attack is made the way a learner could make it: with alice's own password, through MLflow's documented
REST API (``/api/...``, and the UI's ``/ajax-api/...`` twin), against the session's classroom server
(tests/conftest.py). Each test names its attack, asserts the refusal, and reads back through the instructor's
account that nothing of bob's changed: :func:`bob_state` is everything of bob's an attack could touch.
"""

from __future__ import annotations

import pytest

from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials
from tests.adversarial.support import API, MODEL_FILE, Account, Bob, bob_state, experiment_id_of


@pytest.fixture(scope="session")
def accounts(classroom):
    """``accounts(user)``: the signed-in account of ``user`` (a learner or ``instructor``)."""
    s, record, _ = classroom

    def account(user: str) -> Account:
        credentials = load_credentials(s.root / CREDENTIALS_FILE)  # read anew: a test may add a learner
        assert credentials is not None
        return Account(record["uri"], record["cert"], user, credentials.password(user))

    return account


@pytest.fixture(scope="session")
def alice(accounts):
    return accounts("alice")


@pytest.fixture(scope="session")
def instructor(accounts):
    return accounts("instructor")


@pytest.fixture(scope="session")
def bob(accounts, instructor) -> Bob:
    """bob's work, made by bob through the API: a run with a model file, version 1 at @production, tags."""
    me = accounts("bob")
    experiment_id = experiment_id_of(me, "taxi-model-registry-bob")
    run = me.ok("POST", f"{API}/runs/create", json={"experiment_id": experiment_id, "run_name": "bob-train"})
    run_id = run["run"]["info"]["run_id"]
    me.ok(
        "POST", f"{API}/runs/log-metric", json={"run_id": run_id, "key": "rmse", "value": 3.5, "timestamp": 0}
    )
    artifact_path = f"{experiment_id}/{run_id}/artifacts/model/model.pkl"
    me.ok("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{artifact_path}", data=MODEL_FILE)
    stored = me.call("GET", f"/api/2.0/mlflow-artifacts/artifacts/{artifact_path}")
    assert stored.content == MODEL_FILE, "the upload through the policy must store the bytes it was sent"
    model = "taxi-fare-linear-regression-bob"
    source = f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts/model"
    version = me.ok(
        "POST", f"{API}/model-versions/create", json={"name": model, "source": source, "run_id": run_id}
    )["model_version"]["version"]
    tag = {"name": model, "version": version, "key": "lifecycle", "value": "production"}
    me.ok("POST", f"{API}/model-versions/set-tag", json=tag)
    me.ok(
        "POST",
        f"{API}/registered-models/alias",
        json={"name": model, "alias": "production", "version": version},
    )
    me.ok("POST", f"{API}/registered-models/set-tag", json={"name": model, "key": "owner", "value": "bob"})
    # A dataset in bob's experiment (learners cannot create datasets: the instructor makes it for bob)
    dataset = instructor.ok(
        "POST",
        "/api/3.0/mlflow/datasets/create",
        json={"name": "bob-eval", "experiment_ids": [experiment_id]},
    )
    return Bob(experiment_id, run_id, model, str(version), artifact_path, dataset["dataset"]["dataset_id"])


@pytest.fixture
def unchanged(instructor, bob):
    """Reads bob's state before the test and asserts, after it, that nothing of it changed."""
    before = bob_state(instructor, bob)
    assert before["model_file"][0] == 200
    yield before
    assert bob_state(instructor, bob) == before, "an attack changed bob's work"
