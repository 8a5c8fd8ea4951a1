"""The checks of the exercises of notebooks 01-03: log a run, find the best run, register it, describe a
version, load a version, follow a version to its run.

Each ``check_NN_N(answer, client)`` returns ``(passed, message)``; :func:`labhelpers.course.exercises.check`
calls them by number and turns that into a :class:`~labhelpers.course.exercises.Verdict`. A hint says what
is still missing, never the answer. Every answer is checked against what the learner's tracking server holds
(runs, their metrics and models, versions), recomputed here, never against a stored value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labhelpers.foundation.learner import namespace
from labhelpers.registry.client import RegistryClient

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities import Run
    from mlflow.entities.model_registry import ModelVersion

#: Exercise 01-1: the Ridge regularisation and the feature set asked for.
ALPHA_ASKED = 10.0
FEATURE_SET_ASKED = "all"
#: Exercise 03-1: trips a rider recognises, chosen so that fare models on other features price them apart.
FARE_TRIPS = {
    "JFK -> Midtown, flat fare": dict(
        trip_distance=17.0, duration_min=45.0, pickup_hour=14, is_jfk_flat_fare=1
    ),
    "Midtown, 1.2 miles at noon": dict(trip_distance=1.2, duration_min=9.0, pickup_hour=12),
    "Newark, evening peak": dict(trip_distance=16.0, duration_min=40.0, pickup_hour=17, is_newark=1),
    "negotiated, Saturday night": dict(trip_distance=5.0, duration_min=15.0, pickup_hour=23, is_negotiated=1),
    "Brooklyn, 4 passengers": dict(trip_distance=6.5, duration_min=25.0, pickup_hour=9, passenger_count=4),
}
#: Fares closer than this (dollars) count as equal: a fare is read to the cent.
CENT = 0.01
_RMSE_CLOSE = 1e-6  # relative: a logged metric against the same metric recomputed


def _runs(client: RegistryClient) -> dict[str, Run]:
    """The finished runs of the learner's experiment, by id (empty when the experiment does not exist)."""
    experiment = client.get_experiment_by_name(namespace().experiment)
    if experiment is None:
        return {}
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    return {run.info.run_id: run for run in runs if run.info.status == "FINISHED"}


def _of_type(runs: dict, model_type: str) -> dict[str, float]:
    """rmse of each run logged with ``model_type`` (a parameter, as notebook 01 logs it)."""
    return {
        run_id: run.data.metrics["rmse"]
        for run_id, run in runs.items()
        if run.data.params.get("model_type") == model_type and "rmse" in run.data.metrics
    }


def _run_id(answer: Any) -> str:
    """A run id from an id, a ``Run``, or a row/frame of ``mlflow.search_runs``."""
    value = getattr(answer, "run_id", answer)
    info = getattr(answer, "info", None)
    if info is not None:
        value = info.run_id
    if hasattr(value, "iloc"):  # a column of a one-row frame
        value = value.iloc[0] if len(value) else ""
    return str(value).strip()


def _load_run_model(run_id: str) -> Any:
    """The scikit-learn model of run ``run_id`` (``runs:/<id>/model``), or None when it has none."""
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    except (MlflowException, OSError):
        return None


def check_01_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """A finished run of the experiment: Ridge, alpha = ALPHA_ASKED, all features, held-out metrics, model."""
    from labhelpers.training.held_out import score_fare_model
    from labhelpers.training.sweep import FEATURE_SETS

    if not answer:
        return False, (
            f"log a Ridge run with alpha {ALPHA_ASKED:g} on FEATURE_SETS['{FEATURE_SET_ASKED}'] into "
            "names.experiment, then pass its run id: check('01-1', my_run)."
        )
    runs, given = _runs(client), _run_id(answer)
    run = runs.get(given)
    if run is None:
        return False, f"{namespace().experiment} has no finished run {given!r}: pass `run.info.run_id`."
    params = run.data.params
    if params.get("model_type") != "Ridge":
        return False, f"that run logged model_type={params.get('model_type')!r}; the task asks for a Ridge."
    if params.get("alpha") is None or float(params["alpha"]) != ALPHA_ASKED:
        return False, f"that Ridge was logged with alpha={params.get('alpha')}; the task asks for another."
    features = FEATURE_SETS[FEATURE_SET_ASKED]
    if params.get("features") != ",".join(features):
        return False, "that run was trained on other features: the task asks for all of them."
    model = _load_run_model(given)
    if model is None:
        return (
            False,
            "the run holds no model under `model`: log it with mlflow.sklearn.log_model(..., name='model').",
        )
    if getattr(model, "alpha", None) != ALPHA_ASKED:
        return (
            False,
            "the model the run holds is not the Ridge its parameters describe: log the model you fitted.",
        )
    logged = run.data.metrics.get("rmse")
    measured = score_fare_model(model, features)["rmse"]
    if logged is None or abs(logged - measured) > _RMSE_CLOSE * measured:
        return False, (
            f"the run logged rmse {logged}, but its model scores differently on the held-out trips: "
            "log the metrics of score_fare_model(model, features)."
        )
    return True, f"Ridge alpha {ALPHA_ASKED:g} on all features: rmse {measured:.4f} on the held-out trips."


