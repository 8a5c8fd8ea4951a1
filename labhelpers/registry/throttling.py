"""Azure ML's throttling (HTTP 429) and brief unavailability (503): retried with their own budget.

MLflow's client already retries 408, 429, 500, 502, 503 and 504 answers (``mlflow.utils.rest_utils``
through urllib3's ``Retry``), and honours a ``Retry-After`` header on 429 and 503 while it does
(``MLFLOW_HTTP_RESPECT_RETRY_AFTER_HEADER``, on by default). But every cause shares one budget,
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``, which :mod:`labhelpers.server.tracking` keeps at 2 so a dead server fails
in seconds; once it is spent MLflow raises a plain ``MlflowException`` ("too many 429 error responses"), and a
workspace that throttles a classroom's burst of registrations would fail them.

So on the Azure path (an ``azureml://`` tracking URI) each registry request goes through :func:`throttled`:
when MLflow gives up on a 429 or 503, the request is made again after an exponential, jittered backoff
(:data:`FIRST_WAIT` doubling up to :data:`LONGEST_WAIT`), at most :data:`ATTEMPTS` times; each of those
attempts is one MLflow request whose own retries honour ``Retry-After``. Nothing else is retried here: a
refused filter, a 403 or a dead connection surfaces at once, as before.
"""

from __future__ import annotations

import logging
import re
from typing import Any, cast

from labhelpers.core.registry_client import RegistryClient

#: MLflow's error codes for HTTP 429 and 503 (when the answer carries one).
THROTTLED_CODES = {"REQUEST_LIMIT_EXCEEDED", "TEMPORARILY_UNAVAILABLE"}
#: How urllib3 words the end of its retries on those statuses (the message MLflow wraps).
_EXHAUSTED = re.compile(r"too many (429|503) error responses")
ATTEMPTS = 5
FIRST_WAIT = 2.0
LONGEST_WAIT = 60.0
_log = logging.getLogger(__name__)


def is_throttled(error: BaseException) -> bool:
    """Whether ``error`` is MLflow giving up on a 429 or 503 answer (after its own retries)."""
    if str(getattr(error, "error_code", "")) in THROTTLED_CODES:
        return True
    from mlflow.exceptions import MlflowException

    return isinstance(error, MlflowException) and bool(_EXHAUSTED.search(str(error)))


def retrying(attempts: int = ATTEMPTS, first: float = FIRST_WAIT, longest: float = LONGEST_WAIT, sleep=None):
    """The tenacity policy :func:`throttled` applies to each request (``sleep``: tests record, not wait)."""
    import tenacity

    def log(state: tenacity.RetryCallState) -> None:
        _log.warning(
            "Azure ML throttled %s (attempt %d of %d): %s",
            getattr(state.fn, "__name__", state.fn),
            state.attempt_number,
            attempts,
            state.outcome.exception() if state.outcome else "",
        )

    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_throttled),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_random_exponential(multiplier=first, max=longest),
        before_sleep=log,
        reraise=True,
        **options,
    )


class ThrottledClient:
    """An ``MlflowClient`` whose every public method retries throttled requests (see the module).

    Everything else is the wrapped client's: attributes, private helpers and the registry client that
    :func:`labhelpers.registry.capabilities.writes` writes through (wrapped the same way).
    """

    def __init__(self, client: RegistryClient, policy=None) -> None:
        #: The client underneath: what :mod:`labhelpers.registry.capabilities` learns is recorded for it.
        self.wrapped = client
        self._policy = policy or retrying()

    @property
    def tracking_uri(self) -> str:
        return self.wrapped.tracking_uri

    def _get_registry_client(self) -> Any:
        inner = getattr(self.wrapped, "_get_registry_client", None)
        return ThrottledClient(inner(), self._policy) if callable(inner) else self

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.wrapped, name)
        if name.startswith("_") or not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._policy.copy()(found, *args, **kwargs)

        call.__name__ = name
        return call


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
    from labhelpers.server.tracking import is_azure_uri

    if isinstance(client, ThrottledClient) or not is_azure_uri(client.tracking_uri):
        return client
    return cast(RegistryClient, ThrottledClient(client))
