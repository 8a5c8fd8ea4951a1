"""One model of a batch into the registry: its version, made from the run that trained it.

A step trained with tracking on (notebook 01, the ``ML/`` scripts against a server or inside an Azure ML job)
logged its model folders into its training run and recorded the run's id in its metrics JSON: the version is
created from that run's files (``create_model_version`` with the run's artifact URI and ``run_id``), so the
version page links to the training run with its parameters, held-out metrics and model. A step trained offline
has no run: its model gets a registration run ``register-<name>`` holding the folder uploaded as training
wrote it (``log_artifacts``). It never touches MLflow 3's logged-models endpoint (which Azure ML answered with
404, azure-sdk-for-python#44896), so it works with MLflow 2 and 3 clients on both backends, and it loads no
model: nothing here imports scikit-learn, skops or pandas.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labhelpers.foundation.errors import RegistryError
from labhelpers.foundation.learner import LEARNER_TAG
from labhelpers.foundation.provenance import default_owner
from labhelpers.registry.all_or_nothing.candidates import Candidate
from labhelpers.registry.all_or_nothing.fallbacks import search_versions
from labhelpers.registry.all_or_nothing.lease import (
    BATCH_NAMES_TAG,
    BATCH_STATUS_TAG,
    BATCH_TAG,
    CREATED_BY_TAG,
    INTERNAL_PREFIX,
    LEASE_TAG,
    PENDING,
    Heartbeat,
    lease_until,
    tag_filter,
)
from labhelpers.registry.all_or_nothing.run_record import DATASET, dataset_input, run_metrics, run_params
from labhelpers.registry.capabilities import with_retry
from labhelpers.registry.client import RegistryClient
from labhelpers.registry.throttling import ThrottledClient, create_once, new_budget
from labhelpers.tracking.connection import is_azure_uri

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

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
    """Version tags: what Azure ML Studio shows and filters, so they carry metrics and the lifecycle too.

    The seed's tags come first and the bookkeeping (``lab.``) last, the order the version list shows them.
    """
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
    return dict(sorted(tags.items(), key=lambda item: item[0].startswith(INTERNAL_PREFIX)))


def describe(candidate: Candidate) -> str:
    """A one-paragraph description shown on the version page."""
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in candidate.metrics.items())
    commit = candidate.lineage.get("git_commit", "unknown")[:12]
    return (
        f"{candidate.spec.model_type} that {candidate.spec.purpose}. "
        f"Features: {', '.join(candidate.features)}. "
        f"Held-out metrics: {metrics}. Data {candidate.data_version[:19]}, code commit {commit}."
    )


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


def create_version(
    candidate: Candidate, batch: BatchContext, run: Run, folder: str = "model"
) -> ModelVersion:
    """Create the version from the run's model ``folder``; the registered model first if there is none.

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
            f"{run.info.artifact_uri}/{folder}",
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


def drop_retried_duplicates(
    client: RegistryClient, name: str, run_id: str, kept: str, batch_id: str | None = None
) -> None:
    """Delete versions of ``name`` a retried POST created from ``run_id`` beside ``kept`` (of ``batch_id``).

    MLflow's client re-sends a create that timed out, which the server may have committed: versions are never
    renumbered, so the extra one is deleted. Searched by name (every registry's filter), narrowed to the run
    where allowed; each twin's name, run and batch are compared here before it is deleted (a training run
    gives a version to every batch that registers it: those of other batches stay)."""
    from mlflow.exceptions import MlflowException

    try:
        versions = search_versions(client, name, {"run_id": run_id})
    except MlflowException as error:  # the registry's answer (a bug in the search is raised)
        _log.warning("could not check %s for duplicate versions (%s)", name, error)
        return
    for twin in versions:
        mine = batch_id is None or (twin.tags or {}).get(BATCH_TAG) == batch_id
        if twin.name == name and twin.run_id == run_id and mine and str(twin.version) != kept:
            client.delete_model_version(name, twin.version)


def batch_runs(client: RegistryClient, batch: BatchContext, run_name: str) -> list:
    """This batch's runs named ``run_name`` (active ones, oldest first): one, or twins a re-sent POST made."""
    query = f"{tag_filter(BATCH_TAG)} = '{batch.batch_id}' and tags.`mlflow.runName` = '{run_name}'"
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


def training_run(candidate: Candidate, batch: BatchContext) -> Run:
    """The run that trained ``candidate``: it holds the model folder under the model's key.

    Raises:
        RegistryError: That run is not on this tracking server (trained against another one).
    """
    from mlflow.exceptions import MlflowException

    run_id = candidate.training_run or ""
    try:
        return batch.client.get_run(run_id)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    raise RegistryError(
        f"{candidate.metrics_path} names training run {run_id}, which {batch.client.tracking_uri} does not "
        "hold: the step was trained against another tracking server. Train it again against this one."
    )


def register_one(candidate: Candidate, batch: BatchContext) -> Registered:
    """Create the version from the model's training run (pending); without one, from a registration run."""
    client = batch.client
    if candidate.training_run:
        run = training_run(candidate, batch)
        run_id = run.info.run_id
        version = create_version(candidate, batch, run, candidate.spec.key)
    else:  # trained offline: a registration run holds the folder as training wrote it
        run = start_run(candidate, batch)
        run_id = run.info.run_id
        log_files(client, run_id, candidate)
        version = create_version(candidate, batch, run)
    number = str(version.version)
    batch.created.append(("version", (candidate.name, number)))
    batch.heartbeat.add(candidate.name, number)
    drop_retried_duplicates(client, candidate.name, run_id, number, batch.batch_id)
    if not candidate.training_run:
        client.set_terminated(run_id)
    return Registered(candidate.name, number, run_id, batch.batch_id, candidate.metrics)
