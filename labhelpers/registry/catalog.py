"""Inspecting the registry: the catalog of versions, one version's lineage, and the reproducibility audit.

Everything here is built from version searches (one request per registered model, never one per version)
and sorted in pandas: Azure ML cannot order runs by metric or search models with LIKE.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from labhelpers.foundation.errors import RegistryError
from labhelpers.foundation.learner import namespace
from labhelpers.registry.all_or_nothing.lease import BATCH_STATUS_TAG, OLD_NAMES, PENDING, batch_of
from labhelpers.registry.capabilities import is_refusal
from labhelpers.registry.client import RegistryClient, is_not_found
from labhelpers.registry.throttling import registry_client

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

#: The reproducibility rule: every version must carry these tags...
REQUIRED_TAGS = (
    "task_type",
    "dataset",
    "framework",
    "model_type",
    "git_commit",
    "git_dirty",
    "data_version",
    "features",
    "lifecycle",
)
#: ...and these metrics (as version tags), by task.
REQUIRED_METRICS = {"regression": ("rmse", "mae", "r2"), "clustering": ("n_clusters", "silhouette")}
#: ...and its run these parameters, by model type.
REQUIRED_PARAMS = {
    "LinearRegression": ("features",),
    "Ridge": ("alpha", "features"),
    "KMeans": ("n_clusters", "random_seed", "features"),
}
METRIC_COLUMNS = ("rmse", "mae", "r2", "n_clusters", "inertia", "silhouette")


def versions_of(
    names: Iterable[str] | None = None, client: RegistryClient | None = None
) -> list[ModelVersion]:
    """All versions of the given registered models (default: the learner's three): one search per name."""
    client = registry_client(client)
    found: list[ModelVersion] = []
    for name in namespace().model_names if names is None else names:
        found.extend(client.search_model_versions(f"name='{name}'"))
    return found


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def comparison_table(
    names: Iterable[str] | None = None, client: RegistryClient | None = None
) -> pd.DataFrame:
    """One row per version of each model: lifecycle, batch, lineage tags and metrics, newest first.

    Args:
        names: Registered model names (default: the three taxi models of ``$LAB_LEARNER``'s namespace,
            the seed's names without one).
        client: An ``MlflowClient`` (default: one for the current tracking URI).

    Returns:
        A frame with columns name, version, lifecycle, batch_id, created, model_type, data_version,
        git_commit, run_id and the metric columns (NaN where a model has no such metric).
    """
    rows = []
    for v in versions_of(names, client):
        tags = v.tags or {}
        rows.append(
            {
                "name": v.name,
                "version": int(v.version),
                "lifecycle": tags.get("lifecycle", ""),
                "batch_id": batch_of(tags) or "",
                "created": pd.to_datetime(v.creation_timestamp, unit="ms", utc=True),
                "model_type": tags.get("model_type", ""),
                "data_version": tags.get("data_version", "")[:19],
                "git_commit": tags.get("git_commit", "")[:10],
                "run_id": v.run_id,
                **{metric: _number(tags.get(metric)) for metric in METRIC_COLUMNS},
            }
        )
    columns = [
        "name",
        "version",
        "lifecycle",
        "batch_id",
        "created",
        "model_type",
        "data_version",
        "git_commit",
        "run_id",
        *METRIC_COLUMNS,
    ]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["name", "version"], ascending=[True, False], ignore_index=True)


def lineage(name: str, version: str | int, client: RegistryClient | None = None) -> dict:
    """The trail of one version: data version -> code commit -> run -> model version, with its metrics.

    Raises:
        RegistryError: The version does not exist.
    """
    from labhelpers.registry.references import resolve

    client = registry_client(client)
    mv = resolve(f"{name}:{version}", client)
    tags = mv.tags or {}
    run = client.get_run(mv.run_id) if mv.run_id else None
    return {
        "name": mv.name,
        "version": str(mv.version),
        "lifecycle": tags.get("lifecycle"),
        "batch_id": batch_of(tags),
        "data_version": tags.get("data_version"),
        "git_commit": tags.get("git_commit"),
        "git_dirty": tags.get("git_dirty"),
        "run_id": mv.run_id,
        "parameters": dict(run.data.params) if run else {},
        "metrics": dict(run.data.metrics) if run else {},
        "source": mv.source,
    }


