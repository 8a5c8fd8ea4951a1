"""A training step as an MLflow run: its parameters, its held-out metrics and its model folders.

One step, one run: on Azure ML a pipeline step is a job, and ``mlflow.start_run()`` inside a job resumes the
job's own run (azureml-mlflow hands it over through ``MLFLOW_RUN_ID``), so the step logs into it; anywhere
else the run is created in the experiment named. Each model folder goes up as the run's files under its key
(``linear_regression/``, ``ridge_regression/``, ``kmeans/``): the MLflow model folder training saved, with its
signature and input example. ``log_artifacts`` is used rather than ``mlflow.sklearn.log_model``, whose
MLflow 3
logged-models call Azure ML answered with 404 (azure-sdk-for-python#44896). The run's id is written into the
step's metrics JSON, so registration makes each version from this run (``ModelVersion.run_id`` is it).
"""

from __future__ import annotations

import os
from pathlib import Path

from labhelpers.foundation.provenance import git_info

#: Set inside an Azure ML job (and by ``mlflow run``): the run a step must log into.
RUN_ID_ENV = "MLFLOW_RUN_ID"


def _params(payload: dict) -> dict[str, str]:
    params = {key: str(value) for key, value in payload["parameters"].items()}
    params["features"] = ",".join(payload["features_used"])
    params["training_rows"] = str(payload["data"]["rows_used"])
    params["data_version"] = payload["data_version"]
    return params


def log_step(
    step: str, folder: Path, payload: dict, metrics: dict[str, float], *, experiment: str | None = None
) -> str:
    """Log one training step into a run (the active job's run where there is one); return its run id.

    Args:
        step: ``supervised`` or ``unsupervised`` (the run is named ``train-<step>``).
        folder: The step's output folder: every sub-folder holding an ``MLmodel`` is logged under its name.
        payload: The step's metrics payload (parameters, features_used, data, data_version).
        metrics: The metrics to log, already named (``linear_regression_rmse``... or ``silhouette``...).
        experiment: The experiment of a new run (ignored inside a job, whose run has its own).
    """
    import mlflow

    if experiment and not os.environ.get(RUN_ID_ENV):
        mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"train-{step}") as run:
        mlflow.log_params(_params(payload))
        mlflow.log_metrics(metrics)
        mlflow.set_tags({"step": step, "data_version": payload["data_version"], **git_info()})
        for model in sorted(p.parent for p in folder.glob("*/MLmodel")):
            mlflow.log_artifacts(str(model), model.name)
    return run.info.run_id
