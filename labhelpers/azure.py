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
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from labhelpers.config import PROJECT_ROOT
from labhelpers.errors import LabError

SUBSCRIPTION_ENV = "AZURE_SUBSCRIPTION_ID"
RESOURCE_GROUP_ENV = "AZURE_RESOURCE_GROUP"
WORKSPACE_ENV = "AZUREML_WORKSPACE_NAME"
WORKSPACE_ENVS = (SUBSCRIPTION_ENV, RESOURCE_GROUP_ENV, WORKSPACE_ENV)
#: Set where a managed identity is reachable: Azure ML compute (MSI_ENDPOINT + MSI_SECRET), App Service and
#: Service Fabric (IDENTITY_ENDPOINT), Azure Arc (IMDS_ENDPOINT). azure-identity reads the same variables.
MANAGED_IDENTITY_ENVS = ("MSI_ENDPOINT", "IDENTITY_ENDPOINT", "IMDS_ENDPOINT")
TOKEN_CREDENTIALS_ENV = "AZURE_TOKEN_CREDENTIALS"
CREDENTIALS = ("default", "cli", "managed-identity")
_EXPORTED = {"cli": "AzureCliCredential", "managed-identity": "ManagedIdentityCredential"}
_exported_now: list[str] = []  # the AZURE_TOKEN_CREDENTIALS value connect() set, if any

PIPELINE_FILE = PROJECT_ROOT / "ML" / "pipeline.yaml"
ENVIRONMENT_FILE = PROJECT_ROOT / "ML" / "environment" / "environment.yml"

SIGN_IN_HINT = (
    "Sign in with `az login` (add --use-device-code on a machine without a browser) and use "
    "credential='cli' (--credential cli); with a managed identity (compute instance, job) use "
    "credential='managed-identity'; for a service principal set AZURE_CLIENT_ID, AZURE_TENANT_ID and "
    "AZURE_CLIENT_SECRET and keep credential='default'."
)


class AzureError(LabError):
    """The Azure ML workspace cannot be found, signed in to or used."""


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


def workspace_client(credential, config_path: str | Path | None = None):
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

    if use_env:
        return MLClient(
            credential, values[SUBSCRIPTION_ENV], values[RESOURCE_GROUP_ENV], values[WORKSPACE_ENV]
        )
    try:
        return MLClient.from_config(credential, path=str(found))
    except Exception as error:  # a broken file: KeyError, JSONDecodeError, ValidationException...
        raise AzureError(
            f"{found} cannot be read as a workspace config ({type(error).__name__}: {error}); it needs "
            '"subscription_id", "resource_group" and "workspace_name".'
        ) from None


def _names_workspace(uri: str, ml_client) -> bool:
    """True when an azureml:// tracking URI points at the client's workspace."""
    path = urlparse(uri).path.rstrip("/").lower()
    wanted = (
        f"/subscriptions/{ml_client.subscription_id}/resourcegroups/{ml_client.resource_group_name}"
        f"/providers/microsoft.machinelearningservices/workspaces/{ml_client.workspace_name}"
    ).lower()
    return path.endswith(wanted)


def _within(seconds: float, action, what: str):
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


def _explain(error: Exception, ml_client, credential_name: str) -> AzureError:
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


def azure_tracking_uri(ml_client, *, credential_name: str = "default", timeout: float = 10.0) -> str:
    """The workspace's MLflow tracking URI: a preset ``MLFLOW_TRACKING_URI`` naming it, else asked for.

    Raises:
        AzureError: Sign-in failed, the workspace is missing or forbidden, or no answer within ``timeout``.
    """
    from labhelpers.tracking import TRACKING_URI_ENV, is_azure_uri

    preset = os.environ.get(TRACKING_URI_ENV, "").strip()
    if is_azure_uri(preset) and _names_workspace(preset, ml_client):
        return preset  # compute instance or job: no request needed
    try:
        workspace = _within(
            timeout,
            lambda: ml_client.workspaces.get(ml_client.workspace_name),
            "The Azure ML workspace lookup",
        )
    except AzureError:
        raise
    except Exception as error:
        raise _explain(error, ml_client, credential_name) from error
    uri = getattr(workspace, "mlflow_tracking_uri", None)
    if not uri:
        raise AzureError(f"Workspace {ml_client.workspace_name!r} reported no MLflow tracking URI.")
    return uri


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
    from labhelpers import config, tracking

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


