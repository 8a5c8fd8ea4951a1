"""What the model registry supports, learned from the server's answers once per client, then cached.

MLflow servers differ: a local server has aliases, sorts versions and deletes whole models; Azure ML's MLflow
API has no aliases, documents version search by name only and keeps registered models forever
(``labhelpers.azure.mlflow_api.rules`` lists the sources). Choosing the behaviour from the URI's scheme breaks
on any other registry without aliases and on a workspace reached through another URI, so labhelpers asks
instead: the first call that needs a feature tries it, and the answer decides for that client from then on.

The rules, in one place:

* **aliases** (``set``/``delete``/``get`` alias): tried; a refusal marks them unsupported and the
  ``lifecycle`` version tag alone carries the state (it always does; aliases only mirror it). "No such
  alias" is an answer of a registry that has aliases, not a refusal.
* **ordering** of model versions (``order_by``): the first ordered search fetches the whole list and checks
  that it came back sorted; a refusal, or an unsorted answer (a server that ignores the order), marks it
  unsupported, and the highest version is then computed client-side. Once confirmed, one ordered request
  with ``max_results=1`` finds ``@latest``.
* **model_delete** (delete a whole registered model): tried when a failed batch leaves a model it created
  empty; a refusal marks it unsupported and the empty model stays (Azure ML cannot delete one).
* **version_filters** other than ``name='...'`` (``name='X' and tags.batch_status='pending'``, ``and
  run_id='r'``): tried where a narrower answer saves reading all of a name's versions (the repair of pending
  batches, the twin check); a refusal falls back to the name-only search. Callers check every condition again
  client-side on what comes back, so both paths give the same answer.
* **run_ordering** (``search_runs(order_by=["metrics.rmse ASC"])``: runs sorted by a metric, parameter or
  tag on the server): tried by notebook 03's search for the best registration run; Azure ML orders runs by
  their attributes only (start and end time...), so a refusal sorts the same runs client-side in pandas.
* **logged_models** (MLflow 3's ``/logged-models`` endpoints, which ``log_model`` calls first): tried by
  notebook 02's registration by hand; Azure ML answered them with 404 (Azure/azure-sdk-for-python#44896), and
  the notebook then saves the model folder, uploads it as run files and registers it with
  ``create_model_version``. labhelpers' own registration never calls these endpoints.

A refusal is recognised by what the answer is, from allow-lists (:func:`is_refusal`): an MLflow error whose
code says "no such endpoint", "not implemented" or "not accepted" (``ENDPOINT_NOT_FOUND``,
``NOT_IMPLEMENTED``, ``FEATURE_DISABLED``, ``BAD_REQUEST``, ``INVALID_PARAMETER_VALUE``) or whose body carries
Azure ML's code for a request it does not accept (``UserError``, ``ValidationError``), with a 400, 404, 405
or 501 status; and a ``NotImplementedError`` of a store. Any other error learns nothing and is raised as it
is: no such resource, already exists, a sign-in or permission problem, throttling, a server error (5xx), a
timeout or a refused connection, and a programming error (``AttributeError``, ``TypeError``...).
"""

from __future__ import annotations

import enum
import logging
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from labhelpers.registry.client import RegistryClient, VersionWriter
from labhelpers.registry.throttling import ThrottledClient

if TYPE_CHECKING:
    import tenacity
    from mlflow.exceptions import MlflowException

#: MLflow error codes (``MlflowException.error_code``) that say the registry does not do what was asked.
#: MLflow names a bare HTTP answer by its status: 400 is ``BAD_REQUEST``, 404 ``ENDPOINT_NOT_FOUND``, 501
#: ``NOT_IMPLEMENTED``. ``RESOURCE_DOES_NOT_EXIST`` (also 404) is an answer about data, never a refusal.
REFUSAL_CODES = frozenset(
    {"ENDPOINT_NOT_FOUND", "NOT_IMPLEMENTED", "FEATURE_DISABLED", "BAD_REQUEST", "INVALID_PARAMETER_VALUE"}
)
#: Azure ML's own error codes (``Error.Code`` in the body of its answer) for a request it does not accept, as
#: its MLflow API answered an unsupported filter (``UserError``, Azure/azure-sdk-for-python#42155) and a tag
#: it would not take (``ValidationError``, mlflow/mlflow#8008).
AZURE_REFUSAL_CODES = frozenset({"UserError", "ValidationError"})
#: HTTP statuses a refusal can come with (400 bad request, 404 no such endpoint, 405 method not allowed, 501
#: not implemented). An answer with any other status (401, 403, 429, 500, 502, 503, 504...) is never one.
REFUSAL_STATUSES = frozenset({400, 404, 405, 501})
FEATURES = ("aliases", "ordering", "model_delete", "version_filters", "run_ordering", "logged_models")
_log = logging.getLogger(__name__)
T = TypeVar("T")


