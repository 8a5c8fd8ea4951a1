"""The Azure-rules stand-in's decisions, request by request (no server: :func:`refusal` is pure)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from labhelpers.server import azure_rules as rules

API = "/api/2.0/mlflow"


def _get(path: str, **query) -> str:
    return f"{API}{path}?{urlencode(query, doseq=True)}" if query else f"{API}{path}"


@pytest.mark.parametrize(
    ("method", "target", "body", "rule"),
    [
        ("POST", _get("/registered-models/alias"), {"name": "m", "alias": "a"}, rules.ALIASES),
        ("GET", _get("/registered-models/alias", name="m", alias="a"), None, rules.ALIASES),
        ("DELETE", _get("/registered-models/alias"), {"name": "m", "alias": "a"}, rules.ALIASES),
        ("POST", _get("/registered-models/rename"), {"name": "m", "new_name": "n"}, rules.RENAME),
        ("DELETE", _get("/registered-models/delete"), {"name": "m"}, rules.DELETE_MODEL),
        ("GET", _get("/model-versions/search", filter="name='m'", order_by=["version_number DESC"]), None,
         rules.VERSION_ORDER),
        ("GET", _get("/model-versions/search", filter="run_id='abc'"), None, rules.VERSION_FILTER),
        ("GET", _get("/model-versions/search", filter="name LIKE 'taxi%'"), None, rules.VERSION_FILTER),
        ("GET", _get("/registered-models/search", filter="name LIKE 'taxi%'"), None, rules.MODEL_LIKE),
        ("GET", _get("/registered-models/search", filter="name ilike '%fare%'"), None, rules.MODEL_LIKE),
        ("GET", _get("/registered-models/search", filter="tags.`team` != 'x'"), None, rules.MODEL_TAG_FILTER),
        ("POST", _get("/runs/search"), {"experiment_ids": ["1"], "order_by": ["metrics.rmse ASC"]},
         rules.RUN_ORDER),
        ("POST", _get("/runs/search"), {"order_by": ["start_time DESC", "params.alpha"]}, rules.RUN_ORDER),
        ("POST", _get("/runs/search"), {"order_by": ["tags.model_type"]}, rules.RUN_ORDER),
        ("POST", _get("/logged-models"), {"experiment_id": "1"}, rules.LOGGED_MODELS),
        ("GET", _get("/logged-models/m-123"), None, rules.LOGGED_MODELS),
        ("POST", "/ajax-api/2.0/mlflow/registered-models/alias", {"name": "m"}, rules.ALIASES),
    ],
)  # fmt: skip
def test_each_refused_behaviour_is_answered_by_its_rule(method, target, body, rule):
    assert rules.refusal(method, target, json.dumps(body).encode() if body else b"") is rule


@pytest.mark.parametrize(
    ("method", "target", "body"),
    [
        ("GET", _get("/model-versions/search", filter="name='taxi-fare-linear-regression'"), None),
        ("GET", _get("/model-versions/search", filter='name = "m"'), None),
        ("GET", _get("/model-versions/search"), None),
        ("GET", _get("/registered-models/search", filter="name='m'"), None),
        ("GET", _get("/registered-models/search"), None),
        ("GET", _get("/registered-models/get", name="m"), None),
        ("POST", _get("/model-versions/create"), {"name": "m", "source": "runs:/x/model", "run_id": "x"}),
        ("POST", _get("/model-versions/set-tag"), {"name": "m", "version": "1", "key": "k", "value": "LIKE"}),
        ("DELETE", _get("/model-versions/delete"), {"name": "m", "version": "1"}),
        ("GET", _get("/runs/search"), None),
        ("POST", _get("/runs/search"), {"filter": "tags.model_type = 'Ridge'", "order_by": ["start_time"]}),
        ("POST", _get("/runs/search"), {"filter": "attributes.run_id IN ('a', 'b')", "order_by": ["x"]}),
        ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/MLmodel", None),
    ],
)  # fmt: skip
def test_what_azure_ml_supports_is_forwarded(method, target, body):
    assert rules.refusal(method, target, json.dumps(body).encode() if body else b"") is None


def test_an_artifact_upload_that_is_not_json_is_forwarded():
    target = "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/model/model.skops"
    assert rules.refusal("PUT", target, b"\x80\x04binary") is None


def test_every_rule_names_a_source():
    assert len({rule.name for rule in rules.RULES}) == len(rules.RULES)
    for rule in rules.RULES:
        assert "learn.microsoft.com" in rule.source or "azure-sdk-for-python#" in rule.source, rule.name
        assert rule.status in (400, 404) and rule.error_code
