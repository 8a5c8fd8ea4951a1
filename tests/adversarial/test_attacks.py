"""alice, signed in with her own password, attacks bob's work. Each test is one attack, named so that a
failure reads as what alice could do; each asserts the refusal and that nothing of bob's changed
(``unchanged``)."""

from __future__ import annotations

import json

from tests.adversarial.support import API, refused

ALICE_MODEL = "taxi-fare-by-hand-alice"
ALICE_EXPERIMENT = "taxi-by-hand-alice"


def _alice_run(alice) -> str:
    experiment = alice.ok(
        "GET", f"{API}/experiments/get-by-name", params={"experiment_name": ALICE_EXPERIMENT}
    )
    run = alice.ok(
        "POST", f"{API}/runs/create", json={"experiment_id": experiment["experiment"]["experiment_id"]}
    )
    return run["run"]["info"]["run_id"]


def _model_exists(instructor, name: str) -> bool:
    return instructor.get(f"{API}/registered-models/get", name=name).status_code == 200


# --- the wildcard model and run-id confusion: MLflow 3.15's two defects (docs/security.md)


def test_alice_cannot_register_a_model_named_star_to_take_over_every_model(alice, instructor, bob, unchanged):
    for prefix in ("/api", "/ajax-api"):
        refused(alice.post(f"{prefix}/2.0/mlflow/registered-models/create", {"name": "*"}), by_policy=True)
    assert not _model_exists(instructor, "*")
    # and so MLflow's grant on '*' never exists: bob's alias stays out of her reach
    refused(
        alice.post(
            f"{API}/registered-models/alias", {"name": bob.model, "alias": "production", "version": "1"}
        )
    )


def test_alice_cannot_overwrite_bobs_model_file_through_upload_artifact_run_uuid(alice, bob, unchanged):
    mine = _alice_run(alice)
    answer = alice.call(
        "POST", "/ajax-api/2.0/mlflow/upload-artifact",
        params={"run_id": mine, "run_uuid": bob.run_id, "path": "model/model.pkl"}, data=b"alice's pickle",
    )  # fmt: skip
    refused(answer, by_policy=True)
    assert "two different runs" in answer.json()["message"]


def test_alice_cannot_log_to_bobs_run_by_naming_it_in_run_uuid(alice, bob, unchanged):
    mine = _alice_run(alice)
    body = {"run_id": mine, "run_uuid": bob.run_id, "key": "rmse", "value": 0.01, "timestamp": 1}
    refused(alice.post(f"{API}/runs/log-metric", body), by_policy=True)
    # the same body as plain text: MLflow's validator then finds no run (400); the policy reads the body
    # as JSON whatever its content type, as MLflow's handlers do
    plain = alice.call(
        "POST", f"{API}/runs/log-metric", data=json.dumps(body), headers={"Content-Type": "text/plain"}
    )
    assert plain.status_code in (400, 403), plain.text


def test_alice_cannot_write_bobs_model_file_through_the_artifact_proxy(alice, bob, unchanged):
    refused(alice.call("PUT", f"/api/2.0/mlflow-artifacts/artifacts/{bob.artifact_path}", data=b"alice's"))


def test_alice_cannot_point_an_experiment_of_hers_at_bobs_artifact_folder(alice, instructor, bob, unchanged):
    body = {"name": "sneaky-alice", "artifact_location": f"mlflow-artifacts:/{bob.experiment_id}"}
    answer = alice.post(f"{API}/experiments/create", body)
    refused(answer, by_policy=True)
    assert "artifact_location" in answer.json()["message"]
    missing = instructor.get(f"{API}/experiments/get-by-name", experiment_name="sneaky-alice")
    assert missing.status_code == 404


# --- names: bob's, a learner's to come, nobody's


def test_alice_cannot_squat_bobs_by_hand_names(alice, instructor, bob, unchanged):
    answer = alice.post(f"{API}/registered-models/create", {"name": "taxi-fare-by-hand-bob"})
    refused(answer, by_policy=True)
    assert "'-alice'" in answer.json()["message"]  # the message says which names are hers
    refused(alice.post(f"{API}/experiments/create", {"name": "taxi-by-hand-bob"}), by_policy=True)


