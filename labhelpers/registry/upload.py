"""One model of a batch into the registry: its run, its logged files and its version.

The path is ``log_artifacts`` of the MLflow model folder written at training time + ``create_model_version``
from the run's artifact URI. It never touches MLflow 3's logged-models endpoint (which Azure ML answered with
404, azure-sdk-for-python#44896), so it works with MLflow 2 and 3 clients on both backends, and it loads no
model: nothing here imports scikit-learn, skops or pandas.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labhelpers.core.learner import LEARNER_TAG
from labhelpers.core.provenance import default_owner
from labhelpers.core.registry_client import RegistryClient
from labhelpers.registry.backend import search_versions
from labhelpers.registry.batch import Candidate
from labhelpers.registry.capabilities import with_retry
from labhelpers.registry.lease import (
    BATCH_NAMES_TAG,
    BATCH_STATUS_TAG,
    BATCH_TAG,
    CREATED_BY_TAG,
    LEASE_TAG,
    PENDING,
    Heartbeat,
    lease_until,
)
from labhelpers.registry.throttling import ThrottledClient, create_once, new_budget
from labhelpers.server.tracking import is_azure_uri

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput, Run
    from mlflow.entities.model_registry import ModelVersion

DATASET = "nyc-taxi"
FRAMEWORK = "scikit-learn"
LIFECYCLE_TAG = "lifecycle"
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    """One version this batch created."""

    name: str
    version: str
    run_id: str
    batch_id: str
    metrics: dict[str, float]

    @property
    def reference(self) -> str:
        return f"azureml:{self.name}:{self.version}"


@dataclass
class BatchContext:
    """What every model of one batch shares while it is registered."""

    client: RegistryClient
    experiment_id: str
    batch_id: str
    names: list[str]
    lease_seconds: float
    heartbeat: Heartbeat
    created: list  # ("run" | "model" | "version", item), for the undo
    owner: str = ""  # every run's and version's `owner` tag (empty: $LAB_OWNER, else the login name)
    learner: str | None = None  # the learner namespace, tagged on every version (None: no learner)


def run_tags(candidate: Candidate, batch_id: str, owner: str | None = None) -> dict[str, str]:
    """Tags shared by the registration run and its model version (``owner``: default the login name)."""
    return {
        "owner": owner or default_owner(),
        "task_type": candidate.spec.task_type,
        "dataset": DATASET,
        "framework": FRAMEWORK,
        "model_type": candidate.spec.model_type,
        "data_version": candidate.data_version,
        "git_commit": candidate.lineage.get("git_commit", "unknown"),
        "git_dirty": candidate.lineage.get("git_dirty", "unknown"),
        BATCH_TAG: batch_id,
    }


def version_tags(candidate: Candidate, batch: BatchContext) -> dict[str, str]:
    """Version tags: what Azure ML Studio shows and filters, so they carry metrics and the lifecycle too."""
    tags = run_tags(candidate, batch.batch_id, batch.owner)
    tags.update({key: f"{value:.6g}" for key, value in candidate.metrics.items()})
    if batch.learner:  # from the start: every version of a learner's batch names its learner
        tags[LEARNER_TAG] = batch.learner
    tags.update(
        {
            "features": ",".join(candidate.features),
            LIFECYCLE_TAG: "candidate",
            BATCH_STATUS_TAG: PENDING,
            BATCH_NAMES_TAG: ",".join(batch.names),
            LEASE_TAG: lease_until(batch.lease_seconds),
        }
    )
    return tags


def run_metrics(candidate: Candidate) -> dict[str, float]:
    """Metrics as the seed lab names them (``linear_regression_rmse``...) plus plain names for comparing."""
    if candidate.spec.task_type == "regression":
        prefixed = {f"{candidate.spec.key}_{k}": v for k, v in candidate.metrics.items()}
        return {**prefixed, **candidate.metrics}
    return dict(candidate.metrics)


def run_params(candidate: Candidate) -> dict[str, str]:
    """Training parameters plus the features used, as strings."""
    params = {key: str(value) for key, value in candidate.payload["parameters"].items()}
    if candidate.spec.model_type != "Ridge":
        params.pop("alpha", None)
    params["features"] = ",".join(candidate.features)
    params["training_rows"] = str(candidate.payload.get("data", {}).get("rows_used", "unknown"))
    return params


def describe(candidate: Candidate) -> str:
    """A one-paragraph description shown on the version page."""
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in candidate.metrics.items())
    commit = candidate.lineage.get("git_commit", "unknown")[:12]
    return (
        f"{candidate.spec.model_type} that {candidate.spec.purpose}. "
        f"Features: {', '.join(candidate.features)}. "
        f"Held-out metrics: {metrics}. Data {candidate.data_version[:19]}, code commit {commit}."
    )


def dataset_input(candidate: Candidate) -> DatasetInput:
    """The training data as an MLflow dataset input: its source, digest, columns and size.

    Built from the metrics JSON and the model's signature, as ``mlflow.data.from_pandas`` would describe it,
    without loading pandas or the data.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    data = candidate.payload.get("data", {})
    source = str(data.get("source", "unknown"))
    web = source.startswith(("http://", "https://"))
    rows = data.get("rows_used")
    profile = (
        {"num_rows": rows, "num_elements": rows * len(candidate.features)} if isinstance(rows, int) else {}
    )
    dataset = Dataset(
        name=DATASET,
        digest=candidate.data_version.removeprefix("sha256:")[:32],  # MLflow stores at most 36 characters
        source_type="http" if web else "local",
        source=json.dumps({"url": source} if web else {"uri": source}),
        schema=json.dumps({"mlflow_colspec": candidate.model.input_schema}),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])


