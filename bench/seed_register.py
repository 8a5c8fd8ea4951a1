"""The seed lab's registration loop, kept as the yardstick of ``bench/bench_registry.py``.

Per model: load the joblib file, ``mlflow.start_run``, ``set_tags``, ``log_metrics``, ``log_dict`` of the
metrics JSON, then ``mlflow.sklearn.log_model(..., registered_model_name=...)`` without pip requirements (so
MLflow infers them). Registers under ``seed-<name>``. Not part of the lab: only the benchmark runs it.

    python bench/seed_register.py MODELS_DIR SUPERVISED_DIR UNSUPERVISED_DIR

MODELS_DIR holds ``linear_regression.joblib``, ``ridge_regression.joblib`` and ``kmeans.joblib``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib
import mlflow
import mlflow.sklearn

MODELS = {
    "linear_regression": ("taxi-fare-linear-regression", "supervised_metrics.json", "regression"),
    "ridge_regression": ("taxi-fare-ridge-regression", "supervised_metrics.json", "regression"),
    "kmeans": ("taxi-trip-kmeans", "unsupervised_metrics.json", "clustering"),
}


def main(models_dir: str, supervised_dir: str, unsupervised_dir: str) -> int:
    mlflow.set_experiment("taxi-model-registry-seed")
    for key, (name, metrics_file, task) in MODELS.items():
        folder = Path(unsupervised_dir if key == "kmeans" else supervised_dir)
        payload = json.loads((folder / metrics_file).read_text())
        block = payload if key == "kmeans" else payload[key]
        metrics = {k: float(v) for k, v in block.items() if isinstance(v, (int, float))}
        model = joblib.load(Path(models_dir) / f"{key}.joblib")
        with mlflow.start_run(run_name=f"seed-{name}"):
            mlflow.set_tags({"task_type": task, "dataset": "nyc-taxi", "framework": "scikit-learn"})
            mlflow.log_metrics(metrics)
            mlflow.log_dict(payload, f"metrics/{metrics_file}")
            mlflow.sklearn.log_model(model, name="model", registered_model_name=f"seed-{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
