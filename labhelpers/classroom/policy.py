"""What a learner may do on the classroom server: the rules the classroom's auth app enforces.

MLflow's basic-auth checks permissions on the routes it has validators for and lets every other route through,
and it lets any account create any name (then grants it MANAGE). That is not a sandbox between learners
(docs/security.md lists the holes). This module decides, for one signed-in learner and one request:

- **Routes**: an explicit allow-list. A learner reads (:data:`READS`) and makes the writes the course,
  the ``ML/`` scripts and the MLflow UI make (:data:`WRITES`), each of them checked by MLflow's own
  validators or by the name rule below. Every other route is refused with 403, so a route a new MLflow
  adds is refused until someone reviews it (``tests/adversarial/test_routes.py`` fails on any live route
  that is in no table).
- **Names**: registered models and experiments are created or renamed only inside the learner's namespace, a
  name ending in ``-<learner>`` (:func:`name_problem`). ``*`` and every other learner's names are refused.
- **One run per request**: a request naming a run twice (``run_id`` and ``run_uuid``) with two different
  values is refused: MLflow authorizes one and writes the other (:func:`run_ids_named`).

The instructor (MLflow's admin) is not bound by the tables. Pure functions on plain values: the Flask side is
:mod:`labhelpers.classroom.auth_app`. May import ``labhelpers.foundation``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Why a decision was made; the values name the table that decided.
READ, VALIDATED, NAMED, REFUSED = "read", "validated by MLflow", "name rule", "refused"

#: Every route a learner may read (path as Flask declares it, without the /api or /ajax-api prefix).
#: GET unless marked: the POST searches are reads whose body is a query.
READS: frozenset[tuple[str, str]] = frozenset(
    [(path, "GET") for path in (
        "/", "/health", "/version", "/static-files/<path:path>", "/build/<path:filename>", "/graphql",
        "/get-artifact", "/model-versions/get-artifact", "/signup",
        "/2.0/mlflow-artifacts/artifacts", "/2.0/mlflow-artifacts/artifacts/<path:artifact_path>",
        "/2.0/mlflow-artifacts/presigned/<path:artifact_path>",
        "/2.0/mlflow/artifacts/list", "/2.0/mlflow/experiments/get", "/2.0/mlflow/experiments/get-by-name",
        "/2.0/mlflow/experiments/search", "/2.0/mlflow/get-online-trace-details",
        "/2.0/mlflow/get-trace-artifact", "/2.0/mlflow/logged-models/<model_id>",
        "/2.0/mlflow/logged-models/<model_id>/artifacts/directories",
        "/2.0/mlflow/logged-models/<model_id>/artifacts/files", "/2.0/mlflow/metrics/get-history",
        "/2.0/mlflow/metrics/get-history-bulk", "/2.0/mlflow/metrics/get-history-bulk-interval",
        "/2.0/mlflow/model-versions/get", "/2.0/mlflow/model-versions/get-download-uri",
        "/2.0/mlflow/model-versions/search", "/2.0/mlflow/registered-models/alias",
        "/2.0/mlflow/registered-models/get", "/2.0/mlflow/registered-models/get-latest-versions",
        "/2.0/mlflow/registered-models/search", "/2.0/mlflow/runs/get", "/2.0/mlflow/traces",
        "/2.0/mlflow/traces/<request_id>/info", "/2.0/mlflow/unified-traces", "/2.0/mlflow/users/current",
        "/2.0/mlflow/users/get", "/3.0/mlflow/datasets/<dataset_id>",
        "/3.0/mlflow/datasets/<dataset_id>/experiment-ids", "/3.0/mlflow/datasets/<dataset_id>/records",
        "/3.0/mlflow/datasets/search", "/3.0/mlflow/get-trace-artifact", "/3.0/mlflow/issues/<issue_id>",
        "/3.0/mlflow/label-schemas/get", "/3.0/mlflow/label-schemas/get-by-name",
        "/3.0/mlflow/label-schemas/list", "/3.0/mlflow/prompt-optimization/jobs/<job_id>",
        "/3.0/mlflow/prompt-optimization/jobs/search", "/3.0/mlflow/review-queues/get",
        "/3.0/mlflow/review-queues/get-by-name", "/3.0/mlflow/review-queues/items/list",
        "/3.0/mlflow/review-queues/list", "/3.0/mlflow/scorers/get", "/3.0/mlflow/scorers/list",
        "/3.0/mlflow/scorers/online-configs", "/3.0/mlflow/scorers/versions", "/3.0/mlflow/server-info",
        "/3.0/mlflow/traces/<trace_id>", "/3.0/mlflow/traces/<trace_id>/assessments/<assessment_id>",
        "/3.0/mlflow/traces/batchGet", "/3.0/mlflow/traces/get", "/3.0/mlflow/users/current/permissions",
        "/3.0/mlflow/users/permissions/get", "/3.0/mlflow/users/permissions/list",
        "/3.0/mlflow/users/roles/list",
    )]
    + [(path, "POST") for path in (
        "/graphql",  # the UI's run and model pages; MLflow's schema has no mutation but an echo
        "/2.0/mlflow/experiments/search", "/2.0/mlflow/runs/search", "/2.0/mlflow/logged-models/search",
        "/2.0/mlflow/registered-models/get-latest-versions", "/2.0/mlflow/experiments/search-datasets",
        "/3.0/mlflow/traces/search", "/3.0/mlflow/traces/batchGetInfos", "/3.0/mlflow/traces/metrics",
        "/3.0/mlflow/traces/calculate-filter-correlation", "/3.0/mlflow/datasets/search",
    )]
)  # fmt: skip

_RUNS = ("create", "update", "delete", "restore", "log-batch", "log-metric", "log-parameter", "log-inputs",
         "log-model", "outputs", "set-tag", "delete-tag")  # fmt: skip

#: The writes a learner makes, each checked by MLflow's validator for that route (the learner's grant on the
#: experiment, run or registered model) and, where the value is :data:`NAMED`, by the name rule as well.
WRITES: Mapping[tuple[str, str], str] = {
    ("/2.0/mlflow/experiments/create", "POST"): NAMED,
    ("/2.0/mlflow/experiments/update", "POST"): NAMED,  # a rename: the new name is checked
    ("/2.0/mlflow/experiments/set-experiment-tag", "POST"): VALIDATED,
    ("/2.0/mlflow/experiments/delete-experiment-tag", "POST"): VALIDATED,
    **{(f"/2.0/mlflow/runs/{verb}", "POST"): VALIDATED for verb in _RUNS},
    ("/2.0/mlflow/upload-artifact", "POST"): VALIDATED,  # and the one-run rule, as every request
    ("/2.0/mlflow-artifacts/artifacts/<path:artifact_path>", "PUT"): VALIDATED,
    ("/2.0/mlflow/registered-models/create", "POST"): NAMED,
    ("/2.0/mlflow/registered-models/rename", "POST"): NAMED,
    ("/2.0/mlflow/registered-models/update", "PATCH"): VALIDATED,
    ("/2.0/mlflow/registered-models/delete", "DELETE"): VALIDATED,
    ("/2.0/mlflow/registered-models/set-tag", "POST"): VALIDATED,
    ("/2.0/mlflow/registered-models/delete-tag", "DELETE"): VALIDATED,
    ("/2.0/mlflow/registered-models/alias", "POST"): VALIDATED,
    ("/2.0/mlflow/registered-models/alias", "DELETE"): VALIDATED,
    ("/2.0/mlflow/model-versions/create", "POST"): VALIDATED,
    ("/2.0/mlflow/model-versions/update", "PATCH"): VALIDATED,
    ("/2.0/mlflow/model-versions/delete", "DELETE"): VALIDATED,
    ("/2.0/mlflow/model-versions/set-tag", "POST"): VALIDATED,
    ("/2.0/mlflow/model-versions/delete-tag", "DELETE"): VALIDATED,
    ("/2.0/mlflow/model-versions/transition-stage", "POST"): VALIDATED,
    # MLflow 3's log_model: a LoggedModel in the learner's own experiment, then its params, tags, finalize
    ("/2.0/mlflow/logged-models", "POST"): VALIDATED,
    ("/2.0/mlflow/logged-models/<model_id>", "PATCH"): VALIDATED,
    ("/2.0/mlflow/logged-models/<model_id>/params", "POST"): VALIDATED,
    ("/2.0/mlflow/logged-models/<model_id>/tags", "PATCH"): VALIDATED,
}

#: Routes refused to learners, by family, each with the reason a learner does not need it. A live route in
#: none of READS, WRITES or these families fails the route test (and is refused all the same).
REFUSED_FAMILIES: Mapping[str, str] = {
    "/2.0/mlflow/users/": "accounts and their list are the instructor's (users/get and users/current stay)",
    "/3.0/mlflow/users/permissions/": "grants are the instructor's: a learner shares nothing by grant",
    "/3.0/mlflow/roles": "roles are the instructor's",
    "/3.0/mlflow/workspaces": "the classroom uses no MLflow workspaces",
    "/2.0/mlflow/webhooks": "a webhook calls any URL from the server, with registry events",
    "/3.0/mlflow/gateway/": "the AI gateway holds server-wide secrets and endpoints, not course material",
    "/2.0/mlflow/gateway-proxy": "the AI gateway is not course material",
    "/3.0/mlflow/scorer": "GenAI scorers run jobs on the server; not course material",
    "/3.0/mlflow/genai/": "GenAI evaluation runs jobs on the server; not course material",
    "/3.0/mlflow/prompt-optimization/": "prompt optimization runs jobs on the server",
    "/3.0/mlflow/jobs/": "server jobs are the instructor's",
    "/3.0/mlflow/demo/": "demo data is the instructor's to generate or delete",
    "/3.0/mlflow/datasets": "evaluation datasets are not course material (their writes have no validator)",
    "/3.0/mlflow/issues": "GenAI issues are not course material (their writes have no validator)",
    "/3.0/mlflow/review-queues/": "labelling queues are not course material",
    "/3.0/mlflow/label-schemas/": "labelling schemas are not course material",
    "/2.0/mlflow/traces": "tracing is not course material: reads stay, writes are the instructor's",
    "/3.0/mlflow/traces": "tracing is not course material: reads stay, writes are the instructor's",
    "/3.0/mlflow/ui-telemetry": "the UI's usage reports are switched off in the classroom",
}

#: Single routes refused inside areas whose other routes learners use (the whole path, any method left over).
REFUSED_ROUTES: Mapping[str, str] = {
    "/2.0/mlflow/experiments/delete": "deleting experiments is the instructor's (classroom reset)",
    "/2.0/mlflow/experiments/restore": "restoring experiments is the instructor's",
    "/2.0/mlflow/runs/create-promptlab-run": "prompt-lab runs are not course material",
    "/2.0/mlflow/artifacts/presigned-upload-url": "presigned URLs are for cloud stores, not this server's",
    "/2.0/mlflow/artifacts/presigned-download-url": "presigned URLs are for cloud stores, not this server's",
    "/2.0/mlflow-artifacts/artifacts/<path:artifact_path>": "deleting artifacts: the course never does",
    "/2.0/mlflow-artifacts/mpu/create/<path:artifact_path>": "multipart uploads: small files only",
    "/2.0/mlflow-artifacts/mpu/complete/<path:artifact_path>": "multipart uploads: as above",
    "/2.0/mlflow-artifacts/mpu/abort/<path:artifact_path>": "multipart uploads: as above",
    "/2.0/mlflow/logged-models/<model_id>": "deleting a logged model: the course never does",
    "/2.0/mlflow/logged-models/<model_id>/tags/<tag_key>": "deleting a logged model's tag: never needed",
    "/2.0mlflow/experiments/search-datasets": "a misspelt duplicate of MLflow's route (no '/' after 2.0)",
}

UNREVIEWED = "a route the classroom has not reviewed for learners (refused until it is)"
_PREFIX = re.compile(r"^/(?:api|ajax-api)(?=/)")


def normalise(rule: str) -> str:
    """A Flask rule without its ``/api`` or ``/ajax-api`` prefix (MLflow serves each route under both)."""
    return _PREFIX.sub("", rule, count=1)


@dataclass(frozen=True)
class Decision:
    """What the tables say of one route and method for a learner."""

    kind: str  # READ, VALIDATED, NAMED or REFUSED
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.kind != REFUSED


def decide(rule: str, method: str) -> Decision:
    """Look a route up in the tables (the instructor is not asked: the caller skips the admin).

    Args:
        rule: The Flask rule (``request.url_rule.rule``), with or without its prefix.
        method: The HTTP method.

    Returns:
        READ, VALIDATED or NAMED when a learner may make the request; REFUSED with the reason otherwise (a
        route in no table is refused as "not reviewed").
    """
    path = normalise(rule)
    method = "GET" if method == "HEAD" else method
    if (path, method) in READS:
        return Decision(READ)
    if (path, method) in WRITES:
        return Decision(WRITES[(path, method)])
    return Decision(REFUSED, refusal_reason(path))


def refusal_reason(path: str) -> str:
    """Why a route is refused to learners: its family's reason, or "not reviewed" for an unknown route."""
    if path in REFUSED_ROUTES:
        return REFUSED_ROUTES[path]
    family = next((f for f in REFUSED_FAMILIES if path.startswith(f)), None)
    return REFUSED_FAMILIES[family] if family else UNREVIEWED


