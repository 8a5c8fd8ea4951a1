"""Choose the backend in one place: the local MLflow server (default) or an Azure ML workspace.

``connect("local")`` and ``connect("azure")`` return a :class:`Connection` and point MLflow at its tracking
URI; every other labhelpers function then works unchanged on either backend. Azure packages are imported
inside the functions, so importing this module stays instant and offline.

The workspace comes from, in this order: ``config_path``; the variables ``AZURE_SUBSCRIPTION_ID``,
``AZURE_RESOURCE_GROUP`` and ``AZUREML_WORKSPACE_NAME`` (all three); a ``config.json`` found by
``MLClient.from_config`` in ``.azureml/``, ``aml_config/`` or the folder itself, from the working directory
upwards. The tracking URI is a preset ``MLFLOW_TRACKING_URI`` naming that workspace (compute instances and
jobs set it), else ``workspaces.get(name).mlflow_tracking_uri``.

Credential policy (``credential=``):

* ``"default"``: azure-identity's ``DefaultAzureCredential`` without its interactive members (browser,
  broker, shared cache), so nothing ever waits for a human. Managed identity stays in the chain only where
  the environment declares one (``MSI_ENDPOINT``, ``IDENTITY_ENDPOINT`` or ``IMDS_ENDPOINT``, as on Azure ML
  compute instances and jobs, or ``AZURE_TOKEN_CREDENTIALS=prod``/``ManagedIdentityCredential``); elsewhere
  the managed-identity probe of 169.254.169.254 would only add seconds before failing.
* ``"cli"``: the ``az login`` identity only. Choose it on a compute instance when its managed identity has
  no role on the workspace (``DefaultAzureCredential`` picks the managed identity there and never falls back).
* ``"managed-identity"``: the managed identity only (user-assigned: set ``AZURE_CLIENT_ID``).

MLflow calls against ``azureml://`` go through the azureml-mlflow plugin, which builds its own
``DefaultAzureCredential`` chain; for ``"cli"`` and ``"managed-identity"`` :func:`connect` therefore also sets
``AZURE_TOKEN_CREDENTIALS`` (azure-identity's switch) so MLflow signs in with the same identity.

Workspace discovery and the tracking-URI lookup live in :mod:`labhelpers.azure.workspace` (their public
names are importable from here too); the training pipeline lives in :mod:`labhelpers.azure.pipeline`, which
imports this module, never the other way round.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from labhelpers.azure.workspace import RESOURCE_GROUP_ENV as RESOURCE_GROUP_ENV
from labhelpers.azure.workspace import SIGN_IN_HINT as SIGN_IN_HINT
from labhelpers.azure.workspace import SUBSCRIPTION_ENV as SUBSCRIPTION_ENV
from labhelpers.azure.workspace import WORKSPACE_ENV as WORKSPACE_ENV
from labhelpers.azure.workspace import WORKSPACE_ENVS as WORKSPACE_ENVS
from labhelpers.azure.workspace import AzureError, azure_tracking_uri, workspace_client
from labhelpers.azure.workspace import find_config as find_config

#: Set where a managed identity is reachable: Azure ML compute (MSI_ENDPOINT + MSI_SECRET), App Service and
#: Service Fabric (IDENTITY_ENDPOINT), Azure Arc (IMDS_ENDPOINT). azure-identity reads the same variables.
MANAGED_IDENTITY_ENVS = ("MSI_ENDPOINT", "IDENTITY_ENDPOINT", "IMDS_ENDPOINT")
TOKEN_CREDENTIALS_ENV = "AZURE_TOKEN_CREDENTIALS"
CREDENTIALS = ("default", "cli", "managed-identity")
_EXPORTED = {"cli": "AzureCliCredential", "managed-identity": "ManagedIdentityCredential"}
_exported_now: list[str] = []  # the AZURE_TOKEN_CREDENTIALS value connect() set, if any


@dataclass(frozen=True)
class Connection:
    """The backend :func:`connect` chose.

    Attributes:
        backend: ``"local"``, ``"azure"`` or ``"uri"`` (another MLflow server).
        tracking_uri: The MLflow tracking and registry URI now in use.
        workspace: The Azure ML workspace name (Azure only).
        ml_client: An ``azure.ai.ml.MLClient`` for the workspace (Azure only).
    """

    backend: str
    tracking_uri: str
    workspace: str | None = None
    ml_client: Any = field(default=None, repr=False, compare=False)

    def describe(self) -> str:
        """One line for a notebook: the backend and where it points (no subscription id)."""
        if self.backend != "azure":
            return f"{self.backend}: {self.tracking_uri}"
        host = urlparse(self.tracking_uri).netloc or "azureml"
        return f"azure: workspace {self.workspace} (MLflow at azureml://{host}/.../{self.workspace})"


def on_managed_identity() -> bool:
    """True where the environment declares a managed identity (see the module's credential policy)."""
    if any(os.environ.get(name) for name in MANAGED_IDENTITY_ENVS):
        return True
    return os.environ.get(TOKEN_CREDENTIALS_ENV, "").strip().lower() in ("prod", "managedidentitycredential")


def make_credential(kind: str | Any = "default", *, timeout: float = 10.0):
    """Build (never call) the credential named by ``kind``; any other object is returned as it is.

    Args:
        kind: ``"default"``, ``"cli"``, ``"managed-identity"`` or a ready ``TokenCredential``.
        timeout: Seconds the ``az`` (and other developer tool) subprocesses may take.

    Raises:
        AzureError: ``kind`` is an unknown name.
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
    raise AzureError(f"Unknown credential {kind!r}; use one of: {', '.join(CREDENTIALS)}.")


def _export_credential_choice(kind) -> None:
    """Make the azureml-mlflow plugin sign in with the identity chosen here (see the module docstring)."""
    wanted = _EXPORTED.get(kind.strip().lower().replace("_", "-")) if isinstance(kind, str) else None
    if wanted:
        os.environ[TOKEN_CREDENTIALS_ENV] = wanted
        _exported_now[:] = [wanted]
    elif _exported_now and os.environ.get(TOKEN_CREDENTIALS_ENV) == _exported_now[0]:
        del os.environ[TOKEN_CREDENTIALS_ENV]  # undo only what an earlier connect() set
        _exported_now.clear()


def connect(
    backend: str = "local",
    *,
    credential: str | Any = "default",
    config_path: str | Path | None = None,
    timeout: float = 10.0,
) -> Connection:
    """Choose the backend, point MLflow's tracking and registry at it, and return what was chosen.

    Also exports ``MLFLOW_TRACKING_URI``, so later calls without a URI and the ``ML/`` scripts started
    from here use the same backend.

    Args:
        backend: ``"local"`` (the lab's MLflow server), ``"azure"`` (an Azure ML workspace) or any MLflow
            tracking URI.
        credential: ``"default"``, ``"cli"``, ``"managed-identity"`` or a ``TokenCredential`` (Azure only).
        config_path: The workspace's config.json, or a folder to search from (Azure only).
        timeout: Seconds the Azure sign-in and workspace lookup may take in all.

    Returns:
        The :class:`Connection`.

    Raises:
        AzureError: Azure: no workspace configured, sign-in failed or the workspace did not answer; the
            message says what to provide.
        ServerError: The local (or given) MLflow server does not answer.
    """
    from labhelpers.core import config
    from labhelpers.server import tracking

    choice = (backend or "local").strip()
    if choice.lower() == "azure":
        ml_client = workspace_client(make_credential(credential, timeout=timeout), config_path)
        name = credential if isinstance(credential, str) else type(credential).__name__
        uri = azure_tracking_uri(ml_client, credential_name=name, timeout=timeout)
        _export_credential_choice(credential)
        result = Connection("azure", tracking.use_tracking(uri), ml_client.workspace_name, ml_client)
    elif choice.lower() == "local":
        result = Connection("local", tracking.use_tracking(config.local_tracking_uri()))
    else:
        uri = tracking.use_tracking(choice)
        result = Connection("azure" if tracking.is_azure_uri(uri) else "uri", uri)
    os.environ[tracking.TRACKING_URI_ENV] = result.tracking_uri
    return result
