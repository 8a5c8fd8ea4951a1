"""The checks of the "Your turn" tasks that need no server: answers, folders and references.

The checks that read a registry run against a real course run in tests/notebooks/test_course.py.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from labhelpers.course.exercises import check
from labhelpers.foundation.errors import LabError
from labhelpers.foundation.learner import namespace
from labhelpers.serving.inference import ServedAnswer
from tests.unit.fakes import FakeRegistry

FARE_MODEL = namespace().models["linear"]


@pytest.fixture
def empty_registry(fake_registry):
    """A registry where no version of any model is in production."""
    return fake_registry()


@pytest.fixture
def after_04(fake_registry):
    """The fare model after notebook 04: production at version 2, not the newest.

    Versions 1-4: 1 archived, 2 in production (rolled back to), 3 archived, 4 the worse one (rejected).
    """
    registry = fake_registry()
    states = {
        "1": ("archived", "3.1"),
        "2": ("production", "2.9"),
        "3": ("archived", "2.95"),
        "4": ("rejected", "7.5"),
    }
    registry.add(FARE_MODEL, *({"lifecycle": state, "rmse": rmse} for state, rmse in states.values()))
    return registry


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (None, "search the versions of the fare model and put the number with the lowest rmse in `best`"),
        ("9", f"{FARE_MODEL} has no version 9; its versions: 1, 2, 3, 4."),
        ("4", "version 4 has rmse 7.5; another version scores lower. That is @latest"),
        ("1", "version 1 has rmse 3.1; another version scores lower."),
    ],
)  # fmt: skip
def test_04_1_hints_say_what_is_wrong_and_never_name_the_best_version(answer, hint, after_04):
    verdict = check("04-1", answer, client=after_04)
    assert not verdict and hint in str(verdict)
    assert "version 2" not in verdict.message and "2.9" not in verdict.message  # the answer stays hidden
    assert check("04-1", "2", client=after_04)


def test_04_1_without_rmse_tags_says_which_notebooks_to_run(empty_registry):
    verdict = check("04-1", "2", client=empty_registry)
    assert not verdict and "run notebooks 02 and 04 first" in str(verdict)


PIN_SHAPE = "azureml:NAME:N (N: the number of the version in production now)"
AFTER_COLON = f"refused. Production pins a version number after a colon: {PIN_SHAPE}"
MOVES = f"moves with every registration or promotion; production pins {PIN_SHAPE}"
AZURE_FORM = f"a deployment YAML names a model in the Azure ML form, {PIN_SHAPE}"


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (None, f"put the reference production should pin in `my_pin`: {PIN_SHAPE}"),
        (f"azureml:{FARE_MODEL}@3", f"a version number there is {AFTER_COLON}"),
        (f"azureml:{FARE_MODEL}@production", f"the label 'production' there is {AFTER_COLON}"),
        (f"azureml:{FARE_MODEL}@latest", f"@latest {MOVES}"),
        (f"azureml:{FARE_MODEL}:latest", f"@latest {MOVES}"),
        (f"models:/{FARE_MODEL}/2", AZURE_FORM),
        (f"models:/{FARE_MODEL}@production", AZURE_FORM),
        (f"{FARE_MODEL}:2", AZURE_FORM),
        (f"azureml:{FARE_MODEL}/2", f"is no model reference; production pins {PIN_SHAPE}"),
        ("azureml:taxi-fare-ridge-regression:2", f"the fare model is {FARE_MODEL} (`model_name`)"),
        (f"azureml:{FARE_MODEL}:4", "version 4 is not the one in production; ask the registry which one is"),
    ],
)  # fmt: skip
def test_04_2_hints_lead_to_the_pinned_number_and_never_suggest_a_wrong_pin(answer, hint, after_04):
    verdict = check("04-2", answer, client=after_04)
    assert not verdict
    assert str(verdict).startswith("04-2: not yet: ") and hint in str(verdict)
    wrong = ["@latest?", "Did you mean", ":3", ":4'", "section 3"]  # what the old hints suggested
    assert not [text for text in wrong if text in verdict.message], verdict.message
    assert check("04-2", f"azureml:{FARE_MODEL}:2", client=after_04)


def test_04_2_before_any_promotion_points_to_the_promotion_section(empty_registry):
    verdict = check("04-2", f"azureml:{FARE_MODEL}:2", client=empty_registry)
    assert not verdict and "run section 4 (promotion) first" in str(verdict)


def _sample_trip() -> dict:
    from labhelpers.serving.inference import read_sample_request

    return read_sample_request().iloc[0].to_dict()


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        ((None, None), "build a trip of your own in `my_trip`"),
        (("a trip", None), "should be a dict"),
        (({"trip_distance": 3.0}, None), "`my_trip` lacks duration_min, pickup_hour"),
        ((_sample_trip(), [12.5]), "in the sample request already"),
        (({**_sample_trip(), "trip_distance": "far"}, None), "should be a number"),
        (({**_sample_trip(), "trip_distance": 9.0}, None), "send `my_trip` with `inference.invoke(...)`"),
        (({**_sample_trip(), "trip_distance": 9.0}, [30.0]), "`my_fare` must be what `inference.invoke"),
    ],
)  # fmt: skip
def test_05_1_wants_a_trip_of_ones_own_and_the_served_answer(answer, hint, fake_registry):
    verdict = check("05-1", answer, client=fake_registry())  # no version of any model in production
    assert not verdict
    assert str(verdict).startswith("05-1: not yet: ") and hint in str(verdict)


IN_PROCESS_FARE = 31.25  # what the stand-in production version predicts for every trip


@pytest.fixture
def production_predicts(monkeypatch):
    """``mlflow.pyfunc.load_model`` loads a stand-in for production (every trip: IN_PROCESS_FARE)."""
    import mlflow.pyfunc

    loaded = []

    def load_model(uri):
        loaded.append(uri)
        return SimpleNamespace(predict=lambda frame: [IN_PROCESS_FARE] * len(frame))

    monkeypatch.setattr(mlflow.pyfunc, "load_model", load_model)
    return loaded


def _served(tmp_path, fares, logged=None, model_uri=f"models:/{FARE_MODEL}/2", answer_id="5f1d" * 8):
    """An answer as ``InferenceServer.invoke`` returns it, its server's log holding ``logged``."""
    log = tmp_path / "inference.log"
    line = f"2026-12-05 03:00:00,000 I [77] azmlinfsrv.print - answer {answer_id}: {logged}\n"
    log.write_text("" if logged is None else line)
    return ServedAnswer(fares, answer_id, model_uri, log)


