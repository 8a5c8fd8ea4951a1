"""Every route the classroom's MLflow serves is reviewed: a learner's read, a learner's write that MLflow or
the name rule checks, or refused. A route a new MLflow adds fails here until someone classifies it (and is
refused to learners meanwhile); a listed route that MLflow no longer serves fails too."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from labhelpers.classroom import policy
from tests.adversarial.support import refused

# The live app's routes, read in a child process: building the auth app touches MLflow's global Flask app and
# its auth store, which this test process must not keep. Validators are looked up the way MLflow's
# before-request hook finds them: exact (path, method), then its pattern tables.
_LIST_ROUTES = r"""
import json, os, sys, tempfile
folder = tempfile.mkdtemp()
ini = os.path.join(folder, "basic_auth.ini")
with open(ini, "w") as handle:
    handle.write(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{folder}/auth.db\nadmin_username = instructor\n"
        "admin_password = a-long-test-only-password\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
os.environ.update(MLFLOW_AUTH_CONFIG_PATH=ini, MLFLOW_FLASK_SERVER_SECRET_KEY="test",
                  _MLFLOW_SGI_NAME="gunicorn", MLFLOW_BACKEND_STORE_URI=f"sqlite:///{folder}/mlflow.db")
from labhelpers.classroom.auth_app import create_app
from mlflow.server import auth
app = create_app()
tables = [auth.LOGGED_MODEL_BEFORE_REQUEST_VALIDATORS, auth.WEBHOOK_BEFORE_REQUEST_VALIDATORS,
          auth.TRACE_PARAMETERIZED_BEFORE_REQUEST_VALIDATORS]
def validated(rule, method):
    if auth.BEFORE_REQUEST_VALIDATORS.get((rule, method)) is not None:  # some keys map to None: no check
        return True
    sample = rule.replace("<model_id>", "m-1").replace("<webhook_id>", "w-1").replace("<request_id>", "tr-1")
    sample = sample.replace("<trace_id>", "tr-1").replace("<path:artifact_path>", "1/r/artifacts/x")
    if "/mlflow-artifacts/" in rule:  # the artifact proxy's own validator, by method
        return auth._get_proxy_artifact_validator(method, {"artifact_path": "1/r"}) is not None
    return any(pattern.fullmatch(sample) and m == method and check is not None
               for table in tables for (pattern, m), check in table.items())
rows = [[r.rule, m, validated(r.rule, m)] for r in app.url_map.iter_rules()
        for m in sorted(r.methods - {"HEAD", "OPTIONS"})]
print(json.dumps(rows))
"""


@pytest.fixture(scope="module")
def live_routes() -> list[tuple[str, str, bool]]:
    """(rule, method, has an MLflow validator) for every route of the classroom's app."""
    done = subprocess.run(
        [sys.executable, "-c", _LIST_ROUTES], capture_output=True, text=True, timeout=300, check=True
    )
    return [tuple(row) for row in json.loads(done.stdout.splitlines()[-1])]


def test_every_live_route_is_read_written_under_a_check_or_refused(live_routes):
    unreviewed = sorted({f"{m} {rule}" for rule, m, _ in live_routes if not policy.reviewed(rule, m)})
    assert not unreviewed, "routes no table of labhelpers/classroom/policy.py classifies:\n" + "\n".join(
        unreviewed
    )


def test_every_write_a_learner_may_make_is_checked_by_mlflow_or_by_the_name_rule(live_routes):
    unchecked = [
        f"{m} {rule}"
        for rule, m, validated in live_routes
        if policy.decide(rule, m).kind in (policy.VALIDATED, policy.NAMED) and not validated
    ]
    assert not unchecked, "writes open to learners that MLflow does not validate:\n" + "\n".join(unchecked)
    named = {(policy.normalise(rule), m) for rule, m, _ in live_routes}
    stale = sorted(f"{m} {p}" for p, m in {*policy.READS, *policy.WRITES} if (p, m) not in named)
    assert not stale, "listed routes MLflow no longer serves:\n" + "\n".join(stale)


def test_the_route_tables_count(live_routes):
    kinds = [policy.decide(rule, m).kind for rule, m, _ in live_routes]
    counts = {
        kind: kinds.count(kind) for kind in (policy.READ, policy.VALIDATED, policy.NAMED, policy.REFUSED)
    }
    # every write open to learners goes through MLflow's validators; the four creates and renames also through
    # the name rule; the reads are under MLflow's default READ
    assert counts[policy.NAMED] == 8  # 4 routes, each under /api and /ajax-api
    assert counts[policy.REFUSED] > counts[policy.VALIDATED] + counts[policy.NAMED]
    print("route/method pairs:", counts)


def test_every_refused_route_is_refused_to_alice(live_routes, alice):
    """Where MLflow has no validator, the policy alone answers: 403 with its reason. Where MLflow has one, its
    own refusal (403, or 400/404 for the made-up ids) comes first."""
    fill = {"<model_id>": "m-1", "<webhook_id>": "w-1", "<request_id>": "tr-1", "<trace_id>": "tr-1",
            "<path:artifact_path>": "1/r/artifacts/x", "<dataset_id>": "d-1", "<issue_id>": "i-1",
            "<job_id>": "j-1", "<key>": "k", "<tag_key>": "k", "<assessment_id>": "a-1",
            "<workspace_name>": "w", "<path:path>": "x", "<path:filename>": "x"}  # fmt: skip
    tried = 0
    for rule, method, validated in live_routes:
        if policy.decide(rule, method).allowed or rule.startswith("/graphql"):
            continue
        path = rule
        for name, value in fill.items():
            path = path.replace(name, value)
        answer = alice.call(method, path, json={})
        said = f"{method} {path}: {answer.status_code} {answer.text[:200]}"
        if validated:
            assert answer.status_code in (400, 403, 404), said
        else:
            assert answer.status_code == 403 and "application/json" in answer.headers["content-type"], said
            refused(answer, by_policy=True)
            assert policy.decide(rule, method).reason in answer.json()["message"], said
            tried += 1
    assert tried > 50  # route/method pairs whose only guard is the policy (61 in MLflow 3.15.0)


def test_a_refusal_names_the_rule(alice):
    answer = alice.post("/api/3.0/mlflow/gateway/secrets/create", {"secret_name": "x"})
    refused(answer, by_policy=True)
    assert "AI gateway" in answer.json()["message"] and "gateway/secrets/create" in answer.json()["message"]