def test_alice_cannot_take_the_names_of_a_learner_who_joins_later(alice, instructor, bob, unchanged):
    for name in ("taxi-fare-linear-regression-carol", "taxi-fare-by-hand-carol"):
        refused(alice.post(f"{API}/registered-models/create", {"name": name}), by_policy=True)
        assert not _model_exists(instructor, name)
    refused(alice.post(f"{API}/experiments/create", {"name": "taxi-model-registry-carol"}), by_policy=True)


def test_alice_cannot_create_names_outside_every_namespace(alice, instructor, bob, unchanged):
    for name in ("taxi-fare-linear-regression", "shared-production", "alice", "-alice", "alice-x"):
        refused(alice.post(f"{API}/registered-models/create", {"name": name}), by_policy=True)
        assert not _model_exists(instructor, name)
    refused(alice.post(f"{API}/experiments/create", {"name": "Default-2"}), by_policy=True)


def test_alice_cannot_rename_her_model_into_bobs_namespace(alice, instructor, bob, unchanged):
    body = {"name": ALICE_MODEL, "new_name": "taxi-fare-by-hand-2-bob"}
    refused(alice.post(f"{API}/registered-models/rename", body), by_policy=True)
    assert _model_exists(instructor, ALICE_MODEL) and not _model_exists(instructor, "taxi-fare-by-hand-2-bob")


def test_alice_cannot_rename_her_experiment_into_bobs_namespace(alice, instructor, bob, unchanged):
    found = alice.ok("GET", f"{API}/experiments/get-by-name", params={"experiment_name": ALICE_EXPERIMENT})
    body = {"experiment_id": found["experiment"]["experiment_id"], "new_name": "taxi-by-hand-2-bob"}
    refused(alice.post(f"{API}/experiments/update", body), by_policy=True)
    again = alice.ok("GET", f"{API}/experiments/get", params={"experiment_id": body["experiment_id"]})
    assert again["experiment"]["name"] == ALICE_EXPERIMENT


# --- bob's registry entries, through routes MLflow validates


def test_alice_cannot_move_bobs_production_alias(alice, bob, unchanged):
    refused(
        alice.post(
            f"{API}/registered-models/alias", {"name": bob.model, "alias": "production", "version": "1"}
        )
    )
    refused(
        alice.call(
            "DELETE", f"{API}/registered-models/alias", json={"name": bob.model, "alias": "production"}
        )
    )


def test_alice_cannot_delete_or_retag_bobs_version(alice, bob, unchanged):
    refused(
        alice.call("DELETE", f"{API}/model-versions/delete", json={"name": bob.model, "version": bob.version})
    )
    tag = {"name": bob.model, "version": bob.version, "key": "lifecycle", "value": "refused"}
    refused(alice.post(f"{API}/model-versions/set-tag", tag))
    described = {"name": bob.model, "version": bob.version, "description": "alice was here"}
    refused(alice.call("PATCH", f"{API}/model-versions/update", json=described))


def test_alice_cannot_add_a_version_to_bobs_model_or_delete_it(alice, bob, unchanged):
    source = f"mlflow-artifacts:/{bob.experiment_id}/{bob.run_id}/artifacts/model"
    refused(alice.post(f"{API}/model-versions/create", {"name": bob.model, "source": source}))
    refused(alice.call("DELETE", f"{API}/registered-models/delete", json={"name": bob.model}))


def test_alice_cannot_write_to_bobs_runs_or_experiment(alice, bob, unchanged):
    refused(alice.post(f"{API}/runs/create", {"experiment_id": bob.experiment_id}))
    refused(alice.post(f"{API}/runs/set-tag", {"run_id": bob.run_id, "key": "note", "value": "alice"}))
    refused(alice.post(f"{API}/runs/delete", {"run_id": bob.run_id}))
    tag = {"experiment_id": bob.experiment_id, "key": "note", "value": "alice"}
    refused(alice.post(f"{API}/experiments/set-experiment-tag", tag))
    refused(alice.post(f"{API}/logged-models", {"experiment_id": bob.experiment_id, "name": "x"}))


