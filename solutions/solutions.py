"""Reference solutions of the "Your turn" tasks in notebooks 01-06 (for instructors, not run by the course).

Each function does what a learner types into the task's cell, with the names the notebook has at hand, and
returns what the learner passes to ``check``. ``tests/notebooks/test_course.py`` runs them all.
"""

from __future__ import annotations

import mlflow
import mlflow.pyfunc
import pandas as pd
from mlflow import MlflowClient

from labhelpers.foundation.learner import namespace


def solve_01_1(frame: pd.DataFrame) -> str:
    """01-1: a Ridge with alpha 10 on all features, logged like notebook 01's section 6; its run id."""
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import Ridge

    from labhelpers.training.features import supervised_xy
    from labhelpers.training.held_out import score_fare_model
    from labhelpers.training.outputs import pip_requirements
    from labhelpers.training.sweep import FEATURE_SETS

    features = FEATURE_SETS["all"]
    X, y = supervised_xy(frame, features)
    mlflow.set_experiment(namespace().experiment)
    with mlflow.start_run(run_name="ridge-all-alpha-10") as run:
        model = Ridge(alpha=10.0).fit(X, y)
        params = {"model_type": "Ridge", "feature_set": "all", "features": ",".join(features), "alpha": 10.0}
        mlflow.log_params(params)
        mlflow.log_metrics(score_fare_model(model, features))
        signature = infer_signature(X, model.predict(X))
        mlflow.sklearn.log_model(
            model,
            name="model",
            signature=signature,
            input_example=X.head(5),
            pip_requirements=pip_requirements(),
        )
    return run.info.run_id


def _best_run(model_type: str) -> pd.DataFrame:
    """The run of ``model_type`` with the lowest rmse, as a one-row frame (sorted on the server)."""
    return mlflow.search_runs(
        experiment_names=[namespace().experiment],
        filter_string=f"params.model_type = '{model_type}'",
        order_by=["metrics.rmse ASC"],
        max_results=1,
    )


def solve_01_2() -> str:
    """01-2: the Ridge runs, lowest rmse first; the first one's run id."""
    return _best_run("Ridge").run_id.iloc[0]


def solve_02_1(owner: str) -> str:
    """02-1: register the best Ridge run from runs:/ with the course's tags; the new version's number."""
    from labhelpers.registry.register import tags_from_run

    run_id = _best_run("Ridge").run_id.iloc[0]
    ridge = namespace().models["ridge"]
    return mlflow.register_model(f"runs:/{run_id}/model", ridge, tags=tags_from_run(run_id, owner)).version


def solve_02_2(version: str) -> None:
    """02-2: describe notebook 02's by-hand version of the fare model with its run's held-out rmse."""
    client = MlflowClient()
    fare = namespace().models["linear"]
    rmse = client.get_run(client.get_model_version(fare, version).run_id).data.metrics["rmse"]
    description = f"Best LinearRegression run of the sweep: rmse {rmse:.2f} on the held-out July trips."
    client.update_model_version(fare, version, description=description)


def solve_03_1(trips: pd.DataFrame) -> list[float]:
    """03-1: load version 1 of the fare model by its URI and predict the fare of each trip, in order."""
    model = mlflow.pyfunc.load_model(f"models:/{namespace().models['linear']}/1")
    return [float(fare) for fare in model.predict(trips)]


def solve_03_2() -> float:
    """03-2: version 1 of the Ridge model -> its training run -> the Ridge's rmse among the run's metrics."""
    client = MlflowClient()
    version = client.get_model_version(namespace().models["ridge"], "1")
    return client.get_run(version.run_id).data.metrics["ridge_regression_rmse"]


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