def _best_of(client: RegistryClient, model_type: str, answer: Any, task: str) -> tuple[bool, str]:
    """Whether ``answer`` is the run with the lowest rmse among the runs of ``model_type``."""
    runs = _runs(client)
    rmse = _of_type(runs, model_type)
    if not rmse:
        return False, f"{namespace().experiment} holds no {model_type} run yet: run notebook 01 first."
    if answer is None:
        return False, task
    given = _run_id(answer)
    if given not in runs:
        return (
            False,
            f"{namespace().experiment} has no finished run {given!r}: pass a `run_id` from the search.",
        )
    if given not in rmse:
        kind = runs[given].data.params.get("model_type", "not a sweep run")
        return False, f"that run's model_type is {kind!r}; the task asks for the {model_type} runs."
    if rmse[given] > min(rmse.values()) * (1 + _RMSE_CLOSE):
        return False, (
            f"that {model_type} run has rmse {rmse[given]:.4f}; another {model_type} run scores lower: "
            "order by `metrics.rmse`, lowest first."
        )
    return True, f"the {model_type} run with the lowest held-out rmse, {rmse[given]:.4f} dollars."


def check_01_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The id of the Ridge run with the lowest held-out rmse in the learner's experiment."""
    return _best_of(
        client,
        "Ridge",
        answer,
        "search the experiment's runs with mlflow.search_runs, keep the Ridge ones (`params.model_type`), "
        "and put the `run_id` of the one with the lowest `metrics.rmse` in `best_ridge`.",
    )


def _versions(client: RegistryClient, name: str) -> list[ModelVersion]:
    return sorted(client.search_model_versions(f"name='{name}'"), key=lambda v: int(v.version))


def check_02_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The Ridge model's newest version was registered from the best Ridge run, with the course's tags."""
    ridge = namespace().models["ridge"]
    versions = _versions(client, ridge)
    if not versions:
        return False, f"{ridge} has no version yet: run notebook 02's section 2 first."
    newest = versions[-1]
    rmse = _of_type(_runs(client), "Ridge")
    if newest.run_id not in rmse:
        return False, (
            f"{ridge} version {newest.version} comes from a run that is not one of notebook 01's Ridge runs: "
            "register from runs:/<run_id>/model of a Ridge run."
        )
    if rmse[newest.run_id] > min(rmse.values()) * (1 + _RMSE_CLOSE):
        return False, (
            f"version {newest.version} comes from a Ridge run with rmse {rmse[newest.run_id]:.4f}; another "
            "Ridge run scores lower."
        )
    missing = [tag for tag in ("model_type", "rmse", "lifecycle") if tag not in (newest.tags or {})]
    if missing:
        return False, f"version {newest.version} lacks the version tags {missing}: register it with tags=..."
    return True, f"{ridge} version {newest.version} is the best Ridge run, rmse {rmse[newest.run_id]:.4f}."


def _by_hand_fare_version(client: RegistryClient, runs: dict) -> ModelVersion | None:
    """The fare model's newest version registered from one of notebook 01's LinearRegression runs."""
    sweep_runs = _of_type(runs, "LinearRegression")
    mine = [v for v in _versions(client, namespace().models["linear"]) if v.run_id in sweep_runs]
    return mine[-1] if mine else None


def check_02_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The version registered from the best LinearRegression run has a description giving its rmse."""
    runs = _runs(client)
    target = _by_hand_fare_version(client, runs)
    fare = namespace().models["linear"]
    if target is None:
        return False, f"no version of {fare} comes from a sweep run yet: run notebook 02's section 3 first."
    rmse = runs[target.run_id or ""].data.metrics["rmse"]
    text = target.description or ""
    if not text.strip():
        described = [v.version for v in _versions(client, fare) if (v.description or "").strip()]
        plural = "s" if len(described) > 1 else ""
        elsewhere = f" (version{plural} {', '.join(described)}: not the one asked for)" if described else ""
        return False, f"{fare} version {target.version} has no description yet{elsewhere}."
    if f"{rmse:.2f}" not in text:
        return False, (
            f"the description of version {target.version} gives no rmse matching its run's, to two "
            "decimals: read `metrics.rmse` of the run it came from."
        )
    return True, f"{fare} version {target.version} says where it comes from and its rmse, {rmse:.2f}."


