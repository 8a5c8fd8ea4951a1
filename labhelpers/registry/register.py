"""Register the three taxi models as one all-or-nothing batch, on a local MLflow server or Azure ML.

The path is ``save_model`` + ``log_artifacts`` + ``create_model_version`` from the run's artifacts: it never
touches MLflow 3's logged-models endpoint (which Azure ML answered with 404, azure-sdk-for-python#44896), so
it works with MLflow 2 and 3 clients on both backends. Requirements are explicit, so MLflow does not spend
seconds inferring them in a subprocess.
"""

from __future__ import annotations

import logging
import tempfile
import time
import uuid
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from labhelpers.core.errors import RegistryError
from labhelpers.core.learner import LEARNER_TAG, namespace
from labhelpers.core.provenance import default_owner
from labhelpers.registry import capabilities
from labhelpers.registry.batch import Candidate, collect
from labhelpers.server.tracking import is_azure_uri, use_tracking

EXPERIMENT = "taxi-model-registry"
DATASET = "nyc-taxi"
FRAMEWORK = "scikit-learn"
LIFECYCLE_TAG = "lifecycle"
BATCH_TAG = "batch_id"
BATCH_STATUS_TAG = "batch_status"  # "pending" until all three versions exist, then "complete"
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


def pip_requirements() -> list[str]:
    """The exact packages a served model needs, so MLflow need not infer them (seconds per model)."""
    from importlib.metadata import version

    packages = ["mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle", "skops"]
    pins = []
    for package in packages:
        try:
            pins.append(f"{package}=={version(package)}")
        except Exception:  # not installed (skops only comes with MLflow 3)
            continue
    return pins


def _serialization_format() -> str:
    import mlflow.sklearn

    # skops does not execute code on load; MLflow 2 only knows the pickle formats.
    return getattr(
        mlflow.sklearn, "SERIALIZATION_FORMAT_SKOPS", mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    )


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


