"""Accounts and namespaces on the classroom server, created by the instructor through MLflow's REST API.

Under ``default_permission = READ`` every learner reads every model, and changes only what they hold a grant
on. MLflow grants MANAGE to whoever creates an experiment or a registered model, and lets any account create
any name. So the instructor creates every name the course gives each learner up front (two experiments, the
three registered models and notebook 02's by-hand model) and grants that learner MANAGE on them, and the
classroom's policy (:mod:`labhelpers.classroom.policy`) refuses a learner any name outside their namespace:
the server refuses (403) any other learner's write. One experiment per learner: under READ, only a holder of a
grant on an experiment may create runs in it.

MLflow 3.15's workspaces with role-based access are another way to separate learners, but Azure ML has nothing
like them; the name-based namespace works on both, so it is the one the course uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import requests

from labhelpers.classroom.roster import INSTRUCTOR, Credentials
from labhelpers.foundation.errors import ServerError
from labhelpers.foundation.learner import LEARNER_TAG, namespace

MANAGE = "MANAGE"
_EXISTS = "RESOURCE_ALREADY_EXISTS"


class Admin:
    """The instructor's REST session on the classroom server."""

    def __init__(self, uri: str, cert: str | Path, password: str, user: str = INSTRUCTOR):
        self.uri = uri.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (user, password)
        self.session.verify = str(cert)
        self.session.trust_env = False  # a classroom on 127.0.0.1 must not go through a proxy

    def call(self, method: str, path: str, *, ok_codes: tuple[str, ...] = (), **kwargs: Any) -> dict:
        """One API call; an MLflow error whose code is in ``ok_codes`` counts as success (returns {}).

        Raises:
            ServerError: Any other error answer (401 means the stored instructor password is wrong).
        """
        answer = self.session.request(method, self.uri + path, timeout=60, **kwargs)
        if answer.status_code == 200:
            return answer.json() if answer.content else {}
        try:
            code = answer.json().get("error_code", "")
        except ValueError:
            code = ""
        if code in ok_codes:
            return {}
        if answer.status_code == 401:
            raise ServerError(
                f"The classroom server refused the instructor's password (401) on {path}: was "
                "credentials.json replaced? Restore it, or reset the classroom folder."
            )
        raise ServerError(f"{method} {path} failed: HTTP {answer.status_code} {answer.text[:300]}")

    def find(self, path: str, **params: str) -> dict | None:
        """A GET that returns None for a missing resource (MLflow answers 404)."""
        answer = self.session.get(self.uri + path, params=params, timeout=60)
        if answer.status_code == 404:
            return None
        if answer.status_code != 200:
            raise ServerError(f"GET {path} failed: HTTP {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def grant(self, user: str, resource_type: str, resource_id: str) -> None:
        """Grant ``user`` MANAGE on one resource (an existing grant is left as it is)."""
        payload = {"username": user, "resource_type": resource_type, "resource_id": resource_id}
        self.call(
            "POST",
            "/api/3.0/mlflow/users/permissions/grant",
            json={**payload, "permission": MANAGE},
            ok_codes=(_EXISTS,),
        )


def create_user(admin: Admin, user: str, password: str) -> None:
    """Create an account; an existing one keeps its password."""
    admin.call(
        "POST",
        "/api/2.0/mlflow/users/create",
        json={"username": user, "password": password},
        ok_codes=(_EXISTS,),
    )


def prepare_namespace(admin: Admin, learner: str) -> None:
    """Create every name the course gives the learner where missing, and grant the learner MANAGE on each.

    The course's experiment and three registered models, and notebook 02's by-hand model and experiment:
    created by the instructor before any learner signs in, so no other learner could take one first (the
    classroom's policy refuses learners any name outside their own namespace as well).
    """
    from labhelpers.registry.register import DATASET, FRAMEWORK

    space = namespace(learner)
    for experiment in (space.experiment, space.by_hand_experiment):
        found = admin.find("/api/2.0/mlflow/experiments/get-by-name", experiment_name=experiment)
        if found is None:
            found = admin.call("POST", "/api/2.0/mlflow/experiments/create", json={"name": experiment})
            experiment_id = found["experiment_id"]
        else:
            experiment_id = found["experiment"]["experiment_id"]
        admin.grant(learner, "experiment", str(experiment_id))
    tags = [{"key": "dataset", "value": DATASET}, {"key": "framework", "value": FRAMEWORK}]
    tags.append({"key": LEARNER_TAG, "value": learner})
    for name in (*space.model_names, space.by_hand):
        if admin.find("/api/2.0/mlflow/registered-models/get", name=name) is None:
            admin.call(
                "POST",
                "/api/2.0/mlflow/registered-models/create",
                json={"name": name, "tags": tags},
                ok_codes=(_EXISTS,),
            )
        admin.grant(learner, "registered_model", name)


def sync_accounts(uri: str, cert: str | Path, credentials: Credentials, learners: list[str]) -> None:
    """Make sure every roster learner has an account and a prepared namespace (idempotent).

    Args:
        uri: The classroom server's URI.
        cert: The certificate to trust.
        credentials: The stored passwords.
        learners: The roster's learners.
    """
    from concurrent.futures import ThreadPoolExecutor

    def one(learner: str) -> None:
        admin = Admin(uri, cert, credentials.instructor)  # a session per thread: Session is not thread-safe
        create_user(admin, learner, credentials.password(learner))
        prepare_namespace(admin, learner)

    # about ten requests per learner, each waiting on the server: a few at once cut a cohort's setup time
    with ThreadPoolExecutor(max_workers=6) as pool:
        for done in [pool.submit(one, learner) for learner in learners]:
            done.result()


def export_block(uri: str, cert: str | Path, user: str, password: str) -> str:
    """The shell lines a learner pastes to use the classroom server (and LAB_LEARNER for their names)."""
    lines = [
        f"export MLFLOW_TRACKING_URI={uri}",
        f"export MLFLOW_TRACKING_USERNAME={user}",
        f"export MLFLOW_TRACKING_PASSWORD={password}",
        f"export MLFLOW_TRACKING_SERVER_CERT_PATH={cert}",
    ]
    if user != INSTRUCTOR:
        lines.append(f"export LAB_LEARNER={user}")
    return "\n".join(lines)
