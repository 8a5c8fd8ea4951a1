"""Sign-in for ``azureml://`` tracking URIs that never waits on a prompt and gives up within seconds.

MLflow reaches an Azure ML workspace through the azureml-mlflow plugin, which signs in on its own: it builds
``DefaultAzureCredential``'s members, then an interactive browser and a device-code credential, with no
timeout, and caches the result per tracking URI for the life of the process (azureml-mlflow 1.62.0.post6,
``azureml/mlflow/_internal/utils.py`` and ``service_context_loader.py``). With no ``az login`` session, an
MLflow call can therefore wait on a device code that nobody sees. ``AZURE_TOKEN_CREDENTIALS`` narrows only
the ``DefaultAzureCredential`` part.

:func:`install` puts a service context with our own credential into that per-URI cache before the plugin
builds one, so the plugin's chain is never made: the credential is one of :func:`make_credential` (nothing
interactive in any of them) wrapped in :class:`BoundedCredential`, which gives up after a deadline with a
message that says what to run, and remembers a failure for a minute so that retries fail at once.
Inside an Azure ML job (``MLFLOW_TRACKING_TOKEN`` and ``MLFLOW_RUN_ID`` set) the plugin uses the job's
token and nothing is installed. The plugin's cache and ``ServiceContext`` are private to azureml-mlflow:
the pinned version is the one this was written against, and a unit test fails if they move.

Credential policy (``kind``):

* ``"default"``: ``DefaultAzureCredential`` without its interactive members (browser, broker, shared
  cache). Managed identity stays in the chain only where the environment declares one (``MSI_ENDPOINT``,
  ``IDENTITY_ENDPOINT`` or ``IMDS_ENDPOINT``, as on Azure ML compute, or ``AZURE_TOKEN_CREDENTIALS`` set to
  ``prod``/``ManagedIdentityCredential``); elsewhere the probe of 169.254.169.254 only adds seconds.
* ``"cli"``: the ``az login`` identity only.
* ``"managed-identity"``: the managed identity only (user-assigned: set ``AZURE_CLIENT_ID``).

Lives in ``labhelpers.azure.mlflow_api``, the Azure room below the tracking setup, so that
:func:`labhelpers.tracking.connection.use_tracking` can guard an ``azureml://`` URI too; azure-identity and
azureml-mlflow are imported inside the functions.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any
from urllib.parse import urlparse

MANAGED_IDENTITY_ENVS = ("MSI_ENDPOINT", "IDENTITY_ENDPOINT", "IMDS_ENDPOINT")
TOKEN_CREDENTIALS_ENV = "AZURE_TOKEN_CREDENTIALS"
CREDENTIALS = ("default", "cli", "managed-identity")
DEFAULT_TIMEOUT = 10.0
FAILURE_MEMORY_SECONDS = 60.0
SIGN_IN_HINT = (
    "Sign in with `az login` (add --use-device-code on a machine without a browser) and use "
    "credential='cli' (--credential cli); with a managed identity (compute instance, job) use "
    "credential='managed-identity'; for a service principal set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
    "AZURE_CLIENT_SECRET and keep credential='default'."
)
_JOB_TOKEN_ENVS = ("MLFLOW_TRACKING_TOKEN", "MLFLOW_RUN_ID")


def on_managed_identity() -> bool:
    """True where the environment declares a managed identity (see the module's credential policy)."""
    if any(os.environ.get(name) for name in MANAGED_IDENTITY_ENVS):
        return True
    return os.environ.get(TOKEN_CREDENTIALS_ENV, "").strip().lower() in ("prod", "managedidentitycredential")


def make_credential(kind: str | Any = "default", *, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """Build (never call) the credential named by ``kind``; any other object is returned as it is.

    Args:
        kind: ``"default"``, ``"cli"``, ``"managed-identity"`` or a ready ``TokenCredential``.
        timeout: Seconds the ``az`` (and other developer tool) subprocesses may take.

    Raises:
        ValueError: ``kind`` is an unknown name.
    """
    if not isinstance(kind, str):
        return kind
    key = kind.strip().lower().replace("_", "-")
    if key == "cli":
        from azure.identity import AzureCliCredential

        return AzureCliCredential(process_timeout=max(1, int(timeout)))
    if key == "managed-identity":
        from azure.identity import ManagedIdentityCredential

        return ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID") or None)
    if key == "default":
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential(
            exclude_interactive_browser_credential=True,  # no prompt may ever wait in a notebook or a test
            exclude_broker_credential=True,
            exclude_shared_token_cache_credential=True,
            exclude_managed_identity_credential=not on_managed_identity(),
            process_timeout=max(1, int(timeout)),
        )
    raise ValueError(f"Unknown credential {kind!r}; use one of: {', '.join(CREDENTIALS)}.")


class BoundedCredential:
    """A ``TokenCredential`` that answers within ``timeout`` seconds or raises, saying how to sign in.

    A failure is remembered for :data:`FAILURE_MEMORY_SECONDS`: MLflow and the plugin ask again on every
    request and retry, and each of those asks then fails at once instead of waiting again.

    Args:
        inner: The credential that really signs in.
        name: The credential's name for messages (``"cli"``...).
        timeout: Seconds one token request may take.
    """

    def __init__(self, inner: Any, name: str = "default", timeout: float = DEFAULT_TIMEOUT) -> None:
        self.inner, self.name, self.timeout = inner, name, timeout
        self._failed: tuple[float, str] | None = None

    def _fail(self, reason: str) -> Exception:
        from azure.core.exceptions import ClientAuthenticationError

        self._failed = (time.monotonic(), reason)
        return ClientAuthenticationError(
            f"Could not sign in to Azure with credential {self.name!r}: {reason}. {SIGN_IN_HINT}"
        )

    def _call(self, method: str, *scopes: str, **kwargs: Any) -> Any:
        if self._failed and time.monotonic() - self._failed[0] < FAILURE_MEMORY_SECONDS:
            raise self._fail(self._failed[1])
        box: dict[str, Any] = {}

        def work() -> None:
            try:
                box["value"] = getattr(self.inner, method)(*scopes, **kwargs)
            except BaseException as error:  # handed to the caller below
                box["error"] = error

        worker = threading.Thread(target=work, name="labhelpers-sign-in", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            raise self._fail(f"no token within {self.timeout:g} s")
        if "error" in box:
            reason = (str(box["error"]).strip().splitlines() or [type(box["error"]).__name__])[0][:300]
            raise self._fail(reason.rstrip(".")) from box["error"]
        self._failed = None
        return box["value"]

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        """A token for ``scopes``, within the deadline (azure-core's ``TokenCredential`` protocol)."""
        return self._call("get_token", *scopes, **kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        """The newer azure-core protocol (``SupportsTokenInfo``), where the inner credential has it."""
        return self._call("get_token_info", *scopes, **kwargs)


def _in_job() -> bool:
    return all(os.environ.get(name) for name in _JOB_TOKEN_ENVS)


def install(tracking_uri: str, credential: Any) -> bool:
    """Make the azureml-mlflow plugin use ``credential`` for ``tracking_uri`` (replacing any earlier one).

    Returns:
        True when installed; False inside an Azure ML job, where the plugin uses the job's own token.
    """
    if _in_job():
        return False
    # azureml-mlflow 1.62.0.post6 has no public way to give its plugin a credential for a tracking URI: it
    # builds its own chain (interactive members, no timeout) into a private per-URI cache. Each private name
    # below is what that gap leaves; the module docstring says why, and a unit test fails if one moves.
    # no public cloud lookup: the plugin resolves AZUREML_CURRENT_CLOUD only inside its private chain
    from azureml.mlflow._common._cloud.cloud import _get_cloud_or_default  # noqa: PLC2701

    # no public setter for the per-URI service context (the credential's cache)
    from azureml.mlflow._internal.service_context_loader import (  # noqa: PLC2701
        _AzureMLServiceContextLoader,
    )

    # no public ServiceContext nor parser of an azureml:// URI's subscription, group and workspace
    from azureml.mlflow._internal.utils import (  # noqa: PLC2701
        _RES_GRP,
        _SUB_ID,
        _WS_NAME,
        ServiceContext,
        tracking_uri_decomp,
    )

    parsed = urlparse(tracking_uri)
    parts = tracking_uri_decomp(parsed.path, False)
    # a named cloud needs no metadata download; the public cloud unless the plugin's variable says otherwise
    cloud = _get_cloud_or_default(os.environ.get("AZUREML_CURRENT_CLOUD") or "AzureCloud")
    context = ServiceContext(
        host_url=f"https://{parsed.netloc}",
        subscription_id=parts[_SUB_ID],
        workspace_name=parts[_WS_NAME],
        resource_group_name=parts[_RES_GRP],
        auth=credential,
        cloud=cloud,
    )
    _AzureMLServiceContextLoader.add_service_context(tracking_uri, context)
    return True


def guard(tracking_uri: str, kind: str | Any = "default", timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Install a non-interactive, bounded credential for an ``azureml://`` URI unless one is there already.

    Returns:
        True when the URI is now guarded by a credential of ours (or was already).
    """
    if not str(tracking_uri).startswith("azureml:") or _in_job():
        return False
    # no public way to ask which credential the plugin holds for a URI (see install)
    from azureml.mlflow._internal.service_context_loader import (  # noqa: PLC2701
        _AzureMLServiceContextLoader,
    )

    if _AzureMLServiceContextLoader.has_service_context(tracking_uri):
        current = _AzureMLServiceContextLoader.get_service_context(tracking_uri)
        if isinstance(getattr(current, "auth", None), BoundedCredential):
            return True
    name = kind if isinstance(kind, str) else type(kind).__name__
    return install(tracking_uri, BoundedCredential(make_credential(kind, timeout=timeout), name, timeout))