def test_05_1_refuses_a_fare_computed_in_process_even_when_it_is_right(
    production_predicts, tmp_path, after_04
):
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    for fare in ([IN_PROCESS_FARE], IN_PROCESS_FARE, _served(tmp_path, [IN_PROCESS_FARE])[0]):
        verdict = check("05-1", (my_trip, fare), client=after_04)
        assert not verdict and "must be what `inference.invoke(...)` returned, unchanged" in str(verdict)
    unlogged = _served(tmp_path, [IN_PROCESS_FARE], logged=None)  # an answer no server logged
    verdict = check("05-1", (my_trip, unlogged), client=after_04)
    assert not verdict and "log (inference.log) has no answer 5f1d" in str(verdict)
    edited = _served(tmp_path, [IN_PROCESS_FARE], logged=[12.0])  # the server answered another fare
    assert "has no answer" in check("05-1", (my_trip, edited), client=after_04).message


@pytest.mark.parametrize(
    ("served", "hint"),
    [
        (([IN_PROCESS_FARE], f"models:/{FARE_MODEL}/3"), f"/3; production is models:/{FARE_MODEL}/2"),
        (([IN_PROCESS_FARE, 9.0], f"models:/{FARE_MODEL}/2"), "answered 2 fares: send `my_trip` alone"),
        (([12.0], f"models:/{FARE_MODEL}/2"), "the server answered 12 for another trip than `my_trip`"),
    ],
)  # fmt: skip
def test_05_1_hints_for_a_served_answer_that_is_not_for_my_trip(
    production_predicts, tmp_path, served, hint, after_04
):
    fares, uri = served
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    verdict = check("05-1", (my_trip, _served(tmp_path, fares, fares, uri)), client=after_04)
    assert not verdict and hint in str(verdict)
    assert f"{IN_PROCESS_FARE:.2f}" not in verdict.message  # the expected fare stays hidden


def test_05_1_accepts_the_served_answer_its_server_logged(production_predicts, tmp_path, after_04):
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    verdict = check(
        "05-1", (my_trip, _served(tmp_path, [IN_PROCESS_FARE], [IN_PROCESS_FARE])), client=after_04
    )
    assert verdict and "the inference server answered 31.25 dollars" in str(verdict)
    assert production_predicts == [f"models:/{FARE_MODEL}/2"]


