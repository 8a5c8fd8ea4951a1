"""Azure ML's 429 and 503: one budget in seconds, Retry-After honoured, and creates never retried blindly."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.registry import throttling
from labhelpers.registry.references import resolve
from labhelpers.registry.throttling import (
    Budget,
    ThrottledClient,
    ThrottledError,
    create_once,
    is_throttled,
    retry_after,
    throttled,
)

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


class FakeTime:
    """A clock that only sleeping moves: waits are recorded, never slept."""

    def __init__(self):
        self.now, self.waits = 0.0, []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def _failing_first(client, method: str, errors: list[BaseException]):
    original = getattr(client, method)

    def answer(*args, **kwargs):
        if errors:
            raise errors.pop(0)
        return original(*args, **kwargs)

    setattr(client, method, answer)


def _throttled_with(seconds: str) -> MlflowException:
    error = MlflowException("slow down", error_code=pb.REQUEST_LIMIT_EXCEEDED)
    error.response = SimpleNamespace(headers={"Retry-After": seconds})  # type: ignore[attr-defined]  # as azure-core keeps it
    return error


def test_a_throttled_azure_request_is_retried_with_growing_waits(fake_registry, monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(throttling, "sleep", fake.sleep)
    monkeypatch.setattr(throttling, "clock", fake.clock)
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    _failing_first(client, "get_model_version", [GAVE_UP, GAVE_UP, GAVE_UP])

    assert resolve("m:1", client).version == "1"  # through registry_client(): wrapped on the Azure path
    assert len(fake.waits) == 3 and all(0 <= w <= throttling.LONGEST_WAIT for w in fake.waits)


def test_the_wait_is_the_answer_s_retry_after_where_the_error_carries_it(fake_registry):
    fake = FakeTime()
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    _failing_first(client, "get_model_version", [_throttled_with("7"), _throttled_with("3")])
    wrapped = ThrottledClient(client, 60, fake.sleep, fake.clock)
    assert wrapped.get_model_version("m", "1").version == "1"
    assert fake.waits == [7.0, 3.0]
    assert retry_after(_throttled_with("Wed, 21 Oct 2015 07:28:00 GMT")) == 0.0  # a date in the past
    assert retry_after(GAVE_UP) is None  # MLflow's own retries honoured it; the header is not kept


def test_one_budget_in_seconds_bounds_every_call_whatever_the_number_of_attempts(fake_registry):
    fake = FakeTime()
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    _failing_first(client, "get_model_version", [_throttled_with("20")] * 10)
    wrapped = ThrottledClient(client, 50, fake.sleep, fake.clock)
    with pytest.raises(
        ThrottledError, match=r"for 40 s \(3 attempt\(s\)\); the retry budget is 50 s"
    ) as caught:
        wrapped.get_model_version("m", "1")
    assert fake.waits == [20.0, 20.0] and "LAB_AZURE_RETRY_SECONDS" in str(caught.value)
    assert isinstance(caught.value.__cause__, MlflowException)  # the last answer stays attached
    # a Retry-After longer than the budget is not waited for at all
    _failing_first(client, "get_model_version", [_throttled_with("3600")])
    with pytest.raises(ThrottledError):
        ThrottledClient(client, 50, fake.sleep, fake.clock).get_model_version("m", "1")
    assert fake.waits == [20.0, 20.0]


def test_the_budget_comes_from_the_variable_and_a_bad_value_is_named(monkeypatch):
    monkeypatch.setenv(throttling.BUDGET_ENV, "30")
    assert Budget().seconds == 30
    monkeypatch.setenv(throttling.BUDGET_ENV, "soon")
    with pytest.raises(throttling.RegistryError, match="LAB_AZURE_RETRY_SECONDS='soon' is not a number"):
        Budget()


def test_other_failures_are_not_retried(fake_registry):
    fake = FakeTime()
    client = fake_registry([fake_registry.version("m", 1)], tracking_uri=AZURE)
    client.failures["get_model_version"] = MlflowException("no", error_code=pb.PERMISSION_DENIED)
    with pytest.raises(MlflowException, match="no"):
        ThrottledClient(client, 60, fake.sleep, fake.clock).get_model_version("m", "1")
    assert fake.waits == [] and client.calls == ["get_model_version"]


def test_creates_are_never_retried_by_the_wrapper(fake_registry):
    fake = FakeTime()
    client = fake_registry(tracking_uri=AZURE)
    calls = []

    def create_run(*args, **kwargs):
        calls.append(args)
        raise GAVE_UP

    client.create_run = create_run
    with pytest.raises(MlflowException, match="too many 429"):
        ThrottledClient(client, 60, fake.sleep, fake.clock).create_run("0")
    assert len(calls) == 1 and fake.waits == []


def test_create_once_looks_up_whether_a_failed_create_landed_before_trying_again():
    fake = FakeTime()
    timed_out = MlflowException("API request failed with exception (too many 504 error responses)")
    made, looked = [], []

    def create():
        made.append(1)
        raise timed_out

    # it landed: found, not created again
    found = create_once(
        create,
        lambda: looked.append(1) or "run-1",
        what="run",
        budget=Budget(60, sleep=fake.sleep, clock=fake.clock),
    )
    assert (found, len(made), len(looked), fake.waits) == ("run-1", 1, 1, [])
    # it did not land: wait within the budget, then try again
    answers = [timed_out, "run-2"]

    def create_later():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    budget = Budget(60, sleep=fake.sleep, clock=fake.clock)
    assert create_once(create_later, lambda: None, what="run", budget=budget) == "run-2"
    assert len(fake.waits) == 1
    # a refusal did not land: raised at once, nothing looked up
    refused = MlflowException("no such model", error_code=pb.RESOURCE_DOES_NOT_EXIST)
    looked.clear()

    def refuse():
        raise refused

    with pytest.raises(MlflowException, match="no such model"):
        create_once(refuse, lambda: looked.append(1), what="version")
    assert looked == []
    # a failure that is neither a refusal nor transient: looked up, then raised without waiting
    waits_before = list(fake.waits)

    def broken():
        raise RuntimeError("simulated registry failure")

    budget = Budget(60, sleep=fake.sleep, clock=fake.clock)
    with pytest.raises(RuntimeError, match="simulated"):
        create_once(broken, lambda: looked.append(1), what="version", budget=budget)
    assert looked == [1] and fake.waits == waits_before


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


def test_mlflow_s_own_attempts_honour_retry_after_and_the_budget_outlasts_them(monkeypatch, httpserver):
    from mlflow import MlflowClient
    from urllib3.util.retry import Retry

    from labhelpers.tracking.connection import CLIENT_DEFAULTS

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
    assert ThrottledClient(client, 60, outer.append).search_experiments() == []
    # 3 attempts by MLflow, given up; then 2 more 429s and the answer
    assert [request.path for request, _ in httpserver.log] == [SEARCH] * 6
    assert inner == [1.0] * 4  # every wait between 429s is the server's Retry-After
    assert len(outer) == 1  # one retry of our own once MLflow gave up
