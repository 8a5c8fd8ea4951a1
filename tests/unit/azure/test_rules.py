"""The Azure-rules stand-in's decisions, request by request (no server: :func:`refusal` is pure)."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from types import SimpleNamespace
from urllib.parse import parse_qs, urlencode, urlparse

import pytest

from labhelpers.azure.mlflow_api import rules

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


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"experiment_ids": ["1"], "order_by": ["metrics.rmse ASC"]}, rules.RUN_ORDER),
        ({"experiment_ids": ["1"], "order_by": ["metric.`rmse` DESC"]}, rules.RUN_ORDER),
        ({"experiment_ids": ["1"], "order_by": ["params.alpha"]}, rules.RUN_ORDER),
        ({"experiment_ids": ["1"], "order_by": ["tags.mlflow.runName"]}, rules.RUN_ORDER),
        ({"experiment_ids": ["1"], "filter": "tags.lifecycle != 'archived'"}, rules.RUN_TAG_NOT_EQUAL),
        ({"experiment_ids": ["1"], "filter": 'tags.`batch id` != "b"'}, rules.RUN_TAG_NOT_EQUAL),
        ({"experiment_ids": ["1"], "filter": "params.a = '1' OR params.a = '2'"}, rules.RUN_OR),
        ({"experiment_ids": ["1"], "filter": "metrics.rmse < 5 or metrics.mae < 3"}, rules.RUN_OR),
    ],
)  # fmt: skip
def test_run_search_refuses_what_the_runs_support_matrix_lacks(body, rule):
    assert rules.refusal("POST", _get("/runs/search"), json.dumps(body).encode()) is rule


@pytest.mark.parametrize(
    "body",
    [
        {"experiment_ids": ["1"], "order_by": ["attributes.start_time DESC", "start_time"]},
        {"experiment_ids": ["1"], "filter": "metrics.rmse != 3.5 and params.alpha = '0.1'"},
        {"experiment_ids": ["1"], "filter": "tags.note = 'fast OR cheap' and tags.op = 'a != b'"},
        {"experiment_ids": ["1"], "filter": "attributes.run_name LIKE 'register-%'"},
    ],
)  # fmt: skip
def test_run_search_forwards_what_azure_ml_supports(body):
    assert rules.refusal("POST", _get("/runs/search"), json.dumps(body).encode()) is None


@pytest.mark.parametrize(
    "text",
    [
        "name='taxi-fare-linear-regression' and tags.`lab.batch_status`='pending'",
        "name='taxi-fare-linear-regression' and run_id='0123abcd'",
        "name=\"m\" and run_id=\"r\"",
        "name='a' or name='b'",
    ],
)  # fmt: skip
def test_a_name_filter_with_more_after_its_quote_is_not_one_name(text):
    assert rules.refusal("GET", _get("/model-versions/search", filter=text)) is rules.VERSION_FILTER


VERSION = {"name": "m", "version": "1", "run_id": "r1", "status": "READY", "tags": []}
RUN = {"info": {"run_id": "r1", "run_uuid": "r1", "experiment_id": "0", "status": "FINISHED"}, "data": {}}
#: What the upstream answers, by API path; any other call gets an empty answer.
ANSWERS = {
    "model-versions/search": {"model_versions": [VERSION]},
    "runs/get": {"run": RUN},
    "runs/search": {"runs": [RUN]},
}


@pytest.fixture
def upstream(httpserver):
    """An upstream MLflow (pytest-httpserver) answering every call with one version of ``m`` and its run."""
    for path, answer in ANSWERS.items():
        httpserver.expect_request(f"{API}/{path}").respond_with_json(answer)
    httpserver.expect_request(re.compile(".*")).respond_with_json({})
    return httpserver


def _seen(upstream) -> list[tuple[str, str, dict]]:
    """What reached the upstream: (path, the ``filter`` query parameter, the JSON body) of each request."""
    return [
        (request.path, request.args.get("filter", ""), request.get_json(silent=True) or {})
        for request, _ in upstream.log
    ]


@pytest.fixture
def stand_in(upstream):
    with rules.AzureRulesProxy(upstream.url_for("/").rstrip("/")) as proxy:
        yield proxy, upstream


def _refused_filters(proxy) -> list[tuple[str, str]]:
    return [
        (name, parse_qs(urlparse(target).query).get("filter", [""])[0]) for name, _, target in proxy.refused
    ]


def test_the_filters_registration_repair_and_the_catalog_send_meet_azure_rules_and_fall_back(stand_in):
    from mlflow import MlflowClient

    from labhelpers.registry import capabilities
    from labhelpers.registry.all_or_nothing.repair import find_pending
    from labhelpers.registry.all_or_nothing.upload import drop_retried_duplicates
    from labhelpers.registry.catalog import audit

    proxy, upstream = stand_in
    registration, repair, catalog = (MlflowClient(proxy.uri, proxy.uri) for _ in range(3))
    drop_retried_duplicates(registration, "m", "r1", "1")  # the twin check after each version is created
    assert find_pending(repair, ["m"]) == []  # repair's first round: the pending versions of each name
    audit(["m"], catalog)  # the catalog: versions by name, then the runs' parameters

    # the narrowed searches the code sends are refused, exactly as sent...
    assert _refused_filters(proxy) == [
        (rules.VERSION_FILTER.name, "name='m' and run_id='r1'"),
        (rules.VERSION_FILTER.name, "name='m' and tags.`lab.batch_status`='pending'"),
    ]
    # ...and each client learned it once and asked by name only instead; the catalog's forms all pass
    assert capabilities.of(registration).version_filters is False
    assert capabilities.of(repair).version_filters is False
    version_searches = [text for path, text, _ in _seen(upstream) if path.endswith("/model-versions/search")]
    assert version_searches == ["name='m'"] * 3
    run_filters = [body.get("filter") for path, _, body in _seen(upstream) if path.endswith("/runs/search")]
    assert run_filters == ["attributes.run_id IN ('r1')"]


def test_the_azure_rules_command_serves_the_stand_in_before_the_local_server_and_prints_its_uri(
    upstream, monkeypatch, capsys
):
    from labhelpers.cli import main
    from labhelpers.local_server import control as local

    started = SimpleNamespace(
        uri=upstream.url_for("/").rstrip("/"),
        already_running=True,
        pid=1,
        started_at="then",
        state_dir="state",
    )
    monkeypatch.setattr(local, "start", lambda port, state_dir, timeout: started)
    answers = []

    def serve_one_request(proxy) -> None:  # instead of serving until Ctrl-C
        proxy.start()
        try:
            urllib.request.urlopen(f"{proxy.uri}{API}/registered-models/alias?name=m&alias=a", timeout=10)
        except urllib.error.HTTPError as error:
            answers.append((proxy.uri, error.code, json.loads(error.read())["error_code"]))
        finally:
            proxy.stop()

    monkeypatch.setattr(rules.AzureRulesProxy, "serve_forever", serve_one_request)
    assert main(["server", "azure-rules", "--rules-port", "0"]) == 0
    [(uri, status, code)] = answers
    assert (status, code) == (rules.ALIASES.status, rules.ALIASES.error_code)
    printed = capsys.readouterr().out
    assert f"Tracking URI to use: {uri}" in printed
    assert all(rule.source in printed for rule in rules.RULES)


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"order_by": ["metrics.rmse ASC"]}, rules.RUN_ORDER),
        ({"filter_string": "tags.lifecycle != 'archived'"}, rules.RUN_TAG_NOT_EQUAL),
        ({"filter_string": "params.alpha = '0.1' OR params.alpha = '1.0'"}, rules.RUN_OR),
    ],
)
def test_a_refused_run_search_is_an_mlflow_error_the_capability_rules_count_as_a_refusal(
    stand_in, kwargs, rule
):
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from labhelpers.registry import capabilities

    proxy, upstream = stand_in
    with pytest.raises(MlflowException) as raised:
        MlflowClient(proxy.uri, proxy.uri).search_runs(["0"], **kwargs)
    assert raised.value.error_code == rule.error_code and rule.source in str(raised.value)
    assert capabilities.is_refusal(raised.value)
    assert [name for name, _, _ in proxy.refused] == [rule.name]
    assert not [path for path, _, _ in _seen(upstream) if path.endswith("/runs/search")]  # never forwarded
