"""Choose the MLflow tracking server explicitly, check that it answers, and fail fast when it does not.

An unset tracking URI makes MLflow write to ``./mlflow.db`` (or ``./mlruns``) beside the notebook, where the
registry the lab talks about never sees it; so the URI is always resolved here and checked before use.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

import requests

from labhelpers.foundation import config
from labhelpers.foundation.errors import ServerError

TRACKING_URI_ENV = "MLFLOW_TRACKING_URI"
#: The certificate (or CA bundle) a TLS tracking server is checked against, as MLflow's client reads it.
SERVER_CERT_ENV = "MLFLOW_TRACKING_SERVER_CERT_PATH"

#: MLflow's client defaults are 7 retries with exponential backoff (factor 2) and a 120 s timeout per
#: request: built to ride out a rate-limiting cloud backend, but a stopped local server then stalls every
#: call for minutes before an error appears. A refused connection now fails in a few seconds (3 attempts,
#: backoff 0 s then ~2 s plus up to 1 s jitter); a server that accepts but never answers is caught by
#: check_reachable's 5 s probe before any work starts. The per-request timeout stays at MLflow's 120 s:
#: MLflow retries POSTs too, and a registration that is merely slow (eight processes writing to one SQLite
#: file stalled the server for 30 s once) must not be retried into a second model version.
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # MLflow parses it as an int
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "120",
}

#: A real API call; /health answers even when the tracking API does not.
_PROBE_PATH = "/api/2.0/mlflow/experiments/search"
_START_HINT = (
    "Start the local one with `make server` (or `python -m labhelpers server start`), "
    f"or set {TRACKING_URI_ENV} to a reachable server."
)


def is_azure_uri(uri: str | None) -> bool:
    """True for an Azure ML workspace tracking URI (``azureml://...``)."""
    return bool(uri) and str(uri).startswith("azureml:")


def resolve_tracking_uri(explicit: str | None = None) -> str:
    """Return the tracking URI to use: the argument, else ``$MLFLOW_TRACKING_URI``, else the local server.

    Never falls back to a ``./mlruns`` folder or ``./mlflow.db`` file; empty values count as unset.

    Args:
        explicit: A URI chosen by the caller (a notebook parameter, a ``--tracking-uri`` option).

    Returns:
        The URI, e.g. ``http://127.0.0.1:5000`` or an ``azureml://`` workspace URI.
    """
    for candidate in (explicit, os.environ.get(TRACKING_URI_ENV)):
        if candidate and candidate.strip():
            return candidate.strip()
    return config.local_tracking_uri()


#: Quiet, offline defaults: no usage telemetry leaves the machine (the lab's network rule), and no "View run
#: at ..." lines that change on every run (they would break nbval's output comparison).
QUIET_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}


def configure_client_timeouts() -> dict[str, str]:
    """Set MLflow's HTTP retry/timeout variables to fail-fast values, unless the user has set them.

    MLflow reads these variables on every request, so calling this after ``import mlflow`` works.

    Returns:
        The values now in effect, by variable name (the user's where they had set one).
    """
    for name, value in {**CLIENT_DEFAULTS, **QUIET_DEFAULTS}.items():
        os.environ.setdefault(name, value)
    return {name: os.environ[name] for name in CLIENT_DEFAULTS}


def check_reachable(uri: str, timeout: float | None = None) -> None:
    """Make one quick real API request to an http(s) tracking server; other schemes are not checked.

    ``azureml://`` URIs are left to the Azure helpers (authentication happens there).

    Args:
        uri: The tracking URI.
        timeout: Seconds to wait for the answer (one attempt, no retries). Default 5 s for plain HTTP (the
            lab's own server), 30 s for HTTPS: a shared server with accounts (the classroom) answers a
            cohort's first signed-in requests slowly, since each checks a password hash.

    Raises:
        ServerError: Nothing answers at the URI, or what answers is not an MLflow tracking server.
    """
    scheme = urlparse(uri).scheme
    if scheme not in ("http", "https"):
        return
    if timeout is None:
        timeout = 30.0 if scheme == "https" else 5.0
    # A server with a self-signed certificate (the classroom server) is trusted through the same variable
    # the MLflow client reads, so the probe and the client agree on what is trusted.
    verify = os.environ.get(SERVER_CERT_ENV) or True
    try:
        response = requests.get(
            uri.rstrip("/") + _PROBE_PATH, params={"max_results": 1}, timeout=timeout, verify=verify
        )
    except requests.exceptions.SSLError as error:
        raise ServerError(
            f"The TLS certificate of {uri} is not trusted ({error.__class__.__name__}). Set "
            f"{SERVER_CERT_ENV} to the certificate file your instructor handed out."
        ) from error
    except requests.RequestException as error:
        raise ServerError(f"No MLflow server answers at {uri}. {_START_HINT}") from error
    # 401: a server with authentication; the MLflow client sends the credentials, this probe does not.
    if response.status_code in (200, 401):
        return
    airplay = " (On macOS, AirPlay Receiver holds port 5000.)" if urlparse(uri).port == 5000 else ""
    raise ServerError(
        f"Something answers at {uri}, but not as an MLflow tracking server (HTTP {response.status_code} "
        f"on {_PROBE_PATH}).{airplay} For the local server pick a free port, e.g. "
        f"`{config.PORT_ENV}=5001 make run`, or set {TRACKING_URI_ENV} to a reachable MLflow server."
    )


def use_tracking(uri: str | None = None) -> str:
    """Point MLflow's tracking and registry at a checked server and return its URI.

    Args:
        uri: Tracking URI; default ``$MLFLOW_TRACKING_URI``, else the local server (see
            :func:`resolve_tracking_uri`).

    An ``azureml://`` URI gets a non-interactive sign-in with a deadline
    (:func:`labhelpers.azure.mlflow_api.signin.guard`) unless one was installed already.

    Returns:
        The URI now used for tracking and the model registry.

    Raises:
        ServerError: The server does not answer (see :func:`check_reachable`).
    """
    resolved = resolve_tracking_uri(uri)
    configure_client_timeouts()
    check_reachable(resolved)
    if is_azure_uri(resolved):  # MLflow's azureml plugin would otherwise sign in with prompts, unbounded
        from labhelpers.azure.mlflow_api import signin

        signin.guard(resolved)
    import mlflow  # lazily: importing mlflow takes seconds

    mlflow.set_tracking_uri(resolved)
    mlflow.set_registry_uri(resolved)
    return resolved