# --- routes MLflow leaves unvalidated, and the accounts


def test_alice_cannot_delete_bobs_dataset(alice, bob, unchanged):
    refused(alice.call("DELETE", f"/api/3.0/mlflow/datasets/{bob.dataset_id}"), by_policy=True)
    refused(alice.call("PATCH", f"/api/3.0/mlflow/datasets/{bob.dataset_id}/tags", json={"tags": {"a": "b"}}))


def test_alice_cannot_create_a_server_wide_gateway_secret(alice, instructor, bob, unchanged):
    before = instructor.ok("GET", "/api/3.0/mlflow/gateway/secrets/list")
    body = {"secret_name": "alice-key", "secret_value": {"api_key": "x"}, "provider": "openai"}
    refused(alice.post("/api/3.0/mlflow/gateway/secrets/create", body), by_policy=True)
    assert instructor.ok("GET", "/api/3.0/mlflow/gateway/secrets/list") == before


def test_alice_cannot_create_a_webhook_that_reports_registry_events(alice, instructor, bob, unchanged):
    body = {
        "name": "spy",
        "url": "http://127.0.0.1:9/",
        "events": [{"entity": "model_version", "action": "created"}],
    }
    refused(alice.post(f"{API}/webhooks", body))  # MLflow's webhook validator refuses first
    assert instructor.ok("GET", f"{API}/webhooks").get("webhooks", []) == []


def test_alice_cannot_list_every_learners_account(alice, instructor, bob, unchanged):
    refused(alice.get(f"{API}/users/list"), by_policy=True)
    refused(alice.get("/ajax-api/2.0/mlflow/users/list"), by_policy=True)
    names = {user["username"] for user in instructor.ok("GET", f"{API}/users/list")["users"]}
    assert {"alice", "bob", "instructor"} <= names  # the instructor still sees the class


def test_alice_cannot_grant_herself_bobs_model_or_revoke_bobs_grant(alice, bob, unchanged):
    grant = {"username": "alice", "resource_type": "registered_model", "resource_id": bob.model,
             "permission": "MANAGE"}  # fmt: skip
    refused(
        alice.post("/api/3.0/mlflow/users/permissions/grant", grant)
    )  # MLflow's validator, then the policy
    revoke = {"username": "bob", "resource_type": "registered_model", "resource_id": bob.model}
    refused(alice.post("/api/3.0/mlflow/users/permissions/revoke", revoke))


def test_alice_cannot_make_accounts_change_bobs_password_or_become_admin(alice, accounts, bob, unchanged):
    refused(alice.post(f"{API}/users/create", {"username": "mallory", "password": "x" * 16}))
    refused(
        alice.call("PATCH", f"{API}/users/update-password", json={"username": "bob", "password": "y" * 16})
    )
    refused(alice.call("PATCH", f"{API}/users/update-admin", json={"username": "alice", "is_admin": True}))
    assert accounts("bob").get(f"{API}/users/current").status_code == 200  # bob's password still works


def test_alice_cannot_run_server_side_jobs_or_delete_demo_data(alice, bob, unchanged):
    refused(alice.post("/ajax-api/3.0/mlflow/demo/delete"), by_policy=True)
    refused(alice.post("/ajax-api/3.0/mlflow/genai/evaluate/invoke", {}), by_policy=True)


def test_alice_cannot_register_a_server_file_as_a_model_version(alice, instructor, classroom, unchanged):
    s, _, _ = classroom
    for source in (str(s.root / "credentials.json"), f"file://{s.root}", f"{s.root}/secrets.json"):
        answer = alice.post(f"{API}/model-versions/create", {"name": ALICE_MODEL, "source": source})
        assert answer.status_code in (400, 403), f"{source}: {answer.status_code} {answer.text[:200]}"
    versions = instructor.ok(
        "GET", f"{API}/model-versions/search", params={"filter": f"name='{ALICE_MODEL}'"}
    )
    assert not any(str(s.root) in v["source"] for v in versions.get("model_versions", []))
