"""Azure ML's 429 and 503: retried on a budget of their own, each attempt honouring Retry-After."""

from __future__ import annotations

import http.server
import json
import threading

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


class _Throttling(http.server.BaseHTTPRequestHandler):
    """Answers 429 with Retry-After: 1 to the first ``server.throttle`` requests, then an empty search."""

    def do_GET(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen += 1
        if self.server.seen <= self.server.throttle:
            body, status, headers = b'{"error_code": "REQUEST_LIMIT_EXCEEDED"}', 429, {"Retry-After": "1"}
        else:
            body, status, headers = json.dumps({"experiments": []}).encode(), 200, {}
        self.send_response(status)
        for key, value in {**headers, "Content-Type": "application/json"}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args):
        pass


def test_each_attempt_honours_retry_after_and_the_budget_outlasts_mlflows_own(monkeypatch):
    from mlflow import MlflowClient
    from urllib3.util.retry import Retry

    from labhelpers.server.tracking import CLIENT_DEFAULTS

    for name, value in CLIENT_DEFAULTS.items():
        monkeypatch.setenv(name, value)  # MLflow's own budget: 2 retries for every cause
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Throttling)
    httpd.seen, httpd.throttle = 0, 5  # more 429s than MLflow's own three attempts take
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    inner: list[float] = []  # urllib3's waits inside MLflow (recorded, not slept)
    monkeypatch.setattr(
        Retry, "sleep", lambda self, response=None: inner.append(self.get_retry_after(response))
    )
    outer: list[float] = []
    try:
        client = MlflowClient(f"http://127.0.0.1:{httpd.server_address[1]}")
        assert ThrottledClient(client, retrying(sleep=outer.append)).search_experiments() == []
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert httpd.seen == 6  # 3 attempts by MLflow, given up; then 2 more 429s and the answer
    assert inner == [1.0] * 4  # every wait between 429s is the server's Retry-After
    assert len(outer) == 1  # one retry of our own once MLflow gave up
