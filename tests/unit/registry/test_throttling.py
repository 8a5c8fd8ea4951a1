"""Azure ML's 429 and 503: retried on a budget of their own, each attempt honouring Retry-After."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.registry import throttling
from labhelpers.registry.references import resolve
from labhelpers.registry.throttling import ThrottledClient, is_throttled, retrying, throttled

AZURE = "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/resourceGroups/r/workspaces/w"
GAVE_UP = MlflowException("API request to .../get failed with exception ... (too many 429 error responses)")


@pytest.mark.parametrize(
    ("error", "throttled_"),
    [
        (GAVE_UP, True),
        (MlflowException("x (too many 503 error responses)"), True),
        (MlflowException("slow down", error_code=pb.REQUEST_LIMIT_EXCEEDED), True),
        (MlflowException("x", error_code=pb.TEMPORARILY_UNAVAILABLE), True),
        (MlflowException("x", error_code=pb.PERMISSION_DENIED), False),
        (MlflowException("x (too many 500 error responses)"), False),
        (ConnectionError("too many 429 error responses"), False),  # not MLflow's answer
    ],
)
def test_only_429_and_503_count_as_throttling(error, throttled_):
    assert is_throttled(error) is throttled_


def _failing_first(client, method: str, errors: list[BaseException]):
    original = getattr(client, method)

    def answer(*args, **kwargs):
        if errors:
            raise errors.pop(0)
        return original(*args, **kwargs)

    setattr(client, method, answer)


def test_a_throttled_azure_request_is_retried_with_growing_waits(fake_registry, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(throttling, "retrying", lambda: retrying(sleep=waits.append))
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    _failing_first(client, "get_model_version", [GAVE_UP, GAVE_UP, GAVE_UP])

    assert resolve("m:1", client).version == "1"
    assert len(waits) == 3 and all(0 <= w <= throttling.LONGEST_WAIT for w in waits)


def test_throttling_that_never_ends_fails_after_the_budget_with_mlflows_error(fake_registry):
    waits: list[float] = []
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    _failing_first(client, "get_model_version", [GAVE_UP] * 10)
    wrapped = ThrottledClient(client, retrying(sleep=waits.append))
    with pytest.raises(MlflowException, match="too many 429"):
        wrapped.get_model_version("m", "1")
    assert len(waits) == throttling.ATTEMPTS - 1


def test_other_failures_are_not_retried(fake_registry):
    waits: list[float] = []
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    client.failures["get_model_version"] = MlflowException("no", error_code=pb.PERMISSION_DENIED)
    with pytest.raises(MlflowException, match="no"):
        ThrottledClient(client, retrying(sleep=waits.append)).get_model_version("m", "1")
    assert waits == [] and client.calls == ["get_model_version"]


def test_only_an_azure_client_is_wrapped_and_what_is_learned_stays_with_the_client(fake_registry):
    from labhelpers.registry import capabilities

    local, azure = fake_registry(), fake_registry(tracking_uri=AZURE)
    assert throttled(local) is local
    wrapped = throttled(azure)
    assert isinstance(wrapped, ThrottledClient) and throttled(wrapped) is wrapped
    assert wrapped.tracking_uri == AZURE
    capabilities.learn(wrapped, "aliases", False)
    assert capabilities.of(throttled(azure)).aliases is False and capabilities.of(azure).aliases is False


SEARCH = "/api/2.0/mlflow/experiments/search"


def test_each_attempt_honours_retry_after_and_the_budget_outlasts_mlflows_own(monkeypatch, httpserver):
    from mlflow import MlflowClient
    from urllib3.util.retry import Retry

    from labhelpers.server.tracking import CLIENT_DEFAULTS

    for name, value in CLIENT_DEFAULTS.items():
        monkeypatch.setenv(name, value)  # MLflow's own budget: 2 retries for every cause
    for _ in range(5):  # 429 with Retry-After: 1, more often than MLflow's own three attempts take
        httpserver.expect_oneshot_request(SEARCH).respond_with_json(
            {"error_code": "REQUEST_LIMIT_EXCEEDED"}, status=429, headers={"Retry-After": "1"}
        )
    httpserver.expect_request(SEARCH).respond_with_json({"experiments": []})  # then the answer
    inner: list[float] = []  # urllib3's waits inside MLflow (recorded, not slept)
    monkeypatch.setattr(
        Retry, "sleep", lambda self, response=None: inner.append(self.get_retry_after(response))
    )
    outer: list[float] = []
    client = MlflowClient(httpserver.url_for("/").rstrip("/"))
    assert ThrottledClient(client, retrying(sleep=outer.append)).search_experiments() == []
    assert [request.path for request, _ in httpserver.log] == [
        SEARCH
    ] * 6  # 3 by MLflow, given up; 2 + answer
    assert inner == [1.0] * 4  # every wait between 429s is the server's Retry-After
    assert len(outer) == 1  # one retry of our own once MLflow gave up