def test_an_unknown_exercise_says_which_exist():
    with pytest.raises(
        LabError,
        match="No exercise '09-9'; the exercises are 01-1, 01-2, 02-1, 02-2, 03-1, 03-2, 04-1, 04-2, 04-3, "
        "05-1, 05-2, 06-1, 06-2, 06-3",
    ):
        check("09-9")


def _run(run_id: str, model_type: str = "Ridge", rmse: float | None = 3.5, status: str = "FINISHED") -> dict:
    metrics = {} if rmse is None else {"rmse": rmse}
    return dict(run_id=run_id, params={"model_type": model_type}, metrics=metrics, status=status)


def RunsClient(*runs: dict) -> FakeRegistry:  # noqa: N802 (reads as the client it builds)
    """The one fake with the course's experiment holding notebook 01's runs."""
    registry = FakeRegistry()
    registry.add_experiment(namespace().experiment, runs=0)
    experiment_id = registry.experiments[namespace().experiment].experiment_id
    for run in runs:
        registry.add_run(
            run["run_id"], run["params"], experiment_id, status=run["status"], metrics=run["metrics"]
        )
    return registry


COURSE_RUNS = (
    _run("ridge-1", rmse=3.60),
    _run("ridge-2", rmse=3.60),  # the same model and features logged twice: a tie
    _run("ridge-june", rmse=3.20),
    _run("ridge-worse", rmse=9.90),
    _run("ridge-failed", rmse=1.00, status="FAILED"),  # a run that stopped halfway
    _run("linear-june", model_type="LinearRegression", rmse=3.10),
    _run("kmeans-1", model_type="KMeans", rmse=None),
)


@pytest.mark.parametrize(
    ("client", "answer", "hint"),
    [
        (RunsClient(), None, "holds no Ridge run yet: run notebook 01 first"),
        (RunsClient(*COURSE_RUNS), None, "keep the Ridge ones (`params.model_type`), and put the `run_id`"),
        (RunsClient(*COURSE_RUNS), "nope", "has no finished run 'nope': pass a `run_id` from the search"),
        (RunsClient(*COURSE_RUNS), "ridge-failed", "has no finished run 'ridge-failed'"),
        (RunsClient(*COURSE_RUNS), "linear-june", "'LinearRegression'; the task asks for the Ridge"),
        (RunsClient(*COURSE_RUNS), "kmeans-1", "model_type is 'KMeans'"),
        (RunsClient(*COURSE_RUNS), "ridge-1", "scores lower: order by `metrics.rmse`, lowest"),
        (RunsClient(*COURSE_RUNS), "ridge-worse", "has rmse 9.9000; another Ridge run scores lower"),
    ],
)  # fmt: skip
def test_01_2_each_hint_leads_to_the_ridge_run_with_the_lowest_rmse(client, answer, hint, monkeypatch):
    monkeypatch.delenv("LAB_LEARNER", raising=False)
    verdict = check("01-2", answer, client=client)
    assert not verdict and hint in str(verdict)
    assert "ridge-june" not in verdict.message  # a hint, not the answer


def test_01_2_accepts_the_best_run_as_an_id_or_as_the_searchs_row(monkeypatch):

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    client = RunsClient(*COURSE_RUNS)
    assert check("01-2", "ridge-june", client=client)
    assert check("01-2", SimpleNamespace(run_id="ridge-june"), client=client)  # runs.iloc[0] has .run_id
    tie = RunsClient(*COURSE_RUNS[:2])
    assert check("01-2", "ridge-1", client=tie) and check("01-2", "ridge-2", client=tie)


def _response(url: str, fares, answer_id: str = "5f1d" * 8, status: int = 200):
    """What ``requests.post`` returns for ``url``: the fares as JSON, the id in its header."""
    import json

    import requests

    response = requests.Response()
    response.url, response.status_code = url, status
    response.raw = io.BytesIO(json.dumps(fares).encode())  # the body, read as the transport would give it
    response.headers["x-lab-answer-id"] = answer_id
    return response