def log_files(client: RegistryClient, run_id: str, candidate: Candidate) -> None:
    """Upload the metrics JSON and the MLflow model folder, byte for byte as training wrote them.

    The folder's files go up side by side (``log_artifacts`` sends one request after the other).
    """
    client.log_artifact(run_id, str(candidate.metrics_path), "metrics")  # also caches the run's store
    uploads = []
    with ThreadPoolExecutor(max_workers=4) as pool:
        for path in sorted(p for p in candidate.model_dir.rglob("*") if p.is_file()):
            inside = path.parent.relative_to(candidate.model_dir).as_posix()
            folder = "model" if inside == "." else f"model/{inside}"
            uploads.append(pool.submit(client.log_artifact, run_id, str(path), folder))
        for upload in uploads:
            upload.result()


def ensure_registered_model(client: RegistryClient, name: str, batch_id: str) -> bool:
    """Create the registered model unless it exists; True when this call created it."""
    from mlflow.exceptions import MlflowException

    try:  # one request in the common case: the model is registered already
        client.get_registered_model(name)
        return False
    except MlflowException:
        pass
    tags = {"dataset": DATASET, "framework": FRAMEWORK, CREATED_BY_TAG: batch_id}
    try:
        client.create_registered_model(name, tags=tags)
        return True
    except MlflowException:
        client.get_registered_model(name)  # created meanwhile by a concurrent batch; else this raises
        return False


def create_version(candidate: Candidate, batch: BatchContext, run: Run) -> ModelVersion:
    """Create the version from the run's model folder; the registered model first if there is none.

    The version is asked for first: the model is there in every batch but a name's first, so that costs no
    request (a look-up before each version would cost one of the heaviest on a shared server).
    """
    from mlflow.exceptions import MlflowException

    client = batch.client
    # The local server creates versions READY at once; waiting would only poll and log.
    wait = 300 if is_azure_uri(client.tracking_uri) else 0

    def request() -> ModelVersion:
        return client.create_model_version(
            candidate.name,
            f"{run.info.artifact_uri}/model",
            run.info.run_id,
            tags=version_tags(candidate, batch),
            description=describe(candidate),
            await_creation_for=wait,
        )

    def create() -> ModelVersion:  # at most once: a failed request is looked up (this run's version) first
        what = f"version of {candidate.name} from run {run.info.run_id}"
        landed = lambda: _landed_version(client, candidate.name, run.info.run_id, batch.batch_id)  # noqa: E731
        return create_once(request, landed, what=what, budget=new_budget(client))

    try:
        return create()
    except MlflowException as error:
        refused = error
    if ensure_registered_model(client, candidate.name, batch.batch_id):
        batch.created.append(("model", candidate.name))
    elif refused.error_code != "RESOURCE_DOES_NOT_EXIST":
        raise refused  # the model was there: the refusal is about the version itself
    return create()


def _landed_version(client: RegistryClient, name: str, run_id: str, batch_id: str) -> ModelVersion | None:
    """The lowest version of ``name`` from ``run_id`` in this batch, or None (looked up after a failure)."""
    mine = [
        v
        for v in search_versions(client, name, {"run_id": run_id})
        if v.name == name and v.run_id == run_id and (v.tags or {}).get(BATCH_TAG, batch_id) == batch_id
    ]
    return min(mine, key=lambda v: int(v.version)) if mine else None


