"""Register the three taxi models as one all-or-nothing batch, on a local MLflow server or Azure ML.

The lesson's steps, top-down in :func:`register_models` and :func:`register_batch`:

1. verify both training outputs before anything is sent (``all_or_nothing.candidates``);
2. point MLflow at the checked server, with Azure ML's throttling retried on its own budget;
3. finish or remove what earlier batches of these names left pending (``all_or_nothing.repair``);
4. register each model side by side under one batch id (``all_or_nothing.upload``): its versions are tagged
   ``lab.batch_status=pending`` until all of them exist, then ``complete``, under a lease the process keeps
   fresh while it works (``all_or_nothing.lease``);
5. if any step fails, delete what the batch created (``all_or_nothing.undo``); if the registry is gone and
   the deletes cannot reach it either, the next registration of these names (or
   ``python -m labhelpers registry repair``) finishes or removes the batch once its lease has run out;
6. mirror the ``candidate`` lifecycle as an alias where the registry has aliases.

Registration uploads the MLflow model folders written at training time and loads no model. How each step
keeps its guarantee is in :mod:`labhelpers.registry.all_or_nothing`.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from labhelpers.foundation.learner import LEARNER_TAG, namespace
from labhelpers.foundation.provenance import default_owner
from labhelpers.registry import capabilities
from labhelpers.registry.all_or_nothing.candidates import Candidate, collect
from labhelpers.registry.all_or_nothing.lease import (
    DEFAULT_LEASE_SECONDS,
    Heartbeat,
    mark_complete,
)
from labhelpers.registry.all_or_nothing.repair import repair_earlier
from labhelpers.registry.all_or_nothing.undo import failure, undo
from labhelpers.registry.all_or_nothing.upload import (
    DATASET,
    FRAMEWORK,
    LIFECYCLE_TAG,
    BatchContext,
    Registered,
    register_one,
)
from labhelpers.registry.client import RegistryClient
from labhelpers.registry.throttling import throttled
from labhelpers.tracking.connection import use_tracking

EXPERIMENT = "taxi-model-registry"


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
    candidates = collect(supervised_dir, unsupervised_dir, names or space.models)  # 1. verify, send nothing
    return register_batch(
        candidates, tracking_uri=tracking_uri, experiment=experiment, learner=space.learner, owner=owner
    )


def register_batch(
    candidates: list[Candidate],
    *,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    learner: str | None = None,
    owner: str | None = None,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
) -> list[Registered]:
    """Register verified candidates as one batch sharing a ``batch_id``; undo it all if any step fails.

    Earlier batches of the same names that a stopped process left pending are completed or removed first
    (logged as ``repair: batch ...`` on the ``labhelpers.registry`` logger).

    Args:
        candidates: Verified models (see :func:`~labhelpers.registry.all_or_nothing.candidates.collect`).
        tracking_uri: Tracking server (default ``$MLFLOW_TRACKING_URI``, else the local server).
        experiment: Experiment of the registration runs (default: the learner's, see below).
        learner: Learner namespace (default ``$LAB_LEARNER``): its experiment holds the runs (on a
            server with accounts only an experiment's creator may add runs to it) and every version is
            tagged ``learner``.
        owner: Recorded as every version's ``owner`` tag (default ``$LAB_OWNER``, else the login name).
        lease_seconds: How long the batch's versions stay claimed without a heartbeat (see
            :mod:`labhelpers.registry.all_or_nothing.lease`).

    Raises:
        RegistryError: A registry call failed; the versions this batch created were deleted (or, when the
            server is gone, are listed in the message and stay tagged ``lab.batch_status=pending``).
    """
    from mlflow import MlflowClient

    space = namespace(learner)
    experiment = experiment or space.experiment
    uri = use_tracking(tracking_uri)  # 2. the checked server; Azure ML's 429 and 503 retried on their own
    client = throttled(MlflowClient(uri, uri))
    names = [c.name for c in candidates]
    repair_earlier(client, names)  # 3. what stopped batches of these names left pending
    batch_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    with Heartbeat(client, lease_seconds) as heartbeat:  # 4. one batch, claimed while this process works
        batch = BatchContext(
            client, "", batch_id, names, lease_seconds, heartbeat, [], owner or "", space.learner
        )
        try:
            batch.experiment_id = _experiment_id(client, experiment)
            # Three models, three independent runs: register them side by side (the server is threaded).
            with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
                futures = [pool.submit(register_one, candidate, batch) for candidate in candidates]
                done = [future.result() for future in futures]
                completed = [pool.submit(mark_complete, client, i.name, i.version) for i in done]
                for tagged in completed:
                    tagged.result()
        except Exception as error:  # 5. remove what this batch created; say what is left for repair
            raise failure(uri, error, undo(client, batch.created)) from error
    for item in done:  # 6. aliases mirror the lifecycle tag where the registry has them
        capabilities.set_alias(client, item.name, "candidate", item.version)
    return done


#: What a fare model's run logs, mapped to the version tag that carries it (its metrics go as they are).
_RUN_TAGS = ("data_version", "git_commit", "git_dirty")


def tags_from_run(run_id: str, owner: str | None = None, client: RegistryClient | None = None) -> dict:
    """The version tags the course's versions carry, read from a fare model's training run.

    For ``mlflow.register_model(f"runs:/{run_id}/model", name, tags=...)``: the seed's tags (task_type,
    dataset, framework, model_type, features, rmse/mae/r2), the data version and commit the run recorded,
    ``owner``, the learner, and ``lifecycle=candidate``, so a version registered by hand reads like one
    ``register_models`` made.
    """
    from mlflow import MlflowClient

    run = (client or MlflowClient()).get_run(run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    found = {
        "owner": owner or default_owner(),
        "task_type": "regression",
        "dataset": DATASET,
        "framework": FRAMEWORK,
        "model_type": params.get("model_type", "unknown"),
        **{key: tags.get(key, "unknown") for key in _RUN_TAGS},
        **{key: f"{metrics[key]:.6g}" for key in ("rmse", "mae", "r2") if key in metrics},
        "features": params.get("features", ""),
        LIFECYCLE_TAG: "candidate",
    }
    learner = namespace().learner
    return {**found, LEARNER_TAG: learner} if learner else found


def _experiment_id(client: RegistryClient, name: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    from mlflow.exceptions import MlflowException

    try:
        return client.create_experiment(name)
    except MlflowException:  # another process created it meanwhile
        found = client.get_experiment_by_name(name)
        if found is None:  # not created after all: the create's own error says why
            raise
        return found.experiment_id