@pytest.fixture
def running_inference(tmp_path):
    """An inference server of production (version 2) that this process started; its log holds one answer."""
    from labhelpers.serving.inference import InferenceServer
    from labhelpers.serving.scoring import forget_started, remember_started

    log = tmp_path / "inference.log"
    log.write_text(
        f"2026-12-05 03:00:00,000 I [77] azmlinfsrv.print - answer {'5f1d' * 8}: [{IN_PROCESS_FARE}]\n"
    )
    server = InferenceServer(f"models:/{FARE_MODEL}/2", 0, "http://127.0.0.1:5999", tmp_path, log)
    remember_started(server)
    yield server
    forget_started(server)


def test_05_1_accepts_the_response_of_requests_post_to_the_inference_server(
    production_predicts, running_inference, after_04
):
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    answered = _response(f"{running_inference.url}/score", [IN_PROCESS_FARE])
    verdict = check("05-1", (my_trip, answered), client=after_04)
    assert verdict and "the inference server answered 31.25 dollars" in str(verdict)
    # plausible wrong answers stay refused: its JSON alone, another server's answer, an edited answer
    assert "keep the response itself" in check("05-1", (my_trip, answered.json()), client=after_04).message
    elsewhere = _response("http://127.0.0.1:5998/score", [IN_PROCESS_FARE])
    assert (
        "not the address of an inference server started here"
        in check("05-1", (my_trip, elsewhere), client=after_04).message
    )
    edited = _response(f"{running_inference.url}/score", [12.0])
    assert "has no answer" in check("05-1", (my_trip, edited), client=after_04).message
    refused = _response(f"{running_inference.url}/score", {"message": "no input_data"}, status=400)
    assert "answered HTTP 400" in check("05-1", (my_trip, refused), client=after_04).message


def _threshold(**bounds):
    from mlflow.models import MetricThreshold

    return {"rmse": MetricThreshold(greater_is_better=False, **bounds)}


def test_04_3_takes_the_reference_gate(empty_registry):
    import importlib.util
    from pathlib import Path

    from labhelpers.training.held_out import held_out_trips

    path = Path(__file__).parents[3] / "solutions" / "solutions.py"
    spec = importlib.util.spec_from_file_location("solutions", path)
    assert spec is not None and spec.loader is not None
    solutions = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(solutions)
    assert check("04-3", solutions.solve_04_3(held_out_trips()[0]), client=empty_registry)


@pytest.mark.parametrize(
    ("gate", "hint"),
    [
        (None, "put your gate in `my_gate`"),
        ({"rmse": 7.9}, "whose key \"rmse\" holds a `MetricThreshold`"),
        (_threshold(min_relative_change=0.01), "passed a model that learned little"),
        (_threshold(threshold=16.0, min_relative_change=0.01), "passed a model that learned little"),
        (_threshold(threshold=10.0, min_relative_change=0.01), "passed a version just over half"),
        (_threshold(threshold=7.9), "passed a version equal to production"),
        (_threshold(threshold=7.9, min_relative_change=0.0), "passed a version equal to production"),
        (_threshold(threshold=7.9, min_relative_change=0.003), "passed a version 0.5 % better"),
        (_threshold(threshold=7.9, min_relative_change=0.05), "your gate refused a version 2 % better"),
    ],
    ids=["none", "a-number", "no-floor", "floor-of-the-baseline", "floor-too-loose", "no-relative-bound",
         "the-course-gate-unchanged", "a-third-of-a-percent", "five-percent"],
)  # fmt: skip
def test_04_3_refuses_a_gate_that_decides_one_case_wrong(gate, hint, empty_registry):
    verdict = check("04-3", gate, client=empty_registry)
    assert not verdict and hint in verdict.message
    assert "0.01" not in verdict.message and "1 %" not in verdict.message  # the hint names no bound


def test_04_3_refuses_a_gate_on_another_metric_too(empty_registry):
    gate = {**_threshold(threshold=7.9, min_relative_change=0.01), "r2": _threshold(threshold=0.5)["rmse"]}
    verdict = check("04-3", gate, client=empty_registry)
    assert "the rule judges rmse alone; `my_gate` also bounds r2." in verdict.message


def test_04_3_refuses_a_gate_for_which_a_higher_rmse_is_better(empty_registry):
    from mlflow.models import MetricThreshold

    gate = {"rmse": MetricThreshold(threshold=7.9, min_relative_change=0.0, greater_is_better=True)}
    assert "lower is better" in check("04-3", gate, client=empty_registry).message
