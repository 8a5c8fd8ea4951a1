"""The training steps as a learner or a pipeline runs them: load, clean, train, write an output folder.

``ML/train_supervised.py``, ``ML/train_unsupervised.py`` and notebook 01 all call these functions.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from labhelpers.files.artifacts import atomic_output_dir, write_json, write_manifest
from labhelpers.foundation.config import RANDOM_SEED, SAMPLE_DATA
from labhelpers.foundation.provenance import git_info
from labhelpers.training.features import supervised_xy
from labhelpers.training.held_out import held_out_description, score_fare_model
from labhelpers.training.outputs import (
    INPUT_EXAMPLE,
    SUPERVISED_METRICS,
    UNSUPERVISED_METRICS,
    save_model_folder,
)
from labhelpers.training.tracking import RUN_ID_ENV, log_step
from labhelpers.training.train import TrainingResult, fit_regressors, train_unsupervised

if TYPE_CHECKING:
    from labhelpers.data.cleaning import CleaningReport


def prepare_data(
    source: str | Path | None = None, *, require_coordinates: bool = False
) -> tuple[pd.DataFrame, CleaningReport, dict[str, Any]]:
    """Load and clean trips, returning the frame, its cleaning report and a description of the data.

    Args:
        source: Path or https URL of a CSV/parquet file (default: the shipped sample).
        require_coordinates: Drop rows without NYC coordinates (needed for clustering).

    Returns:
        ``(frame, report, data_info)`` where ``data_info`` holds the source, schema, file digest, row counts,
        the rows each cleaning rule dropped and the ``data_version`` of the cleaned frame.
    """
    from labhelpers.data.cleaning import clean_trips, data_version
    from labhelpers.data.load import load_trips

    loaded = load_trips(source or SAMPLE_DATA)
    info = {
        "source": str(loaded.source),
        "schema": loaded.schema,
        "file_sha256": loaded.sha256,
        "rows_read": loaded.rows_read,
    }
    raw, path = loaded.frame, str(loaded.path)
    del loaded  # only `raw` holds the uncleaned frame now, and it goes once cleaning is done
    frame, report = clean_trips(raw, require_coordinates=require_coordinates, source=path)
    del raw
    info.update(rows_used=len(frame), dropped_by_rule=dict(report.dropped), data_version=data_version(frame))
    return frame, report, info


def _tracked(experiment: str | None) -> bool:
    """Log to MLflow when an experiment is named, or inside a job that has its run (Azure ML)."""
    return bool(experiment or os.environ.get(RUN_ID_ENV))


def _run_metrics(result: TrainingResult, step: str) -> dict[str, float]:
    if step == "supervised":  # the seed's names: linear_regression_rmse, ridge_regression_r2...
        return {f"{name}_{k}": v for name, values in result.metrics.items() for k, v in values.items()}
    return dict(result.metrics["kmeans"])


def _save(
    result: TrainingResult, folder: Path, metrics_name: str, payload: dict, experiment: str | None
) -> None:
    # Each model as the MLflow model folder registration uploads unchanged (see training.outputs).
    for name, model in result.models.items():
        save_model_folder(model, folder / name, result.input_example)
    step = metrics_name.removesuffix("_metrics.json")
    if _tracked(experiment):  # the run's id goes into the metrics JSON: the manifest vouches for it too
        payload["training_run"] = log_step(
            step, folder, payload, _run_metrics(result, step), experiment=experiment
        )
    write_json(folder / metrics_name, payload)
    write_json(
        folder / INPUT_EXAMPLE,
        {"columns": list(result.input_example.columns), "data": result.input_example.values.tolist()},
    )
    write_manifest(folder, step, extra={"lineage": git_info()})


def run_supervised(
    data: str | Path | None,
    output_dir: str | Path,
    *,
    alpha: float = 1.0,
    test_size: float = 0.2,
    seed: int = RANDOM_SEED,
    features: list[str] | None = None,
    experiment: str | None = None,
) -> dict:
    """Train both fare regressors and write them, their metrics JSON and a manifest to ``output_dir``.

    Both are scored on the course's one held-out set (:mod:`labhelpers.training.held_out`: July 2016 trips
    no model trains on). With ``experiment`` (or inside an Azure ML job) the step is also logged as an MLflow
    run (:mod:`labhelpers.training.tracking`) and the run's id is recorded as ``training_run``.

    Returns:
        The metrics payload written to ``supervised_metrics.json``.
    """
    with atomic_output_dir(output_dir) as folder:
        frame, _, info = prepare_data(data)
        X, y = supervised_xy(frame, features)
        del frame  # ~1.8 GB at 10M rows; the features are all training needs from here
        result = fit_regressors(X, y, alpha=alpha, test_size=test_size, seed=seed)
        result.metrics = {
            name: score_fare_model(model, result.features_used) for name, model in result.models.items()
        }
        payload = {
            "features_used": result.features_used,
            **result.metrics,
            "data_version": info["data_version"],
            "parameters": result.parameters,
            "data": info,
            **result.extra,
        }
        payload["held_out"] = held_out_description()
        _save(result, folder, SUPERVISED_METRICS, payload, experiment)
    return payload


def run_unsupervised(
    data: str | Path | None,
    output_dir: str | Path,
    *,
    n_clusters: int = 8,
    seed: int = RANDOM_SEED,
    silhouette_sample: int = 10_000,
    experiment: str | None = None,
) -> dict:
    """Train KMeans on trip coordinates and write it, its metrics JSON and a manifest to ``output_dir``.

    With ``experiment`` (or inside an Azure ML job) the step is also logged as an MLflow run.

    Returns:
        The metrics payload written to ``unsupervised_metrics.json``.
    """
    with atomic_output_dir(output_dir) as folder:
        frame, _, info = prepare_data(data, require_coordinates=True)
        result = train_unsupervised(
            frame, n_clusters=n_clusters, seed=seed, silhouette_sample=silhouette_sample
        )
        payload = {
            "model": "kmeans",
            **result.metrics["kmeans"],
            "features_used": result.features_used,
            "data_version": info["data_version"],
            "parameters": result.parameters,
            "data": info,
            **result.extra,
        }
        _save(result, folder, UNSUPERVISED_METRICS, payload, experiment)
    return payload


def data_line(payload: dict) -> str:
    """One line saying what a training step was trained on (for the scripts' output)."""
    data = payload["data"]
    return f"data: {data['source']} ({data['rows_used']} clean rows, {payload['data_version'][:19]})"


def metrics_table(supervised: dict, unsupervised: dict | None = None) -> pd.DataFrame:
    """One row per model with its headline metrics, for printing."""
    rows = [{"model": name, **supervised[name]} for name in ("linear_regression", "ridge_regression")]
    if unsupervised:
        keys = ("n_clusters", "inertia", "silhouette", "sample_size_used")
        rows.append({"model": "kmeans", **{k: unsupervised[k] for k in keys}})
    return pd.DataFrame(rows).set_index("model")
