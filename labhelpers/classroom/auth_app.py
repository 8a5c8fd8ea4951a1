"""The classroom server's auth app: MLflow's basic-auth app plus the classroom's learner policy.

Registered as the ``mlflow.app`` entry point ``lab-classroom`` (``pyproject.toml``) and started by
:mod:`labhelpers.classroom.stack` with ``mlflow server --app-name lab-classroom``. :func:`create_app` builds
MLflow's own basic-auth app (accounts, its validators, its grants) and adds one before-request hook that runs
after MLflow's has signed the caller in and checked its grants, and applies :mod:`labhelpers.classroom.policy`
to every account but the instructor (MLflow's admin):

- a route that is neither a read nor one of the learner's writes gets 403, naming why;
- a create or rename outside the learner's namespace gets 403, naming the names that are theirs;
- a request that names two runs (``run_id`` and ``run_uuid``) gets 403 before either is touched.

A refusal is a JSON error (``PERMISSION_DENIED``) whose message says the rule, so MLflow's client shows it. It
comes before the handler runs: nothing is half-written. May import ``labhelpers.classroom.policy``; imports
MLflow's server modules only inside :func:`create_app` (they start the auth store).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labhelpers.classroom import policy
from labhelpers.classroom.roster import INSTRUCTOR
from labhelpers.files.artifacts import write_text_atomically

#: The entry point's name: ``mlflow server --app-name lab-classroom``.
APP_NAME = "lab-classroom"

#: The body field each name-checked route creates or renames to.
_NAME_FIELDS = {
    "/2.0/mlflow/experiments/create": "name",
    "/2.0/mlflow/experiments/update": "new_name",
    "/2.0/mlflow/registered-models/create": "name",
    "/2.0/mlflow/registered-models/rename": "new_name",
}


def _refusal(message: str) -> Any:
    from flask import jsonify

    answer = jsonify(error_code="PERMISSION_DENIED", message=f"Permission denied: {message}.")
    answer.status_code = 403
    return answer


def _body() -> object:
    """The JSON body as MLflow's handlers read it (whatever the content type), parsed once per request."""
    from flask import request

    return request.get_json(force=True, silent=True)


def _names_two_runs() -> bool:
    """Whether the request names two different runs. A JSON body (POST, PATCH, DELETE) is parsed only when
    its bytes mention ``run_uuid``, the one field that can name a second run. An artifact upload's body is
    never read here: MLflow streams it to the file, and a body read first would leave the file empty."""
    from flask import request

    body = None
    if request.method in ("POST", "PATCH", "DELETE") and "/mlflow-artifacts/" not in request.path:
        body = _body() if b"run_uuid" in request.get_data(cache=True) else None
    return len(policy.run_ids_named(request.args.to_dict(flat=False), body)) > 1


def _named_problem(path: str, learner: str, body: object) -> str | None:
    """The name rule for a create or rename (and no custom artifact location on a new experiment)."""
    fields = body if isinstance(body, dict) else {}
    field = _NAME_FIELDS[path]
    if field == "new_name" and "new_name" not in fields and path.endswith("experiments/update"):
        return None  # an experiment update without a rename
    if path.endswith("experiments/create") and fields.get("artifact_location"):
        return (
            "a learner's experiment keeps the server's artifact location (an artifact_location of your own "
            "could point into another learner's files); create it without one"
        )
    return policy.name_problem(fields.get(field), learner)


def write_auth_config(root: Path, auth_uri: str, admin_password: str) -> Path:
    """MLflow's basic-auth configuration (``basic_auth.ini``, 0600: it holds the admin password): READ for
    everyone by default, creators get MANAGE; the instructor is the admin."""
    path = root / "basic_auth.ini"
    text = (
        "[mlflow]\n"
        "# Learners read every model; they change only what they were granted (their namespace).\n"
        "default_permission = READ\n"
        f"database_uri = {auth_uri}\n"
        f"admin_username = {INSTRUCTOR}\n"
        f"admin_password = {admin_password}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        "# A checked password is remembered for 5 minutes: PBKDF2 on every request would cost a cohort\n"
        "# most of the CPU. The price: a changed password may be accepted by another worker until then.\n"
        "auth_cache_ttl_seconds = 300\n"
    )
    write_text_atomically(path, text, mode=0o600)
    return path


def learner_policy() -> Any:
    """The before-request hook: None to let the request through, or a 403 response saying why not."""
    from flask import g, request

    user = getattr(g, "mlflow_authenticated_user", None)
    if user is None or request.url_rule is None:
        return None  # basic-auth signed nobody in (static files, health) or no route matched: MLflow answers
    if _names_two_runs():
        return _refusal(
            "this request names two different runs (run_id and run_uuid); MLflow would check one and write "
            "the other. Name one run, in run_id"
        )
    decision = policy.decide(request.url_rule.rule, request.method)
    if decision.kind in (policy.READ, policy.VALIDATED):
        return None  # MLflow's validator for the route has already checked the learner's grant
    from mlflow.server.auth import sender_is_admin

    if sender_is_admin():
        return None
    if decision.kind == policy.NAMED:
        problem = _named_problem(policy.normalise(request.url_rule.rule), user, _body())
        return None if problem is None else _refusal(problem)
    return _refusal(f"{request.method} {request.path} is not open to learners: {decision.reason}")


def create_app() -> Any:
    """MLflow's basic-auth app (``mlflow.server.auth.create_app``) with the learner policy after its checks.

    Returns:
        The Flask app gunicorn serves.
    """
    from mlflow.server.auth import create_app as basic_auth_app

    app = basic_auth_app()
    app.before_request(learner_policy)  # after basic-auth's hook: the caller is signed in and authorized
    return app
