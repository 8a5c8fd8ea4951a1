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

from labhelpers.core.config import PROJECT_ROOT
from labhelpers.core.errors import LabError, RegistryError
from labhelpers.core.learner import BY_HAND, namespace
from labhelpers.core.registry_client import RegistryClient

_log = logging.getLogger(__name__)

#: The model notebook 02 registers by hand, without a learner (with one: ``namespace().by_hand``).
TEACHING_MODEL = BY_HAND
#: Exercise 01-1: the Ridge regularisation asked for.
ALPHA_ASKED = 10.0
#: Exercise 03-1: a trip from JFK airport to Times Square, in the order of the clustering's features.
JFK_TO_TIMES_SQUARE = {
    "pickup_latitude": 40.6413,
    "pickup_longitude": -73.7781,
    "dropoff_latitude": 40.7580,
    "dropoff_longitude": -73.9855,
}
#: Exercise 05-1: the request whose trips the learner's own trip must differ from.
SAMPLE_REQUEST = PROJECT_ROOT / "ML" / "deployment" / "sample-request.json"


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


def _check_02_1(answer, client) -> tuple[bool, str]:
    """The newest by-hand version carries the version tag ``owner``, the same owner as the course's."""
    by_hand = namespace().by_hand
    mv = _newest(client, by_hand)
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


def _check_03_1(answer, client) -> tuple[bool, str]:
    """The cluster version 1 of the KMeans model gives the trip from JFK to Times Square."""
    import mlflow.pyfunc
    import pandas as pd

    if answer is None:
        return False, "load the KMeans model's version 1 with mlflow.pyfunc and put its cluster in `answer`."
    trip = pd.DataFrame([JFK_TO_TIMES_SQUARE])
    kmeans = namespace().models["kmeans"]
    model = mlflow.pyfunc.load_model(f"models:/{kmeans}/1")
    cluster = int(model.predict(trip)[0])
    try:
        given = int(answer[0] if hasattr(answer, "__len__") and not isinstance(answer, str) else answer)
    except (TypeError, ValueError):
        return False, f"`answer` should be a cluster number, got {answer!r}."
    if given != cluster:
        return False, (
            f"cluster {given} is not what version 1 predicts: load models:/{kmeans}/1 and pass "
            "one row with the columns of its input example."
        )
    return True, f"models:/{kmeans}/1 puts the trip from JFK to Times Square in cluster {cluster}."


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


def _check_04_2(answer, client) -> tuple[bool, str]:
    """An ``azureml:NAME:N`` reference naming the version in production now."""
    from labhelpers.registry.promotion import current_production
    from labhelpers.registry.references import parse_reference

    if not answer:
        return False, "put the reference production should pin in `my_pin`."
    try:
        ref = parse_reference(str(answer))
    except RegistryError as refusal:
        return False, f"refused: {refusal}"
    if not str(answer).startswith("azureml:"):
        return False, "a deployment YAML names a model in the Azure ML form, azureml:NAME:N."
    if ref.version is None:
        return False, f"@{ref.label} moves with every registration or promotion; production pins a number."
    production = current_production(ref.name, client)
    if production is None:
        return False, f"{ref.name} has no version in production: promote one first (section 3)."
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


def _check_05_1(answer, client) -> tuple[bool, str]:
    """A trip of the learner's own, and the fare the production version predicts for it."""
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
    linear = namespace().models["linear"]
    production = current_production(linear, client)
    if production is None:
        return False, f"{linear} has no version in production: run notebook 04 first."
    try:
        given = float(fare[0] if isinstance(fare, (list, tuple)) else fare)
    except (TypeError, ValueError, IndexError):
        return False, f"`my_fare` should be the served answer, a fare in dollars; got {fare!r}."
    uri = f"models:/{production.name}/{production.version}"
    expected = float(mlflow.pyfunc.load_model(uri).predict(frame)[0])
    if not math.isclose(given, expected, rel_tol=1e-6, abs_tol=1e-6):
        return (
            False,
            f"{given:.4g} is not what the production version predicts for `my_trip`: send that trip.",
        )
    return True, f"{uri} (production) predicts {expected:.2f} dollars for your trip, as the server answered."


CHECKS: dict[str, Callable] = {
    "01-1": _check_01_1,
    "02-1": _check_02_1,
    "03-1": _check_03_1,
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
