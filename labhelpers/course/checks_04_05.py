"""The checks of the exercises of notebooks 04-05: best version, pin, gate, a served trip, production by URI.

Each ``check_NN_N(answer, client)`` returns ``(passed, message)``; :func:`labhelpers.course.exercises.check`
calls them by number and turns that into a :class:`~labhelpers.course.exercises.Verdict`. A hint says what
is still missing, never the answer: no hint names the version in production or suggests a form (``@latest``,
``@3``) that production must not use.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from labhelpers.foundation.config import SAMPLE_REQUEST
from labhelpers.foundation.errors import RegistryError
from labhelpers.foundation.learner import namespace

if TYPE_CHECKING:
    import pandas as pd

    from labhelpers.registry.client import RegistryClient
    from labhelpers.serving.inference import ServedAnswer


def check_04_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
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


def check_04_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
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


def _trip_row(trip: Any) -> tuple[pd.DataFrame | None, str]:
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


def _served(fare: Any) -> tuple[ServedAnswer | None, str]:
    """``fare`` as a served answer once proved (the server's log holds its answer id), or a hint.

    ``fare`` is what ``inference.invoke(...)`` returned, or the response of ``requests.post`` to the server.
    """
    import requests

    from labhelpers.foundation.errors import ServerError
    from labhelpers.serving.inference import ServedAnswer, served_answer

    if isinstance(fare, requests.Response):
        try:
            fare = served_answer(fare)
        except ServerError as error:
            return None, str(error)
    if not isinstance(fare, ServedAnswer):
        return None, (
            "`my_fare` must be what `inference.invoke(...)` returned, unchanged: that answer carries the id "
            "the server gave it (a number computed here, or picked out of the list, carries none). With "
            "`requests.post`, keep the response itself: its `x-lab-answer-id` header carries the id."
        )
    if fare.logged() != list(fare):
        return None, (
            f"the inference server's log ({fare.log_path.name}) has no answer {fare.answer_id or '(no id)'} "
            "with these fares: send `my_trip` to the running server again and keep its answer."
        )
    return fare, ""


def check_05_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
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
    if served.model_uri != uri:
        return False, f"that server serves {served.model_uri}; production is {uri}: serve the pinned version."
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


#: 04-3's test cases, as multiples of the mean-fare baseline's rmse on the held-out trips: (what they are,
#: candidate's rmse, production's rmse, whether the team's stricter gate passes the candidate). The rule:
#: under the course's floor, and at least 1 % better than production (no longer merely not worse).
GATE_CASES = (
    ("a model that learned little, against a production version still weaker", 0.9, 0.95, False),
    ("a version just over half the baseline's error, 10 % better than production", 0.55, 0.62, False),
    ("a version 10 % better than production", 0.3, 0.3333, True),
    ("a version 2 % better than production", 0.294, 0.3, True),
    ("a version equal to production", 0.3, 0.3, False),
    ("a version 0.5 % better than production", 0.2985, 0.3, False),
    ("a version 1 % worse than production", 0.303, 0.3, False),
)


def check_04_3(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The team's stricter production gate, ``{"rmse": MetricThreshold(...)}``: the floor, 1 % better."""
    from mlflow.models import MetricThreshold

    from labhelpers.registry.validation import decide, mean_baseline_rmse
    from labhelpers.training.held_out import held_out_trips

    if answer is None:
        return False, "put your gate in `my_gate`: a dict from the metric's name to a `MetricThreshold`."
    if not isinstance(answer, dict) or not isinstance(answer.get("rmse"), MetricThreshold):
        return False, '`my_gate` should be a dict whose key "rmse" holds a `MetricThreshold`.'
    if set(answer) != {"rmse"}:
        others = ", ".join(sorted(str(key) for key in answer if key != "rmse"))
        return False, f"the rule judges rmse alone; `my_gate` also bounds {others}."
    if answer["rmse"].greater_is_better is not False:
        return False, "your threshold treats a higher rmse as better; for an error, lower is better."
    baseline = mean_baseline_rmse(held_out_trips()[0])
    for what, candidate, production, right in GATE_CASES:
        if decide(answer, {"rmse": candidate * baseline}, {"rmse": production * baseline}) != right:
            verdict = "passed" if not right else "refused"
            return False, f"your gate {verdict} {what} (rmse {candidate * baseline:.2f} against "
            f"{production * baseline:.2f}; the mean-fare baseline scores {baseline:.2f})."
    return True, f"your gate decides all {len(GATE_CASES)} cases as the team's rule says."


def check_05_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """A ``models:/`` URI that loads the version in production, and its fares for the request's trips."""
    import mlflow.pyfunc

    from labhelpers.registry.promotion import current_production
    from labhelpers.registry.references import resolve

    uri, fares = answer if isinstance(answer, tuple) and len(answer) == 2 else (answer, None)
    if not uri:
        return False, "put the models:/ URI that loads the production version in `production_uri`."
    text = str(uri).strip()
    if not text.startswith("models:/"):
        return False, "mlflow.pyfunc.load_model takes a models:/ URI here (azureml: is the YAML's form)."
    linear = namespace().models["linear"]
    production = current_production(linear, client)
    if production is None:
        return False, f"{linear} has no version in production: run notebook 04 first."
    try:
        named = resolve(text, client)
    except RegistryError as error:
        return False, str(error)
    if named.name != production.name or str(named.version) != str(production.version):
        return False, f"{text} names version {named.version} of {named.name}, which is not in production."
    if fares is None:
        return (
            False,
            "load the model from that URI and put its predictions for `trips` in `production_fares`.",
        )
    sample = json.loads(SAMPLE_REQUEST.read_text())["input_data"]
    import pandas as pd

    trips = pd.DataFrame(sample["data"], columns=sample["columns"])
    expected = mlflow.pyfunc.load_model(f"models:/{production.name}/{production.version}").predict(trips)
    given = [float(fare) for fare in fares] if hasattr(fares, "__len__") else []
    if len(given) != len(expected) or not all(
        math.isclose(a, float(b), rel_tol=1e-6, abs_tol=1e-6) for a, b in zip(given, expected, strict=True)
    ):
        return False, "`production_fares` is not what that version predicts for `trips`, one fare per trip."
    return True, f"{text} loads version {production.version}, the one in production, and its fares match."
