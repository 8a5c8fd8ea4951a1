"""Load, prepare and submit the training pipeline ``ML/pipeline.yaml`` to an Azure ML workspace.

azure-ai-ml is imported inside the functions, so importing this module stays instant and offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from labhelpers.azure.ml.workspace import AzureError
from labhelpers.foundation.config import PROJECT_ROOT

if TYPE_CHECKING:
    from labhelpers.azure.ml.connect import Connection

PIPELINE_FILE = PROJECT_ROOT / "ML" / "pipeline.yaml"
ENVIRONMENT_FILE = PROJECT_ROOT / "ML" / "environment" / "environment.yml"


def load_pipeline(
    pipeline: str | Path | None = None,
    *,
    compute: str | None = None,
    data: str | None = None,
    owner: str | None = None,
    learner: str | None = None,
) -> Any:
    """Load ``ML/pipeline.yaml`` as a ``PipelineJob`` ready to submit (offline).

    Every step gets ``LAB_GIT_COMMIT``, the commit of this checkout: the uploaded snapshot has no ``.git``,
    and registered versions must name their code commit to pass the reproducibility audit. Every step also
    gets ``LAB_OWNER``, the submitting person: inside the job the login name is the container's, so without
    it every version would record that as its ``owner``. With a learner (``learner=`` or ``$LAB_LEARNER``),
    every step gets ``LAB_LEARNER`` too, so a cohort sharing one workspace registers under each learner's
    names (``taxi-fare-linear-regression-<learner>``...) and experiment, never the shared ones.

    Args:
        pipeline: The pipeline YAML (default: ``ML/pipeline.yaml``).
        compute: A compute cluster name replacing ``settings.default_compute`` (``cpu-cluster``).
        data: Trips to train on instead of the shipped sample: ``azureml:NAME:VERSION``,
            ``azureml:NAME@latest``, an https URL or a local file (uploaded at submission).
        owner: Recorded as the versions' ``owner`` (default: ``$LAB_OWNER``, else your login name).
        learner: The learner namespace passed to every step (default: ``$LAB_LEARNER``; none: no variable,
            the course's own names).

    Raises:
        AzureError: The data reference is malformed or the local file is missing.
        LearnerError: The learner name is invalid (checked before anything is submitted).
    """
    from azure.ai.ml import Input, load_job

    from labhelpers.foundation.learner import LEARNER_ENV, current_learner
    from labhelpers.foundation.provenance import GIT_COMMIT_ENV, OWNER_ENV, default_owner, git_info

    who = current_learner(learner)  # an invalid name fails before the YAML is read

    # Any: load_job is typed as the base Job; this YAML loads as a PipelineJob, with settings and inputs
    job: Any = load_job(Path(pipeline or PIPELINE_FILE).resolve())
    if compute:
        job.settings.default_compute = compute.strip().removeprefix("azureml:")
    if data:
        job.inputs.data = Input(type="uri_file", path=_data_reference(data))
    git = git_info()
    passed = {OWNER_ENV: (owner or "").strip() or default_owner()}
    if who:
        passed[LEARNER_ENV] = who
    if git["git_commit"] != "unknown":
        passed[GIT_COMMIT_ENV] = git["git_commit"]
    for node in job.jobs.values():
        node.environment_variables = {**(node.environment_variables or {}), **passed}
    if git["git_dirty"] == "true":
        print(
            f"note: uncommitted changes are uploaded, but versions will name commit {git['git_commit'][:12]}"
        )
    return job


def _data_reference(data: str) -> str:
    from labhelpers.foundation.errors import RegistryError
    from labhelpers.registry.references import parse_reference

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


def register_environment(connection: Connection, path: str | Path = ENVIRONMENT_FILE) -> Any:
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
    owner: str | None = None,
    learner: str | None = None,
    create_environment: bool = False,
    stream: bool = False,
) -> Any:
    """Submit ``ML/pipeline.yaml`` to the workspace and print the job's Azure ML Studio address.

    Args:
        connection: From ``connect("azure")`` (default: made here with the default credential).
        pipeline: The pipeline YAML (default: ``ML/pipeline.yaml``).
        compute: Compute cluster instead of the YAML's ``cpu-cluster``.
        data: Trips instead of the shipped sample (see :func:`load_pipeline`).
        experiment: Experiment name instead of the YAML's ``taxi-model-registry``.
        owner: Recorded as the versions' ``owner`` (default: ``$LAB_OWNER``, else your login name).
        learner: Register under this learner's names (default: ``$LAB_LEARNER``; see :func:`load_pipeline`).
        create_environment: Create or update ``taxi-ml-env`` first (needed once per workspace).
        stream: Wait for the pipeline and stream its logs.

    Returns:
        The submitted ``PipelineJob`` (``.name``, ``.studio_url``, ``.status``).

    Raises:
        AzureError: No workspace, or the submission was refused.
    """
    from labhelpers.azure.ml.connect import connect
    from labhelpers.foundation.learner import current_learner

    learner = current_learner(learner)  # an invalid name fails before signing in
    connection = connection or connect("azure")
    if connection.ml_client is None:
        raise AzureError(
            f"Pipelines run in an Azure ML workspace, but the backend is {connection.describe()}; "
            "use connect('azure')."
        )
    job = load_pipeline(pipeline, compute=compute, data=data, owner=owner, learner=learner)
    if create_environment:
        register_environment(connection)
    from azure.core.exceptions import AzureError as SdkError

    try:
        created = connection.ml_client.jobs.create_or_update(job, experiment_name=experiment)
    # azure-ai-ml's refusals (ValidationException, HttpResponseError...) are azure-core AzureErrors; a code
    # folder it cannot read is an OSError. All mean "not submitted"; a bug is raised as it is.
    except (SdkError, OSError) as error:
        raise AzureError(f"The pipeline was not submitted: {type(error).__name__}: {error}") from error
    print(f"Submitted pipeline job {created.name}: {created.studio_url}")
    if stream:
        connection.ml_client.jobs.stream(created.name)
    return created
