"""The "Your turn" tasks at the end of notebooks 01-05, and the checks that say whether they are done.

``check("02-1")`` looks at the learner's own registry (or at the answer passed to it) and returns a
:class:`Verdict`: ``correct`` with what was verified, or ``not yet`` with a hint that says what is still
missing, never the answer itself. Every check fails on a registry the learner has not touched. Reference
solutions for instructors are in ``solutions/`` at the project root, outside the course.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from labhelpers.core.config import SAMPLE_REQUEST
from labhelpers.core.errors import LabError, RegistryError
from labhelpers.core.learner import namespace
from labhelpers.core.registry_client import RegistryClient

_log = logging.getLogger(__name__)

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
#: Exercise 05-1: the request whose trips the learner's own trip must differ from.


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``bool(verdict)`` is whether the task is done; printing it says why."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{self.exercise}: {'correct' if self.passed else 'not yet'}: {self.message}"

    __repr__ = __str__


def _client(client: RegistryClient | None) -> RegistryClient:
    if client is not None:
        return client
    from mlflow import MlflowClient

    return MlflowClient()


def _check_01_1(answer, client) -> tuple[bool, str]:
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


def _newest(client: RegistryClient, name: str):
    versions = client.search_model_versions(f"name='{name}'")
    return max(versions, key=lambda v: int(v.version)) if versions else None


def _course_owner(client: RegistryClient) -> str:
    from labhelpers.core.provenance import default_owner

    course = _newest(client, namespace().models["linear"])
    owner = (course.tags or {}).get("owner") if course else None
    return str(owner) if owner else default_owner()


def _registered_by_hand(client, names):
    """The newest version of the teaching model registered in notebook 02 (its run is in 02's experiment).

    Notebook 03 registers a version of the same name from a course run (``runs:/``): not the one 02-1 means.
    """
    experiment = client.get_experiment_by_name(names.by_hand_experiment)
    versions = sorted(client.search_model_versions(f"name='{names.by_hand}'"), key=lambda v: -int(v.version))
    for mv in versions:
        run = client.get_run(mv.run_id) if (experiment and mv.run_id) else None
        if run is None or run.info.experiment_id == experiment.experiment_id:
            return mv
    return versions[0] if versions else None


def _check_02_1(answer, client) -> tuple[bool, str]:
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


def cluster_trips():
    """Exercise 03-1's trips: one row per trip (named by its index), the clustering's four input columns."""
    import pandas as pd

    rows = {name: [*pickup, *dropoff] for name, (pickup, dropoff) in CLUSTER_TRIPS.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(_CLUSTER_COLUMNS))


def _clusters(answer) -> list[int] | None:
    """``answer`` as a list of whole cluster numbers, or None when it is not one."""
    if isinstance(answer, (str, bytes, dict)) or not hasattr(answer, "__len__"):
        return None
    try:
        numbers = [float(value) for value in answer]
    except (TypeError, ValueError):
        return None
    return [int(n) for n in numbers] if all(n.is_integer() for n in numbers) else None


def _check_03_1(answer, client) -> tuple[bool, str]:
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


def _check_03_2(answer, client) -> tuple[bool, str]:
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


def _check_04_1(answer, client) -> tuple[bool, str]:
    """The version of the linear fare model with the lowest recorded rmse (ties: any of them)."""
    linear = namespace().models["linear"]
    versions = client.search_model_versions(f"name='{linear}'")
    rmse = {str(v.version): float((v.tags or {}).get("rmse", "nan")) for v in versions}
    rmse = {version: value for version, value in rmse.items() if not math.isnan(value)}
    if not rmse:
        return False, f"{linear} has no version with an rmse tag: run notebooks 02 and 04 first."
    if answer is None:
        return (
            False,
            "search the versions of the fare model and put the number with the lowest rmse in `best`.",
        )
    given = str(getattr(answer, "version", answer))
    if given not in rmse:
        return (
            False,
            f"{linear} has no version {given}; its versions: {', '.join(sorted(rmse, key=int))}.",
        )
    best = min(rmse.values())
    if rmse[given] > best + 1e-9:
        latest = max(rmse, key=int)
        note = " That is @latest, which is no guarantee of quality." if given == latest else ""
        return False, f"version {given} has rmse {rmse[given]:.4g}; another version scores lower.{note}"
    return True, f"version {given} has the lowest rmse, {best:.4g} dollars."


#: The shape of 04-2's answer, named in its hints: a version number after a colon, never a label.
PIN_SHAPE = "azureml:NAME:N (N: the number of the version in production now)"


def _pin_refusal(text: str) -> str:
    """The hint for a reference that parse_reference refuses: the shape to use, never another label."""
    if text.startswith("azureml:") and "@" in text:
        label = text.rsplit("@", 1)[1]
        kind = "a version number" if label.isdigit() else f"the label {label!r}"
        return (
            f"Azure ML reads what follows '@' as a label, and its only label is latest, so {kind} there "
            f"is refused. Production pins a version number after a colon: {PIN_SHAPE}."
        )
    return f"{text!r} is no model reference; production pins {PIN_SHAPE}."


def _check_04_2(answer, client) -> tuple[bool, str]:
    """An ``azureml:NAME:N`` reference naming the version in production now."""
    from labhelpers.registry.promotion import current_production
    from labhelpers.registry.references import parse_reference

    if not answer:
        return False, f"put the reference production should pin in `my_pin`: {PIN_SHAPE}."
    text = str(answer).strip()
    try:
        ref = parse_reference(text)
    except RegistryError:  # its own "Did you mean" may name @latest or the number typed: not production's
        return False, _pin_refusal(text)
    if not text.startswith("azureml:"):
        return False, f"a deployment YAML names a model in the Azure ML form, {PIN_SHAPE}."
    if ref.version is None:
        return False, f"@{ref.label} moves with every registration or promotion; production pins {PIN_SHAPE}."
    fare_model = namespace().models["linear"]
    production = current_production(ref.name, client)
    if production is None and ref.name != fare_model:
        return (
            False,
            f"{ref.name} has no version in production; the fare model is {fare_model} (`model_name`).",
        )
    if production is None:
        return False, f"{ref.name} has no version in production yet: run section 4 (promotion) first."
    if ref.version != str(production.version):
        return False, f"version {ref.version} is not the one in production; ask the registry which one is."
    return True, f"{answer} names the production version, and only it."


def _trip_row(trip):
    """``trip`` as a one-row frame in the sample request's column order, or a hint saying what is wrong."""
    import pandas as pd

    sample = json.loads(SAMPLE_REQUEST.read_text())["input_data"]
    if not isinstance(trip, dict):
        return None, "`my_trip` should be a dict of column -> value, like one row of `trips`."
    missing = [column for column in sample["columns"] if column not in trip]
    if missing:
        return None, f"`my_trip` lacks {', '.join(missing)}: the model needs every column of the request."
    try:
        row = [float(trip[column]) for column in sample["columns"]]
    except (TypeError, ValueError):
        return None, "every value of `my_trip` should be a number."
    if any(all(math.isclose(a, b) for a, b in zip(row, old, strict=True)) for old in sample["data"]):
        return None, "that trip is in the sample request already: change at least one value."
    return pd.DataFrame([row], columns=sample["columns"]), ""


def _served(fare) -> tuple[list | None, str]:
    """The predictions of ``fare`` once proved served (the server's log holds its answer id), or a hint."""
    from labhelpers.serving.inference import ServedAnswer

    if not isinstance(fare, ServedAnswer):
        return None, (
            "`my_fare` must be what `inference.invoke(...)` returned, unchanged: that answer carries the id "
            "the server gave it (a number computed here, or picked out of the list, carries none)."
        )
    if fare.logged() != list(fare):
        return None, (
            f"the inference server's log ({fare.log_path.name}) has no answer {fare.answer_id or '(no id)'} "
            "with these fares: send `my_trip` to the running server again and keep its answer."
        )
    return list(fare), ""


def _check_05_1(answer, client) -> tuple[bool, str]:
    """A trip of the learner's own, and the fare the inference server answered for it (proved by its log)."""
    import mlflow.pyfunc

    from labhelpers.registry.promotion import current_production

    trip, fare = answer if isinstance(answer, tuple) and len(answer) == 2 else (answer, None)
    if trip is None:
        return False, "build a trip of your own in `my_trip`: a dict with the columns of `trips`."
    frame, hint = _trip_row(trip)
    if frame is None:
        return False, hint
    if fare is None:
        return False, "send `my_trip` with `inference.invoke(...)` and put the server's answer in `my_fare`."
    served, hint = _served(fare)
    if served is None:
        return False, hint
    linear = namespace().models["linear"]
    production = current_production(linear, client)
    if production is None:
        return False, f"{linear} has no version in production: run notebook 04 first."
    uri = f"models:/{production.name}/{production.version}"
    if fare.model_uri != uri:
        return False, f"that server serves {fare.model_uri}; production is {uri}: serve the pinned version."
    if len(served) != 1:
        return False, f"the server answered {len(served)} fares: send `my_trip` alone, as one row."
    given = float(served[0])
    expected = float(mlflow.pyfunc.load_model(uri).predict(frame)[0])
    if not math.isclose(given, expected, rel_tol=1e-6, abs_tol=1e-6):
        return (
            False,
            f"the server answered {given:.4g} for another trip than `my_trip`: send that trip.",
        )
    return True, f"the inference server answered {given:.2f} dollars for your trip, what {uri} predicts."


CHECKS: dict[str, Callable] = {
    "01-1": _check_01_1,
    "02-1": _check_02_1,
    "03-1": _check_03_1,
    "03-2": _check_03_2,
    "04-1": _check_04_1,
    "04-2": _check_04_2,
    "05-1": _check_05_1,
}


def check(exercise: str, answer=None, *, client: RegistryClient | None = None) -> Verdict:
    """Say whether a "Your turn" task is done, with a hint when it is not.

    Args:
        exercise: The task's number, e.g. ``"02-1"`` (the notebook, then the task).
        answer: The task's answer, when it asks for one (a folder, a number, a reference).
        client: An ``MlflowClient`` (default: one for the current tracking URI).

    Returns:
        The verdict; it prints as ``02-1: correct: ...`` or ``02-1: not yet: <hint>``.

    Raises:
        LabError: No task has that number.
    """
    if exercise not in CHECKS:
        raise LabError(f"No exercise {exercise!r}; the exercises are {', '.join(CHECKS)}.")
    on_files = exercise == "01-1"  # checked on training files, before anything is registered
    registry = client if on_files else _client(client)
    try:
        passed, message = CHECKS[exercise](answer, registry)
    except LabError as error:  # e.g. a checksum that no longer matches: a hint, not a traceback
        passed, message = False, str(error)
    if passed and registry is not None and not on_files:
        record_pass(registry, exercise)
    return Verdict(exercise, passed, message)


#: The tag on the learner's fare model that says an exercise was passed: ``exercise.02-1 = passed``.
PASSED_TAG = "exercise.{}"


def record_pass(client: RegistryClient, exercise: str) -> bool:
    """Tag the learner's fare model with the passed exercise, so the instructor's progress table shows it.

    Only the registry is read for progress (it works the same on a classroom server and on Azure ML), so
    the pass is written there. Never fails a check: a registry that refuses the tag loses only the record.
    """
    name = namespace().models["linear"]
    try:
        client.set_registered_model_tag(name, PASSED_TAG.format(exercise), "passed")
        return True
    except Exception as error:  # no such model yet, no permission, a registry without model tags
        _log.info("exercise %s passed but not recorded on %s: %s", exercise, name, error)
        return False