def load_pipeline(pipeline: str | Path | None = None, *, compute: str | None = None, data: str | None = None):
    """Load ``ML/pipeline.yaml`` as a ``PipelineJob`` ready to submit (offline).

    Every step gets ``LAB_GIT_COMMIT``, the commit of this checkout: the uploaded snapshot has no ``.git``,
    and registered versions must name their code commit to pass the reproducibility audit.

    Args:
        pipeline: The pipeline YAML (default: ``ML/pipeline.yaml``).
        compute: A compute cluster name replacing ``settings.default_compute`` (``cpu-cluster``).
        data: Trips to train on instead of the shipped sample: ``azureml:NAME:VERSION``,
            ``azureml:NAME@latest``, an https URL or a local file (uploaded at submission).

    Raises:
        AzureError: The data reference is malformed or the local file is missing.
    """
    from azure.ai.ml import Input, load_job

    from labhelpers.provenance import GIT_COMMIT_ENV, git_info

    job = load_job(Path(pipeline or PIPELINE_FILE).resolve())
    if compute:
        job.settings.default_compute = compute.strip().removeprefix("azureml:")
    if data:
        job.inputs.data = Input(type="uri_file", path=_data_reference(data))
    git = git_info()
    if git["git_commit"] != "unknown":
        for node in job.jobs.values():
            node.environment_variables = {
                **(node.environment_variables or {}),
                GIT_COMMIT_ENV: git["git_commit"],
            }
    if git["git_dirty"] == "true":
        print(
            f"note: uncommitted changes are uploaded, but versions will name commit {git['git_commit'][:12]}"
        )
    return job


def _data_reference(data: str) -> str:
    from labhelpers.errors import RegistryError
    from labhelpers.references import parse_reference

    text = data.strip()
    if text.startswith("azureml:"):
        try:  # the same grammar as model references: NAME:3 or NAME@latest, never NAME@3
            return parse_reference(text).azureml()
        except RegistryError as error:
            raise AzureError(str(error).replace("model reference", "data reference")) from None
    if urlparse(text).scheme in ("http", "https", "abfss", "wasbs", "azureml"):
        return text
    path = Path(text).expanduser().resolve()
    if not path.is_file():
        raise AzureError(f"--data {text}: no such file; give a file, an https URL or azureml:NAME:VERSION.")
    return str(path)


def register_environment(connection: Connection, path: str | Path = ENVIRONMENT_FILE):
    """Create (or add a version of) the job environment ``taxi-ml-env`` from ``ML/environment``."""
    from azure.ai.ml import load_environment

    environment = connection.ml_client.environments.create_or_update(load_environment(Path(path).resolve()))
    print(f"Environment {environment.name} version {environment.version} ready (builds on first use).")
    return environment


def submit_pipeline(
    connection: Connection | None = None,
    *,
    pipeline: str | Path | None = None,
    compute: str | None = None,
    data: str | None = None,
    experiment: str | None = None,
    create_environment: bool = False,
    stream: bool = False,
):
    """Submit ``ML/pipeline.yaml`` to the workspace and print the job's Azure ML Studio address.

    Args:
        connection: From ``connect("azure")`` (default: made here with the default credential).
        pipeline: The pipeline YAML (default: ``ML/pipeline.yaml``).
        compute: Compute cluster instead of the YAML's ``cpu-cluster``.
        data: Trips instead of the shipped sample (see :func:`load_pipeline`).
        experiment: Experiment name instead of the YAML's ``taxi-model-registry``.
        create_environment: Create or update ``taxi-ml-env`` first (needed once per workspace).
        stream: Wait for the pipeline and stream its logs.

    Returns:
        The submitted ``PipelineJob`` (``.name``, ``.studio_url``, ``.status``).

    Raises:
        AzureError: No workspace, or the submission was refused.
    """
    connection = connection or connect("azure")
    if connection.ml_client is None:
        raise AzureError(
            f"Pipelines run in an Azure ML workspace, but the backend is {connection.describe()}; "
            "use connect('azure')."
        )
    job = load_pipeline(pipeline, compute=compute, data=data)
    if create_environment:
        register_environment(connection)
    try:
        created = connection.ml_client.jobs.create_or_update(job, experiment_name=experiment)
    except Exception as error:  # azure-ai-ml raises many types; all mean "not submitted"
        raise AzureError(f"The pipeline was not submitted: {type(error).__name__}: {error}") from error
    print(f"Submitted pipeline job {created.name}: {created.studio_url}")
    if stream:
        connection.ml_client.jobs.stream(created.name)
    return created