def drop_retried_duplicates(client: RegistryClient, name: str, run_id: str, kept: str) -> None:
    """Delete versions of ``name`` that a retried POST created from the same run beside ``kept``.

    MLflow's client re-sends a create that timed out, which the server may have committed: versions are never
    renumbered, so the extra one is deleted. Searched by name (every registry's filter), narrowed to the run
    where allowed; each twin's name and run are compared here before it is deleted."""
    from mlflow.exceptions import MlflowException

    try:
        versions = search_versions(client, name, {"run_id": run_id})
    except MlflowException as error:  # the registry's answer (a bug in the search is raised)
        _log.warning("could not check %s for duplicate versions (%s)", name, error)
        return
    for twin in versions:
        if twin.name == name and twin.run_id == run_id and str(twin.version) != kept:
            client.delete_model_version(name, twin.version)


def batch_runs(client: RegistryClient, batch: BatchContext, run_name: str) -> list:
    """This batch's runs named ``run_name`` (active ones, oldest first): one, or twins a re-sent POST made."""
    query = f"tags.{BATCH_TAG} = '{batch.batch_id}' and tags.`mlflow.runName` = '{run_name}'"
    found = client.search_runs([batch.experiment_id], filter_string=query, max_results=50)
    return sorted(found, key=lambda r: (r.info.start_time or 0, r.info.run_id))


def drop_retried_runs(client: RegistryClient, batch: BatchContext, run_name: str, kept: str) -> None:
    """Delete this batch's runs named ``run_name`` beside ``kept``: twins a re-sent POST made (no orphans).

    MLflow's client re-sends a POST that failed or timed out; the server may have created the run already.
    """
    try:
        twins = [r for r in batch_runs(client, batch, run_name) if r.info.run_id != kept]
    except Exception as error:
        _log.warning("could not check batch %s for twin runs of %s (%s)", batch.batch_id, run_name, error)
        return
    for twin in twins:
        _log.warning("deleting run %s, a twin of %s that a retried request created", twin.info.run_id, kept)
        client.delete_run(twin.info.run_id)


def start_run(candidate: Candidate, batch: BatchContext) -> Run:
    """Create the model's registration run (at most once: ``create_once``; twins deleted), log its data."""
    from mlflow.entities import Metric, Param

    client = batch.client
    run_name = f"register-{candidate.name}"
    tags = {"mlflow.runName": run_name, **run_tags(candidate, batch.batch_id, batch.owner)}
    failed: list[bool] = []

    def landed() -> Run | None:
        failed.append(True)
        runs = batch_runs(client, batch, run_name)
        return runs[0] if runs else None

    run = create_once(
        lambda: client.create_run(batch.experiment_id, tags=tags, run_name=run_name),
        landed,
        what=f"run {run_name} of batch {batch.batch_id}",
        budget=new_budget(client),
    )
    batch.created.append(("run", run.info.run_id))
    if failed or isinstance(client, ThrottledClient):
        drop_retried_runs(client, batch, run_name, run.info.run_id)
    now = int(time.time() * 1000)
    client.log_batch(
        run.info.run_id,
        metrics=[Metric(k, v, now, 0) for k, v in run_metrics(candidate).items()],
        params=[Param(k, v) for k, v in run_params(candidate).items()],
        tags=[],
    )
    # The server looks a dataset up, then inserts it, so two runs logging the same new dataset at once
    # (linear and ridge do) make one fail on a UNIQUE constraint; retried, it finds the row.
    if not with_retry(client.log_inputs, run.info.run_id, [dataset_input(candidate)]):
        _log.warning(
            "dataset input of run %s not recorded; the data_version tag carries the digest", run.info.run_id
        )
    return run


def register_one(candidate: Candidate, batch: BatchContext) -> Registered:
    """Create the run, log its metrics, parameters, dataset and files, then create the version (pending)."""
    client = batch.client
    run = start_run(candidate, batch)
    run_id = run.info.run_id
    log_files(client, run_id, candidate)
    version = create_version(candidate, batch, run)
    number = str(version.version)
    batch.created.append(("version", (candidate.name, number)))
    batch.heartbeat.add(candidate.name, number)
    drop_retried_duplicates(client, candidate.name, run_id, number)
    client.set_terminated(run_id)
    return Registered(candidate.name, number, run_id, batch.batch_id, candidate.metrics)
