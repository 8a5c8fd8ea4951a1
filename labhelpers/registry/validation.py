"""Recompute a registered version's metrics on the held-out set, and decide the promotion gates on them.

The rmse recorded on a fare version IS its rmse on the course's one held-out set
(:mod:`labhelpers.training.held_out`: training logs it so). The gates therefore mean:

- ``validated``: the registered model file, loaded from the registry and scored on the held-out set,
  reproduces the rmse recorded for it (to the six significant digits tags keep), so the file is the model
  that was measured; and it passes the floor: at most half the rmse of a baseline that always predicts the
  mean fare of those trips, so a model that learned nothing is never validated.
- ``production``: the same floor, and no regression at all against the version in production, both scored
  here on the same held-out trips.

Both gates decide with MLflow's own ``mlflow.validate_evaluation_results`` and ``MetricThreshold``s fed the
metrics computed here: no server call, so they decide the same way on every registry, Azure ML too. A
clustering version keeps its silhouette check (its recorded silhouette is measured on its training trips).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.models import MetricThreshold

#: Stated tolerances of the validation gate: a regressor's recomputed held-out rmse must equal the recorded
#: one to within the rounding of a tag (six significant digits: a relative 1e-5); KMeans may lose at most
#: 0.05 of silhouette on the held-out trips.
TOLERANCES = {"reproduce_rmse_rtol": 1e-5, "validate_silhouette_drop": 0.05}
#: The production gate's absolute floors. rmse: at most half the rmse of a baseline that predicts the mean
#: fare of the same held-out trips (r2 >= 0.75), so a model that learned nothing cannot pass. silhouette: at
#: least 0.25 (below it, Kaufman and Rousseeuw's "no substantial structure").
FLOORS = {"rmse_of_mean_baseline": 0.5, "silhouette": 0.25}
VALIDATION_SEED = 2017


@dataclass
class Check:
    """Outcome of a metric check: the recomputed metrics, whether the gate passes, and a sentence why."""

    metrics: dict[str, float]
    passed: bool
    summary: str
    data_version: str = ""
    baseline: dict[str, float] = field(default_factory=dict)
    evidence: list[dict] = field(default_factory=list)

    def table(self) -> pd.DataFrame:
        """The evidence as a frame: one row per bound, with both values, the bound and the verdict."""
        import pandas as pd

        return pd.DataFrame(self.evidence, columns=EVIDENCE_COLUMNS)


#: The columns of the evidence of a gate: which bound, the metric, the candidate's value, what it is
#: compared with and its value, the bound the candidate must meet, and the verdict.
EVIDENCE_COLUMNS = ["check", "metric", "candidate", "compared with", "value", "bound", "verdict"]


def _row(
    check: str, metric: str, candidate: float, against: str, value: float, bound: str, ok: bool
) -> dict[str, object]:
    return dict(
        zip(
            EVIDENCE_COLUMNS,
            (check, metric, round(candidate, 4), against, round(value, 4), bound, "pass" if ok else "fail"),
            strict=True,
        )
    )


@lru_cache(maxsize=4)
def _validation_frame(source: str | None) -> tuple[pd.DataFrame, str]:
    """Cleaned validation trips: a file/URL, or by default a generated month the models never saw."""
    from labhelpers.training.held_out import held_out_trips
    from labhelpers.training.steps import prepare_data

    if source:
        frame, _, info = prepare_data(source, require_coordinates=True)
        return frame, info["data_version"]
    return held_out_trips()


def _load(mv: ModelVersion) -> Any:
    """The version's model, downloaded once per process: the gates of one promotion score the same versions.

    A registered version's files never change; the key also holds its creation time and source, so a version
    number deleted and made again (or another registry) is downloaded anew.
    """
    import mlflow

    created, source = getattr(mv, "creation_timestamp", None), getattr(mv, "source", None)
    return _load_once(mlflow.get_registry_uri(), mv.name, str(mv.version), created, source)


@lru_cache(maxsize=8)
def _load_once(registry: str, name: str, version: str, created: object, source: object) -> Any:
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{name}/{version}")


def metrics_on(mv: ModelVersion, frame: pd.DataFrame) -> dict[str, float]:
    """Metrics of version ``mv`` on a cleaned frame, using the features recorded on the version."""
    from labhelpers.training.features import cluster_x, supervised_xy
    from labhelpers.training.train import regression_metrics

    model = _load(mv)
    if mv.tags.get("task_type") == "clustering":
        import numpy as np
        from sklearn.metrics import silhouette_score

        X = cluster_x(frame)
        labels = model.predict(X)
        rows = np.random.default_rng(VALIDATION_SEED).choice(len(X), min(len(X), 5_000), replace=False)
        silhouette = silhouette_score(X.iloc[rows], labels[rows]) if len(set(labels[rows])) > 1 else -1.0
        return {"silhouette": float(silhouette), "inertia": float(-model.score(X))}
    X, y = supervised_xy(frame, mv.tags["features"].split(","))
    return regression_metrics(y.to_numpy(), model.predict(X))


def recompute_metrics(mv: ModelVersion, validation_data: str | Path | None = None) -> Check:
    """The validation gate: ``mv``'s file, scored on the held-out set, reproduces its recorded rmse and passes
    the floor (a fare model; a clustering keeps its silhouette).

    Args:
        mv: The ``ModelVersion`` under review.
        validation_data: Path or URL of validation trips (default: the course's held-out set).

    Returns:
        The check; ``passed`` says whether the gate opens; one evidence row per condition.
    """
    frame, version = _validation_frame(str(validation_data) if validation_data else None)
    metrics = metrics_on(mv, frame)
    if mv.tags.get("task_type") == "clustering":
        recorded = float(mv.tags.get("silhouette", "nan"))
        drop = TOLERANCES["validate_silhouette_drop"]
        passed = metrics["silhouette"] >= recorded - drop
        summary = f"silhouette {metrics['silhouette']:.4f} vs {recorded:.4f} on training (drop <= {drop})."
        row = _row(
            "holds up on held-out data", "silhouette", metrics["silhouette"], "training", recorded,
            f">= {recorded - drop:.4f}", passed,
        )  # fmt: skip
        return Check(metrics, bool(passed), summary, version, {"silhouette": recorded}, [row])
    recorded = float(mv.tags.get("rmse", "nan"))
    rtol = TOLERANCES["reproduce_rmse_rtol"]
    same = math.isclose(metrics["rmse"], recorded, rel_tol=rtol)
    floor_only = production_thresholds(frame, None, clustering=False)  # nothing to compare with: the floor
    floor = floor_only["rmse"].threshold
    under_floor = decide(floor_only, metrics, None)
    rows = [
        _row("reproduces its recorded rmse", "rmse", metrics["rmse"], "recorded", recorded,
             f"= {recorded:.4f} (rel. {rtol:g})", same),
        _row("floor", "rmse", metrics["rmse"], "mean-fare baseline", mean_baseline_rmse(frame),
             f"<= {floor:.4f}", under_floor),
    ]  # fmt: skip
    reproduced = "reproduced" if same else "NOT reproduced: not the file measured, or other data measured"
    summary = (
        f"rmse {metrics['rmse']:.4f} on the held-out data; recorded {recorded:.4f} ({reproduced}); "
        f"floor <= {floor:.4f}."
    )
    return Check(metrics, same and under_floor, summary, version, {"rmse": recorded}, rows)


def decide(thresholds: dict, metrics: dict, reference: dict | None) -> bool:
    """MLflow's ``validate_evaluation_results`` on metrics already computed: True when every threshold holds.

    Args:
        thresholds: Metric name -> ``MetricThreshold``.
        metrics: The candidate's metrics.
        reference: The baseline's (production's) metrics, or None when there is nothing to compare with.
    """
    import mlflow
    from mlflow.models.evaluation import EvaluationResult
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    chatty = logging.getLogger("mlflow.models.evaluation.validation")  # two INFO lines per call otherwise
    level = chatty.level
    chatty.setLevel(logging.WARNING)
    try:
        mlflow.validate_evaluation_results(
            thresholds,
            EvaluationResult(metrics, {}),
            EvaluationResult(reference, {}) if reference is not None else None,
        )
        return True
    except ModelValidationFailedException:
        return False
    finally:
        chatty.setLevel(level)


def mean_baseline_rmse(frame: pd.DataFrame) -> float:
    """The rmse on ``frame`` of a model that learned nothing: it predicts the mean fare of ``frame``."""
    import numpy as np

    from labhelpers.training.features import TARGET

    fares = frame[TARGET].to_numpy(dtype=float)
    return float(np.sqrt(np.mean((fares - fares.mean()) ** 2)))


def production_thresholds(
    frame: pd.DataFrame, production_metrics: dict | None, clustering: bool
) -> dict[str, MetricThreshold]:
    """The production gate as MLflow ``MetricThreshold``s: the floor, and not worse than production.

    ``min_relative_change=0.0`` asks for no improvement, only no regression: a candidate equal to production
    passes, one worse by any amount does not. Without a production version there is only the floor.
    """
    from mlflow.models import MetricThreshold

    relative = {} if production_metrics is None else {"min_relative_change": 0.0}
    if clustering:
        floor = {"threshold": FLOORS["silhouette"], "greater_is_better": True}
        return {"silhouette": MetricThreshold(**floor, **relative)}
    floor = {
        "threshold": FLOORS["rmse_of_mean_baseline"] * mean_baseline_rmse(frame),
        "greater_is_better": False,
    }
    return {"rmse": MetricThreshold(**floor, **relative)}


def production_check(
    mv: ModelVersion, validation_data: str | Path | None = None, production: ModelVersion | None = None
) -> Check:
    """The production gate: ``mv`` on the held-out data, against the floor and against ``production``.

    Both versions are scored here on the same held-out trips; MLflow's ``validate_evaluation_results``
    then decides with the thresholds of :func:`production_thresholds`.

    Args:
        mv: The ``ModelVersion`` under review.
        validation_data: Path or URL of validation trips (default: the course's held-out set).
        production: The ``ModelVersion`` in production now, or None.

    Returns:
        The check: ``passed``, a one-line summary with the numbers, and one evidence row per bound.
    """
    frame, version = _validation_frame(str(validation_data) if validation_data else None)
    clustering = mv.tags.get("task_type") == "clustering"
    metric = "silhouette" if clustering else "rmse"
    metrics = metrics_on(mv, frame)
    reference = metrics_on(production, frame) if production is not None else None
    thresholds = production_thresholds(frame, reference, clustering)
    passed = decide(thresholds, metrics, reference)
    return _production_result(
        metric, metrics, reference, thresholds[metric], frame, production, passed, version
    )


def _production_result(
    metric: str,
    metrics: dict[str, float],
    reference: dict[str, float] | None,
    threshold: MetricThreshold,
    frame: pd.DataFrame,
    production: ModelVersion | None,
    passed: bool,
    version: str,
) -> Check:
    """The production gate's check: its summary sentence and evidence rows (floor, then production)."""
    value, bound = metrics[metric], threshold.threshold
    at_least = threshold.greater_is_better
    sign = ">=" if at_least else "<="
    floor_ok = value >= bound if at_least else value <= bound
    if metric == "rmse":
        baseline = mean_baseline_rmse(frame)
        floor_text = f"x{FLOORS['rmse_of_mean_baseline']} of the mean-fare baseline's rmse {baseline:.4f}"
        rows = [_row("floor", metric, value, "mean-fare baseline", baseline, f"{sign} {bound:.4f}", floor_ok)]
    else:
        floor_text = "the silhouette floor"
        rows = [_row("floor", metric, value, "floor", bound, f"{sign} {bound:.4f}", floor_ok)]
    summary = f"{metric} {value:.4f} on the held-out data; floor {sign} {bound:.4f} ({floor_text})"
    if reference is not None:
        than = reference[metric]
        better_or_equal = value >= than if at_least else value <= than
        assert production is not None  # a reference comes from the production version
        against = f"production version {production.version}"
        rows.append(
            _row(
                "not worse than production",
                metric,
                value,
                against,
                than,
                f"{sign} {than:.4f}",
                better_or_equal,
            )
        )
        summary += f"; {against}: {than:.4f} (must not be worse)"
    return Check(metrics, passed, summary + ".", version, reference or {}, rows)
