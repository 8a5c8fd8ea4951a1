"""Find the Azure ML workspace and ask it for its MLflow tracking URI, never waiting longer than a timeout.

The search order and the sign-in policy are described in :mod:`labhelpers.azure.ml.connect`; azure-ai-ml and
azure-core are imported inside the functions, so importing this module stays instant and offline.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from labhelpers.azure.mlflow_api import signin
from labhelpers.foundation.errors import LabError

SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"
RESOURCE_GROUP_ENV = "AZURE_RESOURCE_GROUP"
WORKSPACE_ENV = "AZUREML_WORKSPACE_NAME"
WORKSPACE_ENVS = (SUBSCRIPTION_ENV, RESOURCE_GROUP_ENV, WORKSPACE_ENV)

SIGN_IN_HINT = signin.SIGN_IN_HINT


class AzureError(LabError):
    """The Azure ML workspace cannot be found, signed in to or used."""


def _no_workspace(missing: list[str]) -> AzureError:
    return AzureError(
        "No Azure ML workspace configured. Either download config.json from Azure ML Studio (workspace "
        f"menu, top right: 'Download config file') and put it in .azureml/config.json under {Path.cwd()} "
        "or any folder above it (or pass config_path= / --config PATH), or set "
        f"{SUBSCRIPTION_ENV}, {RESOURCE_GROUP_ENV} and {WORKSPACE_ENV} (missing: {', '.join(missing)}). "
        + SIGN_IN_HINT
    )


def find_config(start: str | Path | None = None) -> Path | None:
    """The config.json ``MLClient.from_config`` would pick, without importing azure-ai-ml.

    Same search as azure-ai-ml 1.35: ``.azureml/``, then ``aml_config/``, then the folder itself, each from
    ``start`` (default: the working directory) up to 20 levels; ``config.json`` before ``project.json``.
    """
    start = Path(start or Path.cwd()).resolve()
    if start.is_file():
        return start
    folders = [start, *list(start.parents)[:20]]
    for sub in (".azureml", "aml_config", ""):
        for name in ("config.json", "project.json"):
            for folder in folders:
                if (folder / sub / name).is_file():
                    return folder / sub / name
    return None


def workspace_names(config_path: str | Path | None = None) -> tuple[str, str] | None:
    """The configured workspace's resource group and name, read offline; None when none is configured.

    The same sources as :func:`workspace_client` (the variables, else config.json), read without azure-ai-ml:
    for the ``-g``/``-w`` of the ``az ml`` commands labhelpers prints. A config.json that cannot be read
    counts as none here (:func:`workspace_client` explains it when connecting).
    """
    import json

    values = {name: os.environ.get(name, "").strip() for name in WORKSPACE_ENVS}
    if config_path is None and values[RESOURCE_GROUP_ENV] and values[WORKSPACE_ENV]:
        return values[RESOURCE_GROUP_ENV], values[WORKSPACE_ENV]
    found = find_config(config_path)
    try:
        data = json.loads(found.read_text()) if found else {}
        group, name = str(data["resource_group"]).strip(), str(data["workspace_name"]).strip()
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return (group, name) if group and name else None


def workspace_client(credential: Any, config_path: str | Path | None = None) -> Any:
    """An ``MLClient`` for the configured workspace; builds it without any network request.

    Args:
        credential: A ``TokenCredential`` (see :func:`make_credential`).
        config_path: A config.json file, or a folder to search from (default: the variables, then the
            working directory upwards).

    Raises:
        AzureError: No configuration found (checked before azure-ai-ml is even imported), or config.json
            cannot be read.
    """
    values = {name: os.environ.get(name, "").strip() for name in WORKSPACE_ENVS}
    use_env = config_path is None and all(values.values())
    found = None if use_env else find_config(config_path)
    if not use_env and found is None:
        if config_path is not None:
            raise AzureError(f"No config.json at {config_path} (nor in .azureml/ or the folders above it).")
        raise _no_workspace([name for name, value in values.items() if not value])
    from azure.ai.ml import MLClient
    from azure.core.exceptions import AzureError as SdkError

    if use_env:
        return MLClient(
            credential, values[SUBSCRIPTION_ENV], values[RESOURCE_GROUP_ENV], values[WORKSPACE_ENV]
        )
    try:
        return MLClient.from_config(credential, path=str(found))
    # a broken file: a key missing (KeyError), bad JSON (ValueError), unreadable (OSError), or refused by
    # azure-ai-ml (its ValidationException is an azure-core AzureError); a bug is raised as it is
    except (KeyError, ValueError, OSError, SdkError) as error:
        raise AzureError(
            f"{found} cannot be read as a workspace config ({type(error).__name__}: {error}); it needs "
            '"subscription_id", "resource_group" and "workspace_name".'
        ) from None


def _names_workspace(uri: str, ml_client: Any) -> bool:
    """True when an azureml:// tracking URI points at the client's workspace."""
    path = urlparse(uri).path.rstrip("/").lower()
    wanted = (
        f"/subscriptions/{ml_client.subscription_id}/resourcegroups/{ml_client.resource_group_name}"
        f"/providers/microsoft.machinelearningservices/workspaces/{ml_client.workspace_name}"
    ).lower()
    return path.endswith(wanted)


