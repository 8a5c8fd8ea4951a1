"""Notebook 01's sweep, packaged: one tracked MLflow run per fare model, feature set and Ridge ``alpha``.

The learner first writes one such run by hand with MLflow's own calls (notebook 01, section 5); this module
is the packaged form of exactly that cell, so a run it logs for the same model and features has the same
parameters and the same held-out metrics. Every run is scored on the course's one held-out set
(:mod:`labhelpers.training.held_out`), so every rmse in the experiment can be compared with every other.
The model is saved as an MLflow model folder and uploaded as the run's files under ``model/`` (the path that
works on every registry: MLflow 3's ``log_model`` first calls the logged-models endpoint, which Azure ML
answered with 404), so ``runs:/<run_id>/model`` registers it.

May import ``labhelpers.data`` and ``labhelpers.foundation``; part of ``labhelpers.training``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from labhelpers.training.features import DEFAULT_SUPERVISED_FEATURES, supervised_xy
from labhelpers.training.held_out import score_fare_model
from labhelpers.training.outputs import save_model_folder

#: The feature sets the sweep compares: the distance alone (the meter's main line), the meter's inputs
#: (distance, time, hour and day extras, passengers), and all of them (adding the flat and negotiated fares).
FEATURE_SETS: dict[str, list[str]] = {
    "distance": ["trip_distance"],
    "meter": [
        "trip_distance",
        "duration_min",
        "pickup_hour",
        "is_night",
        "is_weekday_peak",
        "is_weekend",
        "passenger_count",
    ],
    "all": list(DEFAULT_SUPERVISED_FEATURES),
}
#: The Ridge strengths the sweep tries beside LinearRegression (which is Ridge with alpha 0).
ALPHAS = (100.0, 10_000.0)


def fare_model(model_type: str, alpha: float | None = None) -> Any:
    """An unfitted ``LinearRegression`` or ``Ridge(alpha=...)``."""
    from sklearn.linear_model import LinearRegression, Ridge

    if model_type == "LinearRegression":
        return LinearRegression()
    if model_type == "Ridge":
        return Ridge(alpha=1.0 if alpha is None else alpha)
    raise ValueError(f"model_type must be 'LinearRegression' or 'Ridge', got {model_type!r}")


def run_params(model_type: str, feature_set: str, features: list[str], alpha: float | None) -> dict:
    """The parameters a sweep run logs (the same keys notebook 01's run by hand logs)."""
    params: dict[str, object] = {"model_type": model_type, "feature_set": feature_set}
    params["features"] = ",".join(features)
    if alpha is not None:
        params["alpha"] = alpha
    return params


def run_name(model_type: str, feature_set: str, alpha: float | None = None) -> str:
    """``linearregression-distance``, ``ridge-all-alpha-100``..."""
    name = f"{model_type.lower()}-{feature_set}"
    return name if alpha is None else f"{name}-alpha-{alpha:g}"


def lineage_tags(frame: pd.DataFrame) -> dict[str, str]:
    """The data version of ``frame`` and the code commit: what a version registered from the run records."""
    from labhelpers.data.cleaning import data_version
    from labhelpers.foundation.provenance import git_info

    return {"data_version": data_version(frame), **git_info()}


def log_fare_run(
    frame: pd.DataFrame,
    feature_set: str,
    model_type: str,
    alpha: float | None = None,
    lineage: dict[str, str] | None = None,
) -> tuple[str, dict[str, float]]:
    """Fit one fare model on ``frame`` and log it as a run of the active experiment.

    Args:
        lineage: The run's data version and commit tags (default: computed from ``frame``).

    Returns:
        The run's id and its held-out metrics (rmse, mae, r2).
    """
    import mlflow

    features = FEATURE_SETS[feature_set]
    X, y = supervised_xy(frame, features)
    with mlflow.start_run(run_name=run_name(model_type, feature_set, alpha)) as run:
        model = fare_model(model_type, alpha).fit(X, y)
        metrics = score_fare_model(model, features)
        mlflow.log_params(run_params(model_type, feature_set, features, alpha))
        mlflow.log_metrics(metrics)
        mlflow.set_tags(lineage or lineage_tags(frame))
        with tempfile.TemporaryDirectory() as folder:
            save_model_folder(model, Path(folder) / "model", X.head(5))
            mlflow.log_artifacts(str(Path(folder) / "model"), "model")
    return run.info.run_id, metrics


def sweep(
    frame: pd.DataFrame,
    experiment: str,
    feature_sets: list[str] | None = None,
    alphas: tuple[float, ...] = ALPHAS,
) -> pd.DataFrame:
    """Log LinearRegression and Ridge at each ``alpha`` on each feature set: one run each.

    Args:
        frame: The cleaned training trips (notebook 01's ``frame``).
        experiment: The experiment the runs go to (created if needed).
        feature_sets: Names from :data:`FEATURE_SETS` (default: all of them).
        alphas: Ridge strengths.

    Returns:
        One row per run, best rmse first: run name, model type, feature set, alpha, rmse, mae, r2, run id.
    """
    import mlflow

    mlflow.set_experiment(experiment)
    lineage = lineage_tags(frame)
    rows = []
    for feature_set in feature_sets or list(FEATURE_SETS):
        for model_type, alpha in [("LinearRegression", None), *(("Ridge", a) for a in alphas)]:
            run_id, metrics = log_fare_run(frame, feature_set, model_type, alpha, lineage)
            name = run_name(model_type, feature_set, alpha)
            rows.append({"run": name, "model_type": model_type, "feature_set": feature_set, "alpha": alpha})
            rows[-1].update({**metrics, "run_id": run_id})
    return pd.DataFrame(rows).sort_values("rmse", ignore_index=True)
