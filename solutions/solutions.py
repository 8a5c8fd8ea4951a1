"""Reference solutions of the "Your turn" tasks in notebooks 01-05 (for instructors, not run by the course).

Each function does what a learner types into the task's cell, with the names the notebook has at hand, and
returns what the learner passes to ``check``. ``tests/notebooks/test_course.py`` runs them all.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient

from labhelpers import run_supervised
from labhelpers.core.learner import namespace
from labhelpers.course.session import new_run_dir


def solve_01_1(output_dir: str | Path, data=None) -> Path:
    """01-1: train the supervised step with Ridge alpha = 10 into a new run folder; return the folder."""
    my_run = new_run_dir(output_dir)
    run_supervised(data, my_run / "supervised", alpha=10.0)
    return my_run


def solve_02_1(owner: str, version: str) -> None:
    """02-1: tag section 2's by-hand version (the notebook's ``by_hand.version``) with the course's owner.

    A version tag, not a run tag.
    """
    MlflowClient().set_model_version_tag(namespace().by_hand, version, "owner", owner)


def solve_03_1(trips: pd.DataFrame) -> list[int]:
    """03-1: load version 1 of the clustering by its URI and predict the cluster of each trip, in order."""
    model = mlflow.pyfunc.load_model(f"models:/{namespace().models['kmeans']}/1")
    return [int(cluster) for cluster in model.predict(trips)]


def solve_03_2() -> str:
    """03-2: the registration runs of the Ridge model, lowest rmse first; the first one's run id.

    Sorted in pandas, which works on every server (Azure ML does not order runs by a metric).
    """
    runs = mlflow.search_runs(
        experiment_names=[namespace().experiment], filter_string="tags.model_type = 'Ridge'"
    )
    finished = runs[runs["status"] == "FINISHED"]
    return finished.sort_values("metrics.rmse").iloc[0]["run_id"]


def solve_04_1(model_name: str) -> str:
    """04-1: one search, then the version whose rmse tag (text) is lowest as a number."""
    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    return min(versions, key=lambda v: float(v.tags["rmse"])).version


def solve_04_2(model_name: str) -> str:
    """04-2: the Azure ML form of the version in production: azureml:NAME:N (a number after a colon).

    The lifecycle tag says which version is in production on every registry (Azure ML has no aliases).
    """
    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    production = next(v for v in versions if v.tags.get("lifecycle") == "production")
    return f"azureml:{model_name}:{production.version}"


def solve_05_1(inference, trips: pd.DataFrame) -> tuple[dict, list]:
    """05-1: a longer trip than the request's first one, sent to the running inference server.

    The answer is kept whole: it carries the id the server gave it, which the check finds in its log.
    """
    my_trip = {**trips.iloc[0].to_dict(), "trip_distance": 7.5, "duration_min": 24.0}
    my_fare = inference.invoke(pd.DataFrame([my_trip]))  # POST /score, inputs under input_data
    return my_trip, my_fare


def solve_04_3(trips: pd.DataFrame) -> dict:
    """04-3: the team's stricter gate as MLflow thresholds: rmse at most half the mean-fare baseline's on the
    held-out ``trips``, and at least 1 % below production's (a relative change of 0.01, lower is better).
    """
    from mlflow.models import MetricThreshold

    fares = trips["fare_amount"]
    baseline_rmse = float(((fares - fares.mean()) ** 2).mean() ** 0.5)
    return {
        "rmse": MetricThreshold(
            threshold=0.5 * baseline_rmse, min_relative_change=0.01, greater_is_better=False
        )
    }


def solve_05_2(model_name: str, trips: pd.DataFrame) -> tuple[str, list[float]]:
    """05-2: the URI that follows production (the alias; without aliases, the number its lifecycle tag gives),
    loaded with pyfunc, and its fares for ``trips``.
    """
    client = MlflowClient()
    if client.get_registered_model(model_name).aliases:
        production_uri = f"models:/{model_name}@production"
    else:  # Azure ML: no aliases; the lifecycle tag says which version is in production
        versions = client.search_model_versions(f"name = '{model_name}'")
        production = next(v for v in versions if v.tags.get("lifecycle") == "production")
        production_uri = f"models:/{model_name}/{production.version}"
    production_fares = list(mlflow.pyfunc.load_model(production_uri).predict(trips))
    return production_uri, production_fares