T = TypeVar("T")


def _within(seconds: float, action: Callable[[], T], what: str) -> T:
    """Run ``action()`` in a daemon thread; give up after ``seconds`` (Azure SDKs retry for minutes)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = action()
        except BaseException as error:  # handed to the caller below
            box["error"] = error

    worker = threading.Thread(target=work, name="labhelpers-azure", daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        raise AzureError(f"{what} got no answer within {seconds:g} s. Check the network, then {SIGN_IN_HINT}")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _explain(error: Exception, ml_client: Any, credential_name: str) -> AzureError:
    from azure.core import exceptions as core

    where = f"workspace {ml_client.workspace_name!r} in resource group {ml_client.resource_group_name!r}"
    reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300].rstrip(".")
    if isinstance(error, core.ClientAuthenticationError):
        return AzureError(
            f"Could not sign in to Azure with credential {credential_name!r}: {reason}. {SIGN_IN_HINT}"
        )
    if isinstance(error, core.ResourceNotFoundError):
        return AzureError(
            f"No {where} in that subscription; check config.json or {', '.join(WORKSPACE_ENVS)}."
        )
    if isinstance(error, core.HttpResponseError) and error.status_code == 403:
        return AzureError(
            f"Signed in, but this identity has no access to {where} (HTTP 403); ask for the 'AzureML Data "
            "Scientist' role on it, or sign in as someone who has it (credential='cli' after `az login`)."
        )
    return AzureError(f"Could not reach {where}: {type(error).__name__}: {reason}")


def azure_tracking_uri(ml_client: Any, *, credential_name: str = "default", timeout: float = 10.0) -> str:
    """The workspace's MLflow tracking URI: a preset ``MLFLOW_TRACKING_URI`` naming it, else asked for.

    Raises:
        AzureError: Sign-in failed, the workspace is missing or forbidden, or no answer within ``timeout``.
    """
    from labhelpers.tracking.connection import TRACKING_URI_ENV, is_azure_uri

    preset = os.environ.get(TRACKING_URI_ENV, "").strip()
    if is_azure_uri(preset) and _names_workspace(preset, ml_client):
        return preset  # compute instance or job: no request needed
    from azure.core.exceptions import AzureError as SdkError

    try:
        workspace = _within(
            timeout,
            lambda: ml_client.workspaces.get(ml_client.workspace_name),
            "The Azure ML workspace lookup",
        )
    except SdkError as error:  # sign-in, HTTP and network failures of azure-core; a bug is raised as it is
        raise _explain(error, ml_client, credential_name) from error
    uri = getattr(workspace, "mlflow_tracking_uri", None)
    if not uri:
        raise AzureError(f"Workspace {ml_client.workspace_name!r} reported no MLflow tracking URI.")
    return uri


def workspace_name_of(uri: str) -> str | None:
    """The workspace name an ``azureml://`` tracking URI ends with, or None."""
    parts = urlparse(uri).path.rstrip("/").split("/")
    return parts[-1] if len(parts) > 2 and parts[-2].lower() == "workspaces" else None


def _forbidden(error: Exception) -> bool:
    """Whether ``error`` is an HTTP 403: by MLflow's error code, Azure's stated status, or azure-core's."""
    body = getattr(error, "json", None)  # MLflow's RestException: Azure ML's answer as it came
    stated = body.get("statusCode") if isinstance(body, dict) else None
    return (
        getattr(error, "error_code", None) == "PERMISSION_DENIED"
        or stated == 403
        or getattr(error, "status_code", None) == 403
    )


def check_mlflow_answers(uri: str, ml_client: Any, credential_name: str, timeout: float = 10.0) -> None:
    """Make one MLflow request to the workspace, so sign-in and access fail here, explained.

    Raises:
        AzureError: No token (the message says what to run), no access, or no answer within ``timeout``.
    """
    from azure.core.exceptions import AzureError as SdkError
    from azure.core.exceptions import ClientAuthenticationError
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        _within(
            timeout,
            lambda: MlflowClient(uri, uri).search_experiments(max_results=1),
            "The workspace's MLflow API",
        )
    except (MlflowException, SdkError) as error:  # the API's answer or the sign-in; a bug is raised
        # MLflow's client passes the plugin's sign-in failure on as the text of its own error
        if isinstance(error, ClientAuthenticationError) or "Could not sign in" in str(error):
            text = str(error).strip().splitlines()[0]
            raise AzureError(text if SIGN_IN_HINT in text else f"{text} {SIGN_IN_HINT}") from error
        if _forbidden(error):
            raise AzureError(
                f"Signed in as {credential_name!r}, but this identity has no access to the MLflow API of "
                f"workspace {ml_client.workspace_name!r} (HTTP 403); ask for the 'AzureML Data Scientist' "
                "role on it, or sign in as someone who has it (credential='cli' after `az login`)."
            ) from error
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise AzureError(f"The workspace's MLflow API at {uri} failed: {reason}") from error
