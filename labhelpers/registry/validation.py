"""Recompute a registered version's metrics on validation data, and compare it with another version.

Used by the promotion gates: ``validated`` needs the metrics to hold up on data the model has not seen;
``production`` needs no regression against the current production version on the same data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

#: Stated tolerances. A regressor may be validated when its validation rmse is at most 25 % above the rmse
#: recorded at training, and promoted when it is at most 2 % above production's on the same data. KMeans
#: may lose at most 0.05 (validation) / 0.02 (production) of silhouette.
TOLERANCES = {
    "validate_rmse_ratio": 1.25,
    "production_rmse_ratio": 1.02,
    "validate_silhouette_drop": 0.05,
    "production_silhouette_drop": 0.02,
}
VALIDATION_ROWS = 5_000
VALIDATION_SEED = 2017


@dataclass
class Check:
    """Outcome of a metric check: the recomputed metrics, whether the gate passes, and a sentence why."""

    metrics: dict[str, float]
    passed: bool
    summary: str
    data_version: str = ""
    baseline: dict[str, float] = field(default_factory=dict)


@lru_cache(maxsize=4)
def _validation_frame(source: str | None):
    """Cleaned validation trips: a file/URL, or by default a generated month the models never saw."""
    from labhelpers.data.cleaning import clean_trips, data_version
    from labhelpers.data.load import to_canonical
    from labhelpers.training.steps import prepare_data

    if source:
        frame, _, info = prepare_data(source, require_coordinates=True)
        return frame, info["data_version"]
    from labhelpers.data.sample import generate_trips

    raw = generate_trips(VALIDATION_ROWS, VALIDATION_SEED, start="2016-07-01", end="2016-08-01")
    frame, _ = clean_trips(
        to_canonical(raw, source="generated validation month")[0], require_coordinates=True
    )
    return frame, data_version(frame)


def _load(mv):
    import mlflow.sklearn

    return mlflow.sklearn.load_model(f"models:/{mv.name}/{mv.version}")


def metrics_on(mv, frame) -> dict[str, float]:
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


def recompute_metrics(mv, validation_data=None, baseline=None) -> Check:
    """Recompute ``mv``'s metrics; gate them against its training metrics, or against ``baseline``.

    Args:
        mv: The ``ModelVersion`` under review.
        validation_data: Path or URL of validation trips (default: a generated held-out month).
        baseline: Another ``ModelVersion`` (current production) to compare with on the same data.

    Returns:
        The check; ``passed`` says whether the gate opens.
    """
    frame, version = _validation_frame(str(validation_data) if validation_data else None)
    metrics = metrics_on(mv, frame)
    clustering = mv.tags.get("task_type") == "clustering"
    if baseline is None:
        reference = {
            "rmse": float(mv.tags.get("rmse", "nan")),
            "silhouette": float(mv.tags.get("silhouette", "nan")),
        }
        ratio, drop, against = (
            TOLERANCES["validate_rmse_ratio"],
            TOLERANCES["validate_silhouette_drop"],
            "training",
        )
    else:
        reference = metrics_on(baseline, frame)
        ratio, drop = TOLERANCES["production_rmse_ratio"], TOLERANCES["production_silhouette_drop"]
        against = f"production version {baseline.version}"
    if clustering:
        passed = metrics["silhouette"] >= reference["silhouette"] - drop
        summary = (
            f"silhouette {metrics['silhouette']:.4f} vs {reference['silhouette']:.4f} on {against} "
            f"(allowed drop {drop})."
        )
    else:
        passed = metrics["rmse"] <= reference["rmse"] * ratio
        summary = (
            f"rmse {metrics['rmse']:.4f} vs {reference['rmse']:.4f} for {against} (allowed up to x{ratio})."
        )
    return Check(metrics, bool(passed), summary, version, reference)
