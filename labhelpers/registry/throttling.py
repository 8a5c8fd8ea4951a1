"""Azure ML's throttling (HTTP 429) and brief unavailability (503): one budget in seconds, and creates that
never land twice.

MLflow's client already retries 408, 429, 500, 502, 503 and 504 answers (``mlflow.utils.rest_utils``
through urllib3's ``Retry``), waiting the server's ``Retry-After`` between its attempts on 429 and 503
(``MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER``, on by default). :mod:`labhelpers.tracking.connection` keeps
MLflow's own retries at 2, so a dead server fails in seconds; once they are spent MLflow raises a plain
``MlflowException`` ("too many 429 error responses"), and a workspace that throttles a classroom's burst of
registrations would fail them.

So on the Azure path (an ``azureml://`` tracking URI) each registry request goes through
:class:`ThrottledClient`, with **one budget in seconds** per call (:data:`BUDGET_ENV`, default
:data:`DEFAULT_BUDGET`), measured on the wall clock from the call's first attempt, MLflow's own waits
included: when MLflow gives up on a 429 or 503, the request is made again after a wait, until the next wait
would end past the budget; then :class:`ThrottledError` says so. The wait is the answer's ``Retry-After``
where the error carries the response (azure-core's ``HttpResponseError`` does; MLflow's "too many 429"
does not, its ``Retry-After`` was honoured by its own retries), else an exponential, jittered backoff
(:data:`FIRST_WAIT` doubling up to :data:`LONGEST_WAIT`). One MLflow request may still wait up to
MLflow's two retries times ``Retry-After`` inside before this budget sees it.

**Creates are never retried blindly.** A create request (:data:`CREATES`) that failed may still have
landed: the server committed, then the answer was lost or timed out (and MLflow's own retries re-send POSTs
too). :class:`ThrottledClient` passes creates through unretried; callers make them with :func:`create_once`,
which, after any failure that is not a definite refusal, first looks up (by the batch's tag and the run or
version it names) whether the create landed, and only then, within the same budget, tries again. What
MLflow's re-sent POSTs left behind is removed by the caller's twin checks
(``drop_retried_duplicates`` and ``drop_retried_runs`` in :mod:`labhelpers.registry.all_or_nothing.upload`).
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.client import RegistryClient

#: MLflow's error codes for HTTP 429 and 503 (when the answer carries one).
THROTTLED_CODES = {"REQUEST_LIMIT_EXCEEDED", "TEMPORARILY_UNAVAILABLE"}
#: Error codes that say a create was refused, so it did not land: raised at once, never looked up.
REFUSED_CODES = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_ALREADY_EXISTS",
    "RESOURCE_DOES_NOT_EXIST",
    "PERMISSION_DENIED",
    "UNAUTHENTICATED",
    "BAD_REQUEST",
    "ENDPOINT_NOT_FOUND",
    "INVALID_STATE",
}
#: How urllib3 words the end of its retries on those statuses (the message MLflow wraps).
_EXHAUSTED = re.compile(r"too many (429|503) error responses")
#: What MLflow says when an answer was lost or late: worth another try once nothing landed.
_TRANSIENT = re.compile(
    r"too many 5\d\d error responses|timed? ?out|timeout|Max retries exceeded"
    r"|Connection (?:aborted|reset|refused)",
    re.IGNORECASE,
)
#: The client methods that create something: passed through unretried (use :func:`create_once`).
CREATES = frozenset({"create_run", "create_model_version", "create_registered_model", "create_experiment"})
#: Seconds one call may spend on Azure ML's throttling in all, retries and waits included.
BUDGET_ENV = "LAB_AZURE_RETRY_SECONDS"
DEFAULT_BUDGET = 120.0
FIRST_WAIT = 2.0
LONGEST_WAIT = 60.0
_log = logging.getLogger(__name__)
T = TypeVar("T")


class ThrottledError(RegistryError):
    """Azure ML kept throttling a request for longer than the retry budget."""


def is_throttled(error: BaseException) -> bool:
    """Whether ``error`` is MLflow giving up on a 429 or 503 answer (after its own retries)."""
    if str(getattr(error, "error_code", "")) in THROTTLED_CODES:
        return True
    from mlflow.exceptions import MlflowException

    return isinstance(error, MlflowException) and bool(_EXHAUSTED.search(str(error)))


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a throttled, lost or late answer (so the same request may succeed later)."""
    return (
        is_throttled(error)
        or isinstance(error, (TimeoutError, ConnectionError))
        or bool(_TRANSIENT.search(str(error)))
    )


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` is the registry refusing a request (so a create did not land)."""
    return str(getattr(error, "error_code", "")) in REFUSED_CODES


def retry_after(error: BaseException) -> float | None:
    """The ``Retry-After`` seconds of the answer behind ``error``, where the error (or its cause) carries it.

    azure-core's and requests' errors keep the response (``error.response.headers``); a number of seconds
    or an HTTP date is read. None when no response with the header is found.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        headers = getattr(response, "headers", None) or getattr(current, "headers", None)
        value = headers.get("Retry-After") if headers is not None and hasattr(headers, "get") else None
        if value:
            text = str(value).strip()
            if text.isdigit():
                return float(text)
            when = email.utils.parsedate_to_datetime(text) if email.utils.parsedate_tz(text) else None
            if when is not None:
                return max(0.0, when.timestamp() - time.time())
        current = current.__cause__ or current.__context__
    return None


def budget_seconds() -> float:
    """The retry budget: ``$LAB_AZURE_RETRY_SECONDS``, else :data:`DEFAULT_BUDGET`.

    Raises:
        RegistryError: The variable is not a number of seconds.
    """
    raw = os.environ.get(BUDGET_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_BUDGET
    except ValueError:
        raise RegistryError(
            f"{BUDGET_ENV}={raw!r} is not a number of seconds; e.g. {DEFAULT_BUDGET:g}."
        ) from None
    if value < 0:
        raise RegistryError(f"{BUDGET_ENV}={raw!r} is negative; give the seconds, e.g. {DEFAULT_BUDGET:g}.")
    return value


def sleep(seconds: float) -> None:
    """How every budget waits unless given another way (``time.sleep``; tests replace it here)."""
    time.sleep(seconds)


def clock() -> float:
    """The clock every budget measures with unless given another (``time.monotonic``)."""
    return time.monotonic()


class Budget:
    """One call's retry budget in seconds, from its first attempt (see the module).

    Args:
        seconds: The budget (default :func:`budget_seconds`).
        sleep: How to wait (default :func:`sleep`); ``clock``: what to measure with (default :func:`clock`).
    """

    def __init__(
        self,
        seconds: float | None = None,
        *,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.seconds = budget_seconds() if seconds is None else seconds
        self._sleep = sleep or globals()["sleep"]
        self._clock = clock or globals()["clock"]
        self._start = self._clock()
        self.waits: list[float] = []

    def wait(self, error: BaseException, what: str) -> None:
        """Wait before the next attempt: ``Retry-After``, else the backoff; raise when past the budget.

        Raises:
            ThrottledError: The wait would end past the budget (chained to ``error``).
        """
        attempt = len(self.waits) + 1
        seconds = retry_after(error)
        if seconds is None:
            seconds = random.uniform(0, min(LONGEST_WAIT, FIRST_WAIT * 2 ** (attempt - 1)))  # noqa: S311
        spent = self._clock() - self._start
        if spent + seconds > self.seconds:
            last = (str(error).strip().splitlines() or [repr(error)])[0][:200]
            raise ThrottledError(
                f"Azure ML kept throttling {what} for {spent:.0f} s ({attempt} attempt(s)); the retry "
                f"budget is {self.seconds:g} s (${BUDGET_ENV}). Wait a minute and run it again, or raise "
                f"the budget. Last answer: {last}"
            ) from error
        _log.warning(
            "Azure ML throttled %s (attempt %d); next attempt in %.1f s: %s", what, attempt, seconds, error
        )
        self.waits.append(seconds)
        self._sleep(seconds)


def call_within_budget(
    call: Callable[..., T], *args: Any, what: str = "", budget: Budget | None = None, **kwargs: Any
) -> T:
    """``call(*args, **kwargs)``, made again after each throttled answer until the budget is spent.

    Only for requests that are safe to send twice (reads, tag writes, deletes); creates use
    :func:`create_once`.
    """
    budget = budget or Budget()
    while True:
        try:
            return call(*args, **kwargs)
        except Exception as error:
            if not is_throttled(error):
                raise
            budget.wait(error, what or getattr(call, "__name__", "a request"))


def create_once(
    create: Callable[[], T],
    landed: Callable[[], T | None],
    *,
    what: str,
    budget: Budget | None = None,
) -> T:
    """Create something at most once: after a failure, look up whether it landed before trying again.

    Args:
        create: Makes the create request.
        landed: Looks the created thing up (by the batch's tag and what it names); None when it is not there.
        what: Named in the log and in errors, e.g. ``"run register-taxi-fare-linear-regression"``.
        budget: The retry budget (default: a fresh :class:`Budget`).

    Returns:
        What ``create`` returned, or what ``landed`` found after a failed create.

    Raises:
        Exception: A definite refusal (``is_refusal``) at once, as raised; a failure that did not land and
            is not transient (``is_transient``) at once too; a transient one once the budget is spent (as
            :class:`ThrottledError`).
    """
    budget = budget or Budget()
    while True:
        try:
            return create()
        except Exception as error:
            if is_refusal(error):
                raise
            try:
                found = landed()
            except Exception as lookup:  # the registry is gone too: the create's own error says more
                _log.warning("could not look up whether %s landed: %s", what, lookup)
                raise error from lookup
            if found is not None:
                _log.warning("%s landed although its request failed (%s); not created again", what, error)
                return found
            if not is_transient(error):
                raise
            budget.wait(error, what)


class ThrottledClient:
    """An ``MlflowClient`` whose public methods retry throttled requests within one budget (see the module).

    Creates (:data:`CREATES`) are passed through unretried. Everything else is the wrapped client's:
    attributes, private helpers and the registry client that :func:`labhelpers.registry.capabilities.writes`
    writes through (wrapped the same way).

    Args:
        client: The client to wrap.
        budget: Seconds per call (default :func:`budget_seconds`, read at each call).
        sleep: How to wait; ``clock``: what to measure with (tests pass fakes; see :class:`Budget`).
    """

    def __init__(
        self,
        client: RegistryClient,
        budget: float | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        #: The client underneath: what :mod:`labhelpers.registry.capabilities` learns is recorded for it.
        self.wrapped = client
        self._budget, self._sleep, self._clock = budget, sleep, clock

    def new_budget(self) -> Budget:
        """A fresh budget for one call (or one :func:`create_once`)."""
        return Budget(self._budget, sleep=self._sleep, clock=self._clock)

    @property
    def tracking_uri(self) -> str:
        return self.wrapped.tracking_uri

    def _get_registry_client(self) -> Any:
        inner = getattr(self.wrapped, "_get_registry_client", None)
        return ThrottledClient(inner(), self._budget, self._sleep, self._clock) if callable(inner) else self

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.wrapped, name)
        if name.startswith("_") or not callable(found) or name in CREATES:
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            return call_within_budget(found, *args, what=name, budget=self.new_budget(), **kwargs)

        call.__name__ = name
        return call


def new_budget(client: RegistryClient) -> Budget:
    """The budget a create through ``client`` gets: the wrapper's settings, else the defaults."""
    return client.new_budget() if isinstance(client, ThrottledClient) else Budget()


def registry_client(client: RegistryClient | None = None) -> RegistryClient:
    """``client``, else an ``MlflowClient`` of the current tracking URI; on Azure ML, :func:`throttled`.

    The one way the registry's modules (promotion, catalog, references) get the client they were not given.
    """
    if client is None:
        from mlflow import MlflowClient

        client = MlflowClient()
    return throttled(client)


def throttled(client: RegistryClient) -> RegistryClient:
    """``client`` itself, or on an Azure ML tracking URI a :class:`ThrottledClient` around it.

    What :mod:`labhelpers.registry.capabilities` learns through any wrapper is kept for the client underneath.
    """
    from labhelpers.tracking.connection import is_azure_uri

    if isinstance(client, ThrottledClient) or not is_azure_uri(client.tracking_uri):
        return client
    return ThrottledClient(client)  # a RegistryClient: its public methods are the wrapped client's