def version_tags(candidate: Candidate, batch_id: str, owner: str | None = None) -> dict[str, str]:
    """Version tags: what Azure ML Studio shows and filters, so they carry metrics and the lifecycle too."""
    tags = run_tags(candidate, batch_id, owner)
    tags.update({key: f"{value:.6g}" for key, value in candidate.metrics.items()})
    tags.update(
        {"features": ",".join(candidate.features), LIFECYCLE_TAG: "candidate", BATCH_STATUS_TAG: "pending"}
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


def _log_dataset(client, run_id: str, candidate: Candidate) -> None:
    """Record the training data as a dataset input with its digest (optional on backends without it)."""
    import mlflow.data
    from mlflow.entities import DatasetInput, InputTag

    source = str(candidate.payload.get("data", {}).get("source", "unknown"))
    digest = candidate.data_version.removeprefix("sha256:")[:32]  # MLflow stores at most 36 characters
    with warnings.catch_warnings():  # a local path matches two equivalent source classes; MLflow warns
        warnings.simplefilter("ignore", UserWarning)
        dataset = mlflow.data.from_pandas(candidate.input_example, source=source, name=DATASET, digest=digest)
    entity = DatasetInput(dataset._to_mlflow_entity(), tags=[InputTag("mlflow.data.context", "training")])
    # The server looks the dataset up, then inserts it, so two runs logging the same new dataset at once
    # (linear and ridge do) make one fail on a UNIQUE constraint; retried, it finds the row.
    if not _with_retry(client.log_inputs, run_id, [entity]):
        _log.warning("dataset input of run %s not recorded; the data_version tag carries the digest", run_id)


def _with_retry(call, *args, attempts: int = 3) -> bool:
    """Call a registry write that races with concurrent writers (select-then-insert on the server).

    Returns:
        True when it succeeded; False after ``attempts`` failures (logged), for writes that are a mirror
        of information stored elsewhere (dataset input, aliases) and must not fail a registration.
    """
    for attempt in range(1, attempts + 1):
        try:
            call(*args)
            return True
        except Exception as error:  # e.g. UNIQUE constraint failed; Azure ML: endpoint not supported
            if attempt == attempts:
                _log.warning(
                    "%s%s failed %d times: %s", getattr(call, "__name__", call), args, attempts, error
                )
            else:
                time.sleep(0.05 * attempt)
    return False


def _log_model(client, run_id: str, candidate: Candidate) -> None:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = candidate.input_example
    signature = infer_signature(example, candidate.model.predict(example))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        mlflow.sklearn.save_model(
            candidate.model,
            str(path),
            signature=signature,
            input_example=example,
            pip_requirements=pip_requirements(),
            serialization_format=_serialization_format(),
        )
        client.log_artifacts(run_id, str(path), "model")


def _register_one(
    client, experiment_id: str, candidate: Candidate, batch_id: str, created: list, owner: str | None = None
) -> Registered:
    from mlflow.entities import Metric, Param

    tags = run_tags(candidate, batch_id, owner)
    run = client.create_run(
        experiment_id,
        tags={"mlflow.runName": f"register-{candidate.name}", **tags},
        run_name=f"register-{candidate.name}",
    )
    run_id = run.info.run_id
    created.append(("run", run_id))
    now = int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in run_metrics(candidate).items()],
        params=[Param(k, v) for k, v in run_params(candidate).items()],
        tags=[],
    )
    client.log_dict(run_id, candidate.payload, f"metrics/{candidate.spec.step}_metrics.json")
    _log_dataset(client, run_id, candidate)
    _log_model(client, run_id, candidate)
    if _ensure_registered_model(client, candidate.name):
        created.append(("model", candidate.name))
    # The local server creates versions READY at once; waiting would only poll and log.
    wait = 300 if is_azure_uri(client.tracking_uri) else 0
    version = client.create_model_version(
        candidate.name,
        f"{run.info.artifact_uri}/model",
        run_id,
        tags=version_tags(candidate, batch_id, owner),
        description=describe(candidate),
        await_creation_for=wait,
    )
    created.append(("version", (candidate.name, version.version)))
    _drop_retried_duplicates(client, candidate.name, run_id, str(version.version))
    client.set_terminated(run_id)
    return Registered(candidate.name, str(version.version), run_id, batch_id, candidate.metrics)


def _drop_retried_duplicates(client, name: str, run_id: str, kept: str) -> None:
    """Delete versions of ``name`` that a retried POST created from the same run beside ``kept``.

    MLflow's client retries a create request that timed out or failed, and the server may already have
    created the version the first time; versions are never renumbered, so the extra one is deleted.
    """
    try:  # by name, the one version filter every registry documents; run_id compared here
        versions = client.search_model_versions(f"name='{name}'")
    except Exception as error:
        _log.warning("could not check %s for duplicate versions (%s)", name, error)
        return
    for twin in versions:
        if twin.run_id == run_id and str(twin.version) != kept:
            client.delete_model_version(name, twin.version)


def _ensure_registered_model(client, name: str) -> bool:
    """Create the registered model unless it exists; True when this call created it."""
    from mlflow.exceptions import MlflowException

    try:  # one request in the common case: the model is registered already
        client.get_registered_model(name)
        return False
    except MlflowException:
        pass
    try:
        client.create_registered_model(name, tags={"dataset": DATASET, "framework": FRAMEWORK})
        return True
    except MlflowException:
        client.get_registered_model(name)  # created meanwhile by a concurrent batch; else this raises
        return False


def _undo_one(client, kind: str, item) -> None:
    if kind == "version":
        client.delete_model_version(*item)
    elif kind == "run":
        client.set_terminated(item, status="FAILED")
    # A model this batch created goes too, once empty, where the registry can delete one (Azure ML cannot).
    elif capabilities.of(client).model_delete is not False and not client.search_model_versions(
        f"name='{item}'"
    ):
        capabilities.attempt(client, "model_delete", client.delete_registered_model, item)