def reproducibility_problems(version: ModelVersion, params: dict | None) -> list[str]:
    """What keeps a version from being reproducible (empty when it follows the rule).

    Args:
        version: A ``ModelVersion``.
        params: Its run's parameters (``None`` when the run is missing).
    """
    tags = version.tags or {}
    problems = [f"tag {tag} missing" for tag in REQUIRED_TAGS if not tags.get(tag)]
    if tags.get("git_commit") == "unknown":
        problems.append("git_commit unknown (trained outside a git checkout)")
    if tags.get(BATCH_STATUS_TAG, tags.get(OLD_NAMES[BATCH_STATUS_TAG])) == PENDING:
        problems.append(f"from an incomplete batch ({BATCH_STATUS_TAG}={PENDING})")
    for metric in REQUIRED_METRICS.get(tags.get("task_type", ""), ()):
        if _number(tags.get(metric)) != _number(tags.get(metric)):  # NaN: missing or not a number
            problems.append(f"metric {metric} missing")
    if params is None:
        problems.append("training run missing")
    else:
        wanted = REQUIRED_PARAMS.get(tags.get("model_type", ""), ("random_seed", "features"))
        problems += [f"parameter {p} missing" for p in wanted if p not in params]
    return problems


def _uncommitted(version: ModelVersion) -> list[str]:
    """The audit's extra rule: the commit recorded must hold the code that trained the version.

    Not a promotion gate: a learner whose checkout has local edits can still practise promoting, and the
    audit tells them which versions no commit can rebuild.
    """
    if (version.tags or {}).get("git_dirty") == "true":
        return ["git_dirty=true: trained from uncommitted changes, so its commit cannot rebuild it"]
    return []


def audit(names: Iterable[str] | None = None, client: RegistryClient | None = None) -> pd.DataFrame:
    """Every version that breaks the reproducibility rule, and why (an empty frame when all comply).

    The rule: the tags, metrics and parameters of :func:`reproducibility_problems`, a complete batch, and
    a clean commit (``git_dirty`` not ``true``).
    """
    client = registry_client(client)
    versions = versions_of(names, client)
    run_ids = sorted({v.run_id for v in versions if v.run_id})
    params = _params_by_run(client, run_ids)
    rows = [
        {"name": v.name, "version": int(v.version), "problems": "; ".join(problems)}
        for v in versions
        if (problems := reproducibility_problems(v, params.get(v.run_id or "")) + _uncommitted(v))
    ]
    return pd.DataFrame(rows, columns=["name", "version", "problems"])


def _params_by_run(client: RegistryClient, run_ids: list[str], chunk: int = 100) -> dict[str, dict]:
    """Parameters of many runs in a few batched searches (not one request per run)."""
    found: dict[str, dict] = {}
    gone: set[str] = set()  # runs already answered "not found": never asked for twice
    experiment = _experiment_of_any(client, run_ids, found, gone)
    if experiment is not None:  # else no run exists any more
        for start in range(0, len(run_ids), chunk):
            ids = ", ".join(f"'{r}'" for r in run_ids[start : start + chunk])
            try:
                runs = client.search_runs([experiment], f"attributes.run_id IN ({ids})", max_results=chunk)
            except Exception as error:  # Azure ML cannot filter runs by attributes: fetch them one by one
                if not is_refusal(error):  # a 403, a server error or a bug is no refusal: raised
                    raise
                break
            for run in runs:
                found[run.info.run_id] = dict(run.data.params)
    missing = [r for r in run_ids if r not in found and r not in gone]
    for run_id in missing:  # runs in another experiment
        try:
            found[run_id] = dict(client.get_run(run_id).data.params)
        except Exception as error:  # a run that is gone is reported as missing; any other failure surfaces
            if not is_not_found(error):
                raise
    return found


def _experiment_of_any(
    client: RegistryClient, run_ids: list[str], found: dict[str, dict], gone: set[str]
) -> str | None:
    """The experiment of the first run that still exists (recorded in ``found``, the missing ones before it
    in ``gone``); None when none does."""
    for run_id in run_ids:
        try:
            run = client.get_run(run_id)
        except Exception as error:
            if not is_not_found(error):
                raise
            gone.add(run_id)
            continue
        found[run_id] = dict(run.data.params)
        return run.info.experiment_id
    return None


def require_version(name: str, version: str | int, client: RegistryClient | None = None) -> ModelVersion:
    """The ``ModelVersion`` for ``name``/``version``, or a RegistryError listing what exists."""
    from labhelpers.registry.references import resolve

    if version is None:
        raise RegistryError(f"Give a version of {name}.")
    return resolve(f"{name}:{version}", registry_client(client))