class Unsupported(enum.Enum):
    """The type of :data:`UNSUPPORTED` (one member, so a type checker narrows ``is not UNSUPPORTED``)."""

    UNSUPPORTED = "unsupported"


UNSUPPORTED = (
    Unsupported.UNSUPPORTED
)  # what :func:`attempt` returns when the registry refused (now or earlier)


@dataclass
class Capabilities:
    """What one client's registry supports: True, False, or None (not asked yet)."""

    aliases: bool | None = None
    ordering: bool | None = None
    model_delete: bool | None = None
    version_filters: bool | None = None
    run_ordering: bool | None = None
    logged_models: bool | None = None


_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def of(client: RegistryClient) -> Capabilities:
    """The capabilities learned so far for ``client`` (a new, empty record the first time).

    A wrapper with a ``wrapped`` client (:class:`labhelpers.registry.throttling.ThrottledClient`) shares the
    record of the client underneath.
    """
    if isinstance(client, ThrottledClient):
        client = client.wrapped
    with _lock:
        found = _cache.get(client)
        if found is None:
            found = _cache[client] = Capabilities()
        return found


def _status(error: MlflowException, body: dict) -> int | None:
    """The HTTP status of the answer: Azure ML states it in its body, MLflow's codes imply one."""
    stated = body.get("statusCode")
    if isinstance(stated, int):
        return stated
    from mlflow.exceptions import ERROR_CODE_TO_HTTP_STATUS

    return ERROR_CODE_TO_HTTP_STATUS.get(str(error.error_code))


def is_refusal(error: BaseException) -> bool:
    """Whether ``error`` says the registry does not support the request, by the allow-lists above.

    A ``NotImplementedError`` (a store that lacks the method) and an ``MlflowException`` whose answer has a
    refusal status and a refusal code, MLflow's (:data:`REFUSAL_CODES`) or Azure ML's
    (:data:`AZURE_REFUSAL_CODES`), are refusals. Nothing else is: not a server error, a timeout, a refused
    connection, a permission problem, nor a programming error such as ``AttributeError``.
    """
    from mlflow.exceptions import MlflowException

    if isinstance(error, NotImplementedError):
        return True
    if not isinstance(error, MlflowException) or _unique_violation(error):  # a lost race says nothing of it
        return False
    body = getattr(error, "json", None)  # a RestException: the server's answer as it came
    body = body if isinstance(body, dict) else {}
    if _status(error, body) not in REFUSAL_STATUSES:
        return False
    azure = body.get("Error")
    azure_code = azure.get("Code") if isinstance(azure, dict) else None
    return str(error.error_code) in REFUSAL_CODES or azure_code in AZURE_REFUSAL_CODES


def learn(client: RegistryClient, feature: str, supported: bool) -> None:
    """Record what the server answered about ``feature``."""
    if feature not in FEATURES:
        raise ValueError(f"unknown registry feature {feature!r}; known: {', '.join(FEATURES)}")
    setattr(of(client), feature, supported)


def attempt(
    client: RegistryClient, feature: str, call: Callable[..., T], *args: Any, **kwargs: Any
) -> T | Literal[Unsupported.UNSUPPORTED]:
    """Call ``call(*args, **kwargs)`` unless ``feature`` is known unsupported; learn from the answer.

    Returns:
        The call's result, or :data:`UNSUPPORTED` when the registry refused (now or before).

    Raises:
        Exception: Whatever the call raised that is not a refusal (no such alias, a network failure...).
    """
    known = getattr(of(client), feature)
    if known is False:
        return UNSUPPORTED
    try:
        result = call(*args, **kwargs)
    except Exception as error:
        # a registry that said yes once keeps the feature: a later failure is that call's own problem
        if known or not is_refusal(error):
            raise
        learn(client, feature, False)
        return UNSUPPORTED
    learn(client, feature, True)
    return result


