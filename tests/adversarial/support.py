"""What the adversarial tier shares: an account speaking MLflow's REST API, bob's work, its read-back."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import requests

API = "/api/2.0/mlflow"
MODEL_FILE = b"bob's model bytes: only bob may write them\n"


@dataclass
class Account:
    """One signed-in account on the classroom server, speaking MLflow's REST API."""

    uri: str
    cert: str
    user: str
    password: str
    session: requests.Session = field(default_factory=requests.Session)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(
            method, self.uri + path, auth=(self.user, self.password), verify=self.cert, **kwargs
        )

    def get(self, path: str, **params) -> requests.Response:
        return self.call("GET", path, params=params)

    def post(self, path: str, body: dict | None = None, **kwargs) -> requests.Response:
        return self.call("POST", path, json=body or {}, **kwargs)

    def ok(self, method: str, path: str, **kwargs) -> dict:
        """A call that must succeed (setup, read-back): its JSON."""
        answer = self.call(method, path, **kwargs)
        assert answer.status_code == 200, (
            f"{self.user}: {method} {path} -> {answer.status_code} {answer.text}"
        )
        return answer.json() if answer.content else {}


@dataclass(frozen=True)
class Bob:
    """What bob made before alice's attacks: his experiment, run, model version and its file."""

    experiment_id: str
    run_id: str
    model: str
    version: str
    artifact_path: str  # of the model file, below the proxied artifact root
    dataset_id: str


def experiment_id_of(account: Account, name: str) -> str:
    return account.ok("GET", f"{API}/experiments/get-by-name", params={"experiment_name": name})[
        "experiment"
    ]["experiment_id"]


def bob_state(instructor: Account, bob: Bob) -> dict:
    """Everything of bob's an attack could change, read by the instructor: names, versions, tags, aliases,
    descriptions, his runs, his model file's digest, his dataset and his grants."""
    models = {}
    for name in ("taxi-fare-linear-regression-bob", "taxi-fare-ridge-regression-bob", "taxi-trip-kmeans-bob",
                 "taxi-fare-by-hand-bob"):  # fmt: skip
        model = instructor.ok("GET", f"{API}/registered-models/get", params={"name": name})[
            "registered_model"
        ]
        versions = instructor.ok("GET", f"{API}/model-versions/search", params={"filter": f"name='{name}'"})
        model.pop("last_updated_timestamp", None)
        models[name] = {"model": model, "versions": versions.get("model_versions", [])}
    runs = instructor.ok("POST", f"{API}/runs/search", json={"experiment_ids": [bob.experiment_id]})
    model_file = instructor.call("GET", f"/api/2.0/mlflow-artifacts/artifacts/{bob.artifact_path}")
    dataset = instructor.call("GET", f"/api/3.0/mlflow/datasets/{bob.dataset_id}")
    grants = {
        name: instructor.call(
            "GET", "/api/3.0/mlflow/users/permissions/get",
            params={"username": "bob", "resource_type": "registered_model", "resource_id": name},
        ).text
        for name in models
    }  # fmt: skip
    experiments = {
        name: instructor.call("GET", f"{API}/experiments/get-by-name", params={"experiment_name": name}).text
        for name in ("taxi-model-registry-bob", "taxi-by-hand-bob")
    }
    return {
        "models": models,
        "runs": runs.get("runs", []),
        "model_file": (model_file.status_code, hashlib.sha256(model_file.content).hexdigest()),
        "dataset": (dataset.status_code, dataset.text),
        "grants": grants,
        "experiments": experiments,
    }


def refused(answer: requests.Response, *, by_policy: bool = False) -> None:
    """The answer is a 403 (from the classroom's policy, with its message, when ``by_policy``)."""
    assert answer.status_code == 403, f"expected 403, got {answer.status_code}: {answer.text[:300]}"
    if by_policy:
        assert answer.headers.get("content-type", "").startswith("application/json"), answer.text[:300]
        assert answer.json()["error_code"] == "PERMISSION_DENIED", answer.text
        assert answer.json()["message"].startswith("Permission denied: "), answer.text
