"""The checks of the exercises of notebooks 01-03: train with another alpha, register by hand, cluster trips,
find the best run.

Each ``check_NN_N(answer, client)`` returns ``(passed, message)``; :func:`labhelpers.course.exercises.check`
calls them by number and turns that into a :class:`~labhelpers.course.exercises.Verdict`. A hint says what
is still missing, never the answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labhelpers.core.learner import namespace
from labhelpers.core.registry_client import RegistryClient

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

    from labhelpers.core.learner import Namespace

#: Exercise 01-1: the Ridge regularisation asked for.
ALPHA_ASKED = 10.0
#: Exercise 03-1: trips between landmarks, (pickup, dropoff) as (latitude, longitude). Chosen to fall in
#: different clusters, so that swapped coordinates or an all-zero trip give other answers than the right one.
CLUSTER_TRIPS = {
    "JFK -> Times Square": ((40.6413, -73.7781), (40.7580, -73.9855)),
    "Times Square -> JFK": ((40.7580, -73.9855), (40.6413, -73.7781)),
    "LaGuardia -> Times Square": ((40.7769, -73.8740), (40.7580, -73.9855)),
    "Times Square -> Wall Street": ((40.7580, -73.9855), (40.7060, -74.0086)),
    "Wall Street -> Harlem": ((40.7060, -74.0086), (40.8116, -73.9465)),
}
_CLUSTER_COLUMNS = ("pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude")


def check_01_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """A run folder whose Ridge was trained with alpha = ALPHA_ASKED, its files matching their checksums."""
    from labhelpers.core.artifacts import MANIFEST, read_manifest, sha256_file

    if not answer:
        return (
            False,
            f"pass the run folder you trained into, e.g. check('01-1', my_run); Ridge alpha {ALPHA_ASKED}.",
        )
    folder = Path(answer) / "supervised" if (Path(answer) / "supervised").is_dir() else Path(answer)
    metrics = folder / "supervised_metrics.json"
    if not metrics.is_file() or not (folder / MANIFEST).is_file():
        return False, f"{folder.name} holds no supervised training output: train with run_supervised into it."
    alpha = json.loads(metrics.read_text()).get("parameters", {}).get("alpha")
    if alpha != ALPHA_ASKED:
        return False, f"the Ridge in {folder.name} was trained with alpha={alpha}; the task asks for another."
    recorded = read_manifest(folder).get("artifacts", {})
    changed = [path for path, digest in recorded.items() if sha256_file(folder / path) != digest]
    if changed:
        return False, f"{', '.join(changed)} no longer match their checksums: train into a new folder."
    return True, f"Ridge trained with alpha={alpha}; its files match their checksums."


def _newest(client: RegistryClient, name: str) -> ModelVersion | None:
    versions = client.search_model_versions(f"name='{name}'")
    return max(versions, key=lambda v: int(v.version)) if versions else None


def _course_owner(client: RegistryClient) -> str:
    from labhelpers.core.provenance import default_owner

    course = _newest(client, namespace().models["linear"])
    owner = (course.tags or {}).get("owner") if course else None
    return str(owner) if owner else default_owner()


def _registered_by_hand(client: RegistryClient, names: Namespace) -> ModelVersion | None:
    """The newest version of the teaching model registered in notebook 02 (its run is in 02's experiment).

    Notebook 03 registers a version of the same name from a course run (``runs:/``): not the one 02-1 means.
    """
    experiment = client.get_experiment_by_name(names.by_hand_experiment)
    versions = sorted(client.search_model_versions(f"name='{names.by_hand}'"), key=lambda v: -int(v.version))
    for mv in versions:
        run = client.get_run(mv.run_id) if (experiment and mv.run_id) else None
        if run is None or experiment is None or run.info.experiment_id == experiment.experiment_id:
            return mv
    return versions[0] if versions else None


def check_02_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The by-hand version of notebook 02 carries the version tag ``owner``, the same as the course's."""
    by_hand = namespace().by_hand
    mv = _registered_by_hand(client, namespace())
    if mv is None:
        return False, f"no version of {by_hand} yet: run section 2 of notebook 02 first."
    wanted = _course_owner(client)
    owner = (mv.tags or {}).get("owner")
    if owner == wanted:
        return (
            True,
            f"{by_hand} version {mv.version} is owned by {owner!r}, like the course's versions.",
        )
    if owner:
        return (
            False,
            f"version {mv.version} has owner {owner!r}, not the course's owner (the `owner` parameter).",
        )
    run_tags = client.get_run(mv.run_id).data.tags if mv.run_id else {}
    if "owner" in run_tags:
        return (
            False,
            f"the run of version {mv.version} has an owner tag, the version has none: "
            "versions keep their own tags.",
        )
    return False, f"{by_hand} version {mv.version} has no `owner` version tag yet."


def cluster_trips() -> pd.DataFrame:
    """Exercise 03-1's trips: one row per trip (named by its index), the clustering's four input columns."""
    import pandas as pd

    rows = {name: [*pickup, *dropoff] for name, (pickup, dropoff) in CLUSTER_TRIPS.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(_CLUSTER_COLUMNS))


def _clusters(answer: Any) -> list[int] | None:
    """``answer`` as a list of whole cluster numbers, or None when it is not one."""
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__len__"):
        return None
    try:
        numbers = [float(value) for value in answer]
    except (TypeError, ValueError):
        return None
    return [int(n) for n in numbers] if all(n.is_integer() for n in numbers) else None


def check_03_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The clusters version 1 of the KMeans model predicts for each of :func:`cluster_trips`, in order."""
    import mlflow.pyfunc

    kmeans, trips = namespace().models["kmeans"], cluster_trips()
    if answer is None:
        return False, (
            f"load models:/{kmeans}/1 with mlflow.pyfunc.load_model, predict the clusters of `trips` (the "
            f"frame as it is) and put them in `answer`: {len(trips)} numbers, one per trip, in order."
        )
    given = _clusters(answer)
    if given is None or len(given) != len(trips):
        return False, (
            f"`answer` should hold {len(trips)} cluster numbers, one per row of `trips` in order; "
            f"got {answer!r}."
        )
    model = mlflow.pyfunc.load_model(f"models:/{kmeans}/1")
    expected = [int(c) for c in model.predict(trips)]
    if given == expected:
        return True, f"models:/{kmeans}/1 puts the {len(trips)} trips in clusters {expected}."
    lat_lon = {"pickup_latitude": "pickup_longitude", "dropoff_latitude": "dropoff_longitude"}
    swapped = trips.rename(columns={**lat_lon, **{v: k for k, v in lat_lon.items()}})
    outside = (swapped[list(_CLUSTER_COLUMNS)], trips * 0)  # the two ways a trip lands outside New York
    if any(given == [int(c) for c in model.predict(frame)] for frame in outside):
        return False, (
            "those are the clusters of trips outside New York (latitude and longitude swapped, or all "
            "zeros): in New York a latitude is near 40.7 and a longitude near -74; pass `trips` as it is."
        )
    wrong = sum(a != b for a, b in zip(given, expected, strict=True))
    return False, (
        f"{wrong} of the {len(trips)} clusters differ from what version 1 predicts: predict the rows of "
        f"`trips` in their order with models:/{kmeans}/1, not another version."
    )


def check_03_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The id of the Ridge registration run with the lowest rmse, in the course's experiment."""
    names = namespace()
    experiment = client.get_experiment_by_name(names.experiment)
    runs = client.search_runs([experiment.experiment_id], max_results=5000) if experiment else []
    finished = {run.info.run_id: run for run in runs if run.info.status == "FINISHED"}
    rmse = {
        run_id: run.data.metrics["rmse"]
        for run_id, run in finished.items()
        if run.data.tags.get("model_type") == "Ridge" and "rmse" in run.data.metrics
    }
    if not rmse:
        return False, f"{names.experiment} holds no Ridge registration run yet: run notebook 02 first."
    if answer is None:
        return False, (
            "search the registration runs with mlflow.search_runs, keep those whose `model_type` tag is "
            "'Ridge', and put the `run_id` of the one with the lowest `metrics.rmse` in `best_ridge_run`."
        )
    given = str(getattr(answer, "run_id", answer)).strip()
    if given not in finished:
        return False, f"{names.experiment} has no finished run {given!r}: pass a `run_id` from the search."
    if given not in rmse:
        kind = finished[given].data.tags.get("model_type", "another model")
        return False, f"that run registered a {kind}; the task asks for the Ridge model's runs."
    if rmse[given] > min(rmse.values()) + 1e-12:
        return False, (
            f"that Ridge run has rmse {rmse[given]:.4g}; another Ridge run scores lower: order by "
            "`metrics.rmse`, lowest first."
        )
    return True, f"the Ridge registration run with the lowest rmse, {rmse[given]:.4g} dollars."