def writes(client: RegistryClient) -> VersionWriter:
    """Where version tag and alias writes go: the registry client under ``client`` when it has one.

    Before each tag or alias write, ``MlflowClient`` reads the whole registered model (every version with its
    tags) to refuse writes to a prompt. labhelpers writes only to models, so it writes through the registry
    client that ``MlflowClient`` itself calls after that check (MLflow 2 and 3 alike): on a shared server, one
    of the heaviest requests fewer per write, six per batch and a dozen per promotion.
    """
    registry = getattr(client, "_get_registry_client", None)
    return registry() if callable(registry) else client


#: MLflow error codes of a write that lost a race with another writer: the server looks a row up, then
#: inserts it, and the loser's insert fails on the database's UNIQUE constraint or lock, which MLflow's server
#: answers as an internal error (500) or, for a busy database, "temporarily unavailable" (503).
RACE_CODES = frozenset({"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"})
#: MLflow 3.15's SQL store answers any other SQLAlchemy error as BAD_REQUEST (400), a lost UNIQUE insert
#: (SQLAlchemy's IntegrityError) included, e.g. two runs of a batch logging the same dataset at once. Such a
#: 400 is told from a real one by the database's own name for the violation in its message.
UNIQUE_VIOLATIONS = ("IntegrityError", "UniqueViolation", "UNIQUE constraint failed")


def lost_a_race(error: BaseException) -> bool:
    """Whether a write's ``error`` may be a race with another writer (:data:`RACE_CODES`), worth one more try.

    A refusal or a permission problem (400, 401, 403, 404...) answers the same on every try; a dropped
    connection was already retried by MLflow's own client; a programming error is no race.
    """
    from mlflow.exceptions import MlflowException

    if not isinstance(error, MlflowException):
        return False
    return str(error.error_code) in RACE_CODES or _unique_violation(error)


def _unique_violation(error: BaseException) -> bool:
    """A BAD_REQUEST that is MLflow's answer to a lost UNIQUE insert (:data:`UNIQUE_VIOLATIONS`)."""
    code = str(getattr(error, "error_code", ""))
    return code == "BAD_REQUEST" and any(name in str(error) for name in UNIQUE_VIOLATIONS)


def racing_writes(attempts: int = 3) -> tenacity.Retrying:
    """The retry of a write that races with concurrent writers (select-then-insert on the server).

    A ``tenacity.Retrying``: call it with the function and its arguments. Up to ``attempts`` tries, 50 ms
    then 100 ms (and so on) apart, of an error that may be a race (:func:`lost_a_race`); any other error (a
    403, a refusal, a bug) is raised at once, and the last race error after ``attempts`` tries.
    """
    import tenacity

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(lost_a_race),
        stop=tenacity.stop_after_attempt(attempts),
        wait=tenacity.wait_incrementing(start=0.05, increment=0.05),
        reraise=True,
    )


def with_retry(call: Callable[..., object], *args: object, attempts: int = 3) -> bool:
    """Call a registry write that races with concurrent writers (select-then-insert on the server).

    Returns:
        True when it succeeded; False after ``attempts`` failures (logged), for writes that are a mirror
        of information stored elsewhere (dataset input, aliases) and must not fail a registration.
    """
    from mlflow.exceptions import MlflowException

    try:
        racing_writes(attempts)(call, *args)
        return True
    except MlflowException as error:  # e.g. UNIQUE constraint failed; Azure ML: endpoint not supported
        _log.warning("%s%s failed %d times: %s", getattr(call, "__name__", call), args, attempts, error)
        return False


def set_alias(client: RegistryClient, name: str, alias: str, version: str | int, attempts: int = 3) -> bool:
    """Point ``alias`` at a version where the registry has aliases; True when it does now.

    Aliases only mirror the ``lifecycle`` tag, so a failure is logged, never raised. Concurrent writers can
    make a set fail on a database constraint; such failures are retried.
    """
    from mlflow.exceptions import MlflowException

    set_one = writes(client).set_registered_model_alias
    try:
        done = racing_writes(attempts)(attempt, client, "aliases", set_one, name, alias, str(version))
    except MlflowException as error:  # the registry's answer; a bug in the call is raised
        _log.warning("alias %s@%s -> %s not set: %s", name, alias, version, error)
        return False
    return done is not UNSUPPORTED


def delete_alias(client: RegistryClient, name: str, alias: str) -> None:
    """Remove ``alias`` where the registry has aliases (nothing to do elsewhere)."""
    attempt(client, "aliases", writes(client).delete_registered_model_alias, name, alias)
