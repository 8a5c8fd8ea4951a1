"""Choose the backend in one place: the local MLflow server (default) or an Azure ML workspace.

``connect("local")`` and ``connect("azure")`` return a :class:`Connection` and point MLflow at its tracking
URI; every other labhelpers function then works unchanged on either backend. Azure packages are imported
inside the functions, so importing this module stays instant and offline.

The workspace comes from, in this order: ``config_path``; the variables ``AZURE_SUBSCRIPTION_ID``,
``AZURE_RESOURCE_GROUP`` and ``AZUREML_WORKSPACE_NAME`` (all three); a ``config.json`` found by
``MLClient.from_config`` in ``.azureml/``, ``aml_config/`` or the folder itself, from the working directory
upwards. The tracking URI is a preset ``MLFLOW_TRACKING_URI`` naming that workspace (compute instances and
jobs set it), else ``workspaces.get(name).mlflow_tracking_uri``.

Credential policy (``credential=``): ``"default"`` (``DefaultAzureCredential`` without any interactive
member; managed identity only where the environment declares one), ``"cli"`` (``az login`` only) or
``"managed-identity"``; the details live in :mod:`labhelpers.azure.mlflow_api.signin`. Nothing ever waits on a
browser or a device code: the chosen credential is wrapped in a deadline (``timeout``) and given to
azure-ai-ml and to MLflow's azureml plugin alike, so the plugin never builds its own chain, which ends in
interactive sign-ins. For ``"cli"`` and ``"managed-identity"`` :func:`connect` also sets
``AZURE_TOKEN_CREDENTIALS`` (azure-identity's switch) for child processes that sign in on their own.
Before returning, ``connect("azure")`` makes one MLflow request to the workspace, so a preset
``MLFLOW_TRACKING_URI`` that nobody can sign in to fails here, with a message, not at the first real call.

Workspace discovery and the tracking-URI lookup live in :mod:`labhelpers.azure.ml.workspace` (their public
names are importable from here too); the training pipeline lives in :mod:`labhelpers.azure.ml.pipeline`, which
imports this module, never the other way round.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from labhelpers.azure.ml.workspace import RESOURCE_GROUP_ENV as RESOURCE_GROUP_ENV
from labhelpers.azure.ml.workspace import SIGN_IN_HINT as SIGN_IN_HINT
from labhelpers.azure.ml.workspace import SUBSCRIPTION_ENV as SUBSCRIPTION_ENV
from labhelpers.azure.ml.workspace import WORKSPACE_ENV as WORKSPACE_ENV
from labhelpers.azure.ml.workspace import WORKSPACE_ENVS as WORKSPACE_ENVS
from labhelpers.azure.ml.workspace import (
    AzureError,
    azure_tracking_uri,
    check_mlflow_answers,
    workspace_client,
    workspace_name_of,
)
from labhelpers.azure.ml.workspace import find_config as find_config
from labhelpers.azure.mlflow_api import signin
from labhelpers.foundation.errors import ServerError

MANAGED_IDENTITY_ENVS = signin.MANAGED_IDENTITY_ENVS
TOKEN_CREDENTIALS_ENV = signin.TOKEN_CREDENTIALS_ENV
CREDENTIALS = signin.CREDENTIALS
on_managed_identity = signin.on_managed_identity
_EXPORTED = {"cli": "AzureCliCredential", "managed-identity": "ManagedIdentityCredential"}
#: The ``AZURE_TOKEN_CREDENTIALS`` value :func:`connect` set, if any: a later ``connect`` removes only that
#: value, never one the user set. Empty in a fresh process (a test starts from an empty record too).
EXPORTED_CHOICE: list[str] = []


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


def make_credential(kind: str | Any = "default", *, timeout: float = 10.0) -> Any:
    """Build (never call) the credential named by ``kind`` (see :mod:`labhelpers.azure.mlflow_api.signin`).

    Args:
        kind: ``"default"``, ``"cli"``, ``"managed-identity"`` or a ready ``TokenCredential``.
        timeout: Seconds the ``az`` (and other developer tool) subprocesses may take.

    Raises:
        AzureError: ``kind`` is an unknown name.
    """
    try:
        return signin.make_credential(kind, timeout=timeout)
    except ValueError as error:
        raise AzureError(str(error)) from None


def _export_credential_choice(kind: str) -> None:
    """Make the azureml-mlflow plugin sign in with the identity chosen here (see the module docstring)."""
    wanted = _EXPORTED.get(kind.strip().lower().replace("_", "-")) if isinstance(kind, str) else None
    if wanted:
        os.environ[TOKEN_CREDENTIALS_ENV] = wanted
        EXPORTED_CHOICE[:] = [wanted]
    elif EXPORTED_CHOICE and os.environ.get(TOKEN_CREDENTIALS_ENV) == EXPORTED_CHOICE[0]:
        del os.environ[TOKEN_CREDENTIALS_ENV]  # undo only what an earlier connect() set
        EXPORTED_CHOICE.clear()


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
        backend: ``"local"`` (the lab's MLflow server, whatever ``$MLFLOW_TRACKING_URI`` says), ``"azure"``
            (an Azure ML workspace), ``"env"`` (the server ``$MLFLOW_TRACKING_URI`` names: the classroom
            server after its export block, or a compute instance's workspace) or any MLflow tracking URI.
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
    from labhelpers.foundation import config
    from labhelpers.tracking import connection as tracking

    choice = (backend or "local").strip()
    if choice.lower() == "env":
        return connect(_preset_uri(), credential=credential, config_path=config_path, timeout=timeout)
    if choice.lower() == "azure":
        result = _connect_azure(credential, config_path, timeout)
    elif choice.lower() == "local":  # the lab's server, never a preset $MLFLOW_TRACKING_URI (a workspace)
        result = Connection("local", tracking.use_tracking(config.local_tracking_uri()))
    else:
        uri = tracking.use_tracking(choice)
        azure = tracking.is_azure_uri(uri)
        result = Connection("azure" if azure else "uri", uri, workspace_name_of(uri) if azure else None)
    os.environ[tracking.TRACKING_URI_ENV] = result.tracking_uri
    return result


def _preset_uri() -> str:
    """The tracking URI ``backend="env"`` means: ``$MLFLOW_TRACKING_URI``, which must be set."""
    from labhelpers.tracking import connection as tracking

    preset = os.environ.get(tracking.TRACKING_URI_ENV, "").strip()
    if not preset:
        raise ServerError(
            f'backend = "env" uses ${tracking.TRACKING_URI_ENV}, which is not set in the environment '
            "this notebook or script runs in. Paste your classroom's export block (`python -m labhelpers "
            "classroom export`) into the terminal before starting JupyterLab, or pass tracking_uri."
        )
    return preset


def _connect_azure(credential: str | Any, config_path: str | Path | None, timeout: float) -> Connection:
    """Sign in to the workspace, point MLflow at it and check that it answers (see :func:`connect`)."""
    from labhelpers.tracking import connection as tracking

    name = credential if isinstance(credential, str) else type(credential).__name__
    # one bounded, non-interactive credential for azure-ai-ml and for MLflow's azureml plugin alike
    signed_in = signin.BoundedCredential(make_credential(credential, timeout=timeout), name, timeout)
    ml_client = workspace_client(signed_in, config_path)
    uri = azure_tracking_uri(ml_client, credential_name=name, timeout=timeout)
    _export_credential_choice(credential)
    signin.install(uri, signed_in)
    uri = tracking.use_tracking(uri)
    check_mlflow_answers(uri, ml_client, name, timeout)
    return Connection("azure", uri, ml_client.workspace_name, ml_client)