def reviewed(rule: str, method: str) -> bool:
    """True when the tables name this route: a read, a write, a refused family or a refused route."""
    path = normalise(rule)
    return decide(rule, method).kind != REFUSED or refusal_reason(path) != UNREVIEWED


def namespace_suffix(learner: str) -> str:
    return f"-{learner}"


def name_problem(name: object, learner: str) -> str | None:
    """Why ``learner`` may not create or rename something to ``name``; None when the name is theirs.

    A learner's names end in ``-<learner>`` after at least one character of their own. Because no learner
    name is the ``-``-suffix of another's (the roster refuses such a pair), no name belongs to two learners,
    and a learner added later finds every name ending in their suffix unused.
    """
    suffix = namespace_suffix(learner)
    if not isinstance(name, str) or not name.strip():
        return "a name is required"
    if not name.endswith(suffix) or len(name) == len(suffix):
        return (
            f"{name!r} is not in your namespace: you may create and rename only names ending in "
            f"'{suffix}' (e.g. 'taxi-fare-by-hand{suffix}'); every other name belongs to another learner "
            "or to the instructor"
        )
    return None


def suffix_clashes(learners: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs of learners where one name ends in ``-`` plus the other (``b`` and ``a-b``): their namespaces
    would overlap, so a roster holding such a pair is refused."""
    names = sorted(set(learners))
    return [(short, long) for short in names for long in names if long.endswith(f"-{short}")]


def run_ids_named(args: Mapping[str, list[str]], body: object) -> set[str]:
    """Every run a request names, through ``run_id`` or ``run_uuid``, in its query string or JSON body.

    MLflow's validators read one of the two and some handlers the other (upload-artifact authorizes
    ``run_id`` and writes ``run_uuid``): a request naming two different runs is refused before either runs.

    Args:
        args: The query string, every value of each key.
        body: The parsed JSON body (anything; only a dict is read).
    """
    named = {value for key in ("run_id", "run_uuid") for value in args.get(key, []) if value}
    if isinstance(body, dict):
        named |= {str(body[key]) for key in ("run_id", "run_uuid") if body.get(key)}
    return named
