"""Reference solutions of the "Your turn" tasks in notebooks 01-06 (for instructors, not run by the course).

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


def _production(model_name: str):
    """The version of ``model_name`` whose lifecycle tag is production (read, never typed)."""
    versions = MlflowClient().search_model_versions(f"name = '{model_name}'")
    return next(v for v in versions if v.tags.get("lifecycle") == "production")


def solve_06_1(model_name: str) -> list[str]:
    """06-1 (notebook 06, as the two below): the input names of the production version's signature."""
    info = mlflow.models.get_model_info(f"models:/{model_name}/{_production(model_name).version}")
    return info.signature.inputs.input_names()


def solve_06_2(production_name: str) -> None:
    """06-2: the shared model's own description names the source of its newest copy (``models:/NAME/N``)."""
    client = MlflowClient()
    newest = max(client.search_model_versions(f"name = '{production_name}'"), key=lambda v: int(v.version))
    source_name, source_version = newest.source.removeprefix("models:/").rsplit("/", 1)
    client.update_registered_model(
        production_name,
        description=f"Releases of {source_name}; the newest copies its version {source_version}.",
    )


def solve_06_3(model_name: str, production_name: str):
    """06-3: copy the production version into the shared model, then delete that copy; return the copy."""
    client = MlflowClient()
    spare = client.copy_model_version(
        f"models:/{model_name}/{_production(model_name).version}", production_name
    )
    client.delete_model_version(production_name, spare.version)
    return spare