def fare_trips() -> pd.DataFrame:
    """Exercise 03-1's trips: one row per trip (named by what it is), every fare feature as a float column."""
    import pandas as pd

    from labhelpers.training.features import DEFAULT_SUPERVISED_FEATURES

    base = {name: 0.0 for name in DEFAULT_SUPERVISED_FEATURES}
    base["passenger_count"] = 1.0
    rows = {trip: {**base, **{k: float(v) for k, v in values.items()}} for trip, values in FARE_TRIPS.items()}
    for values in rows.values():
        hour = values["pickup_hour"]
        values["is_night"] = float(hour >= 20 or hour < 6)
        values["is_weekday_peak"] = float(16 <= hour < 20)
    rows["negotiated, Saturday night"]["is_weekend"] = 1.0
    return pd.DataFrame.from_dict(rows, orient="index")[list(DEFAULT_SUPERVISED_FEATURES)]


def _numbers(answer: Any, count: int) -> list[float] | None:
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__len__") or len(answer) != count:
        return None
    try:
        return [float(value) for value in answer]
    except (TypeError, ValueError):
        return None


def _predict(name: str, version: str, trips: pd.DataFrame) -> list[float]:
    import mlflow.pyfunc

    return [float(f) for f in mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(trips)]


def check_03_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The fares version 1 of the fare model predicts for :func:`fare_trips`, in order, to the cent."""
    fare, trips = namespace().models["linear"], fare_trips()
    if answer is None:
        return False, (
            f"load models:/{fare}/1 with mlflow.pyfunc.load_model, predict `trips` (the frame as it is) and "
            f"put the fares in `answer`: {len(trips)} numbers, one per trip, in order."
        )
    given = _numbers(answer, len(trips))
    if given is None:
        return (
            False,
            f"`answer` should hold {len(trips)} fares, one per row of `trips` in order; got {answer!r}.",
        )
    expected = _predict(fare, "1", trips)
    if all(abs(a - b) < CENT for a, b in zip(given, expected, strict=True)):
        return (
            True,
            f"models:/{fare}/1 prices the {len(trips)} trips at {', '.join(f'{f:.2f}' for f in expected)}.",
        )
    for other in (v.version for v in _versions(client, fare) if v.version != "1"):
        if all(abs(a - b) < CENT for a, b in zip(given, _predict(fare, other, trips), strict=True)):
            return False, (
                f"those are the fares of version {other}, not version 1: a URI without a number "
                "(or @latest) names the newest version."
            )
    wrong = sum(abs(a - b) >= CENT for a, b in zip(given, expected, strict=True))
    return False, (
        f"{wrong} of the {len(trips)} fares differ from what version 1 predicts: predict the rows of `trips` "
        f"in their order with models:/{fare}/1."
    )


def check_03_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The Ridge's held-out rmse logged by the training run of the Ridge model's version 1."""
    ridge = namespace().models["ridge"]
    versions = {v.version: v for v in _versions(client, ridge)}
    if "1" not in versions:
        return False, f"{ridge} has no version 1 yet: run notebook 02 first."
    if answer is None:
        return False, (
            f"get version 1 of {ridge} with MlflowClient().get_model_version, open its run with "
            "get_run(run_id) and read the Ridge's rmse among the run's metrics."
        )
    try:
        given = float(answer)
    except (TypeError, ValueError):
        return False, f"`ridge_rmse` should be a number; got {answer!r}."
    metrics = client.get_run(versions["1"].run_id or "").data.metrics
    wanted = metrics.get("ridge_regression_rmse", metrics.get("rmse"))
    if wanted is not None and abs(given - wanted) <= 1e-9 * wanted:
        return True, f"the training run of {ridge} version 1 logged rmse {wanted:.4f} for the Ridge."
    if any(
        abs(given - value) <= 1e-9 * abs(value)
        for key, value in metrics.items()
        if key != "ridge_regression_rmse"
    ):
        return (
            False,
            "that is another of the run's metrics: the run trained two models, read the Ridge's rmse.",
        )
    return False, f"that is not a metric of the run behind {ridge} version 1: follow that version's run_id."
