"""Register the three taxi models as one all-or-nothing batch, on a local MLflow server or Azure ML.

A batch first repairs what earlier batches of its names left behind (:mod:`labhelpers.registry.repair`),
then registers each model side by side (:mod:`labhelpers.registry.upload`): its versions are tagged
``lab.batch_status=pending`` until all of them exist, then ``complete``, under a lease the process keeps fresh
while it works (:mod:`labhelpers.registry.lease`). If any step fails, what the batch created is deleted; if
the registry is gone and the deletes cannot reach it either, the next registration of these names (or
``python -m labhelpers registry repair``) finishes or removes the batch once its lease has run out.
Registration uploads the MLflow model folders written at training time and loads no model.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from labhelpers.core.errors import RegistryError
from labhelpers.core.learner import LEARNER_TAG, namespace
from labhelpers.core.provenance import default_owner
from labhelpers.core.registry_client import RegistryClient
from labhelpers.registry import capabilities
from labhelpers.registry.backend import delete_empty_model
from labhelpers.registry.batch import Candidate, collect
from labhelpers.registry.lease import (
    BATCH_STATUS_TAG,
    BATCH_TAG,
    COMPLETE,
    DEFAULT_LEASE_SECONDS,
    LEASE_TAG,
    Heartbeat,
    lease_until,
)
from labhelpers.registry.repair import repair
from labhelpers.registry.throttling import throttled
from labhelpers.registry.upload import (
    DATASET,
    FRAMEWORK,
    LIFECYCLE_TAG,
    BatchContext,
    Registered,
    register_one,
)
from labhelpers.server.tracking import use_tracking
from labhelpers.training.outputs import pip_requirements

EXPERIMENT = "taxi-model-registry"
#: Re-exported: the names callers used when everything lived in this module.
__all__ = [
    "BATCH_STATUS_TAG",
    "BATCH_TAG",
    "DATASET",
    "EXPERIMENT",
    "FRAMEWORK",
    "LIFECYCLE_TAG",
    "Registered",
    "pip_requirements",
    "register_batch",
    "register_models",
    "tags_from_run",
    "undo",
]
_log = logging.getLogger(__name__)


def _repair_earlier(client: RegistryClient, names: list[str]) -> None:
    """Finish or remove earlier batches of ``names`` left pending by a process that stopped; log each."""
    from mlflow.exceptions import MlflowException

    try:
        repairs = repair(client, names)
    except MlflowException as error:  # the registration below meets the same registry and reports its state
        _log.warning("earlier batches of %s not checked: %s", ", ".join(names), error)
        return
    for item in repairs:
        level = logging.INFO if item.action == "left alone" else logging.WARNING
        _log.log(level, "repair: %s", item)


def _mark_complete(client: RegistryClient, item: Registered) -> None:
    capabilities.writes(client).set_model_version_tag(item.name, item.version, BATCH_STATUS_TAG, COMPLETE)


def _undo_one(client: RegistryClient, kind: str, item: Any) -> None:
    if kind == "version":
        client.delete_model_version(*item)
    elif kind == "run":
        client.set_terminated(item, status="FAILED")
    else:  # a model this batch created goes too, once empty, where the registry deletes models (not Azure)
        delete_empty_model(client, item)


def undo(client: RegistryClient, created: list) -> list[tuple[str, str]]:
    """Delete what a failed batch created, mark its runs failed; return the versions still there.

    Each removal that fails is logged (logger ``labhelpers.registry.register``, warning) with its cause, and
    the versions left behind give up their lease so the next registration repairs them at once.

    Args:
        client: The registry's client.
        created: What the batch created, in order: ``("version", (name, version))``, ``("run", run_id)`` or
            ``("model", name)``.

    Returns:
        The ``(name, version)`` pairs still in the registry.
    """
    from mlflow.exceptions import MlflowException

    left = []
    for kind, item in reversed(created):
        try:
            _undo_one(client, kind, item)
        except MlflowException as error:  # the registry's answer; a bug in the undo is raised
            _log.warning("undo of a failed batch: %s %s not removed: %s", kind, item, error)
            if kind == "version":
                left.append(item)
    for name, version in left:  # give up the lease, so the next registration repairs them at once
        try:
            capabilities.writes(client).set_model_version_tag(name, version, LEASE_TAG, lease_until(0))
        except MlflowException as error:  # unreachable: the lease runs out by itself
            _log.warning(
                "lease of %s version %s not given up (it runs out by itself): %s", name, version, error
            )
    return left


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


def _failure(uri: str, error: Exception, left: list[tuple[str, str]]) -> RegistryError:
    if not left:
        note = " Nothing from this batch remains in the registry."
    else:
        versions = ", ".join(f"{name} version {version}" for name, version in left)
        note = (
            f" Could not remove {versions} (tagged {BATCH_STATUS_TAG}=pending): the next registration of "
            "these names, or `python -m labhelpers registry repair`, removes them once the registry answers "
            "and their lease (a minute at most) has run out."
        )
    return RegistryError(f"Registration failed at {uri}: {type(error).__name__}: {error}.{note}")


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
        candidates: Verified models (see :func:`~labhelpers.registry.batch.collect`).
        tracking_uri: Tracking server (default ``$MLFLOW_TRACKING_URI``, else the local server).
        experiment: Experiment of the registration runs (default: the learner's, see below).
        learner: Learner namespace (default ``$LAB_LEARNER``): its experiment holds the runs (on a
            server with accounts only an experiment's creator may add runs to it) and every version is
            tagged ``learner``.
        owner: Recorded as every version's ``owner`` tag (default ``$LAB_OWNER``, else the login name).
        lease_seconds: How long the batch's versions stay claimed without a heartbeat (see
            :mod:`labhelpers.registry.lease`).

    Raises:
        RegistryError: A registry call failed; the versions this batch created were deleted (or, when the
            server is gone, are listed in the message and stay tagged ``lab.batch_status=pending``).
    """
    from mlflow import MlflowClient

    space = namespace(learner)
    experiment = experiment or space.experiment
    uri = use_tracking(tracking_uri)
    client = throttled(MlflowClient(uri, uri))  # Azure ML's 429 and 503 retried on their own budget
    names = [c.name for c in candidates]
    _repair_earlier(client, names)
    batch_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    with Heartbeat(client, lease_seconds) as heartbeat:
        batch = BatchContext(
            client, "", batch_id, names, lease_seconds, heartbeat, [], owner or "", space.learner
        )
        try:
            batch.experiment_id = _experiment_id(client, experiment)
            # Three models, three independent runs: register them side by side (the server is threaded).
            with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
                futures = [pool.submit(register_one, candidate, batch) for candidate in candidates]
                done = [future.result() for future in futures]
                for tagged in [pool.submit(_mark_complete, client, item) for item in done]:
                    tagged.result()
        except Exception as error:
            raise _failure(uri, error, undo(client, batch.created)) from error
    for item in done:  # aliases mirror the lifecycle tag where the registry has them
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