def _undo(client, created: list) -> list[str]:
    """Delete the versions a failed batch created, mark its runs failed, return what could not be undone."""
    left = []
    for kind, item in reversed(created):
        try:
            _undo_one(client, kind, item)
        except Exception:
            if kind == "version":
                left.append(f"{item[0]} version {item[1]}")
    return left


def _experiment_id(client, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name)
    except MlflowException:  # another process created it meanwhile
        return client.get_experiment_by_name(name).experiment_id


def register_batch(
    candidates: list[Candidate],
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    learner: str | None = None,
    owner: str | None = None,
) -> list[Registered]:
    """Register verified candidates as one batch sharing a ``batch_id``; undo it all if any step fails.

    Args:
        candidates: The verified models (see :func:`~labhelpers.registry.batch.collect`).
        tracking_uri: Tracking server (default ``$MLFLOW_TRACKING_URI``, else the local server).
        experiment: Experiment of the registration runs (default: the learner's, see below).
        learner: Learner namespace (default ``$LAB_LEARNER``): its experiment holds the runs (on a
            server with accounts only an experiment's creator may add runs to it) and every version is
            tagged ``learner``.

    Raises:
        RegistryError: A registry call failed; the versions this batch created were deleted (or, when the
            server is gone, are listed in the message and stay tagged ``batch_status=pending``).
    """
    from mlflow import MlflowClient

    space = namespace(learner)
    experiment = experiment or space.experiment
    uri = use_tracking(tracking_uri)
    client = MlflowClient(uri, uri)
    batch_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    created: list = []
    try:
        experiment_id = _experiment_id(client, experiment)
        # Three models, three independent runs: register them side by side (the server is threaded).
        with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
            futures = [
                pool.submit(_register_one, client, experiment_id, c, batch_id, created, owner)
                for c in candidates
            ]
            done = [future.result() for future in futures]
        for item in done:
            if space.learner:  # before "complete": a complete version always names its learner
                client.set_model_version_tag(item.name, item.version, LEARNER_TAG, space.learner)
            client.set_model_version_tag(item.name, item.version, BATCH_STATUS_TAG, "complete")
    except Exception as error:
        left = _undo(client, created)
        note = (
            f" Could not remove {', '.join(left)} (tagged {BATCH_STATUS_TAG}=pending)."
            if left
            else (" Nothing from this batch remains in the registry.")
        )
        raise RegistryError(
            f"Registration failed at {uri}: {type(error).__name__}: {error}.{note}"
        ) from error
    for item in done:  # aliases mirror the lifecycle tag where the registry has them
        capabilities.set_alias(client, item.name, "candidate", item.version)
    return done


def register_models(
    supervised_dir: str | Path,
    unsupervised_dir: str | Path,
    *,
    names: dict[str, str] | None = None,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    learner: str | None = None,
    owner: str | None = None,
) -> list[Registered]:
    """Verify both training outputs, then register the three models as one batch.

    Args:
        supervised_dir: Output folder of ``ML/train_supervised.py``.
        unsupervised_dir: Output folder of ``ML/train_unsupervised.py``.
        names: Registered names keyed ``linear``, ``ridge``, ``kmeans`` (default: the learner's names,
            ``taxi-fare-linear-regression-<learner>``..., or the seed's taxi-* names without a learner).
        tracking_uri: Tracking server (default ``$MLFLOW_TRACKING_URI``, else the local server).
        experiment: Experiment holding the registration runs (default: the learner's).
        learner: Learner namespace (default ``$LAB_LEARNER``; none: the seed's names).
        owner: Recorded as every version's ``owner`` tag (default ``$LAB_OWNER``, else the login name).

    Returns:
        The three versions created, in the order linear, ridge, kmeans.
    """
    space = namespace(learner)
    return register_batch(
        collect(supervised_dir, unsupervised_dir, names or space.models),
        tracking_uri=tracking_uri,
        experiment=experiment,
        learner=space.learner,
        owner=owner,
    )
