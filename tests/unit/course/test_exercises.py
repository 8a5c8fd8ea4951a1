"""The checks of the "Your turn" tasks that need no server: answers, folders and references.

The checks that read a registry run against a real course run in tests/notebooks/test_course.py.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from mlflow.entities import Experiment

from labhelpers.core.errors import LabError
from labhelpers.core.learner import namespace
from labhelpers.course.exercises import check
from labhelpers.serving.inference import ServedAnswer
from labhelpers.training.steps import run_supervised
from tests.unit.fakes import FakeRegistry, RunRecord

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


def test_01_1_wants_a_run_folder_trained_with_the_alpha_asked(trained_dirs, sample_csv, tmp_path):
    untouched = check("01-1", None)
    assert not untouched and "pass the run folder" in str(untouched)
    wrong = check("01-1", trained_dirs[0].parent)  # the default alpha, 1.0
    assert not wrong and "alpha=1.0" in str(wrong) and "10" not in wrong.message.split("alpha=1.0")[1]
    run_supervised(sample_csv, tmp_path / "supervised", alpha=10.0)
    assert check("01-1", tmp_path)
    (tmp_path / "supervised" / "linear_regression" / "model.skops").write_bytes(b"tampered")
    tampered = check("01-1", tmp_path)
    assert not tampered and "no longer match their checksums" in str(tampered)


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
        LabError, match="No exercise '09-9'; the exercises are 01-1, 02-1, 03-1, 03-2, 04-1, 04-2, 05-1"
    ):
        check("09-9")


def test_01_1_names_a_folder_without_training_output(tmp_path):
    verdict = check("01-1", tmp_path)
    assert not verdict and "holds no supervised training output: train with run_supervised" in str(verdict)


def by_hand_registry(
    course_owner: str = "ada",
    by_hand_tags: dict[str, str] | None = None,
    run_tags: dict[str, str] | None = None,
    by_hand: bool = True,
) -> FakeRegistry:
    """The course's fare model owned by `course_owner`, one by-hand version (its run r1 tagged `run_tags`)."""
    registry = FakeRegistry([FakeRegistry.version("taxi-fare-linear-regression", 2, owner=course_owner)])
    if by_hand:
        version = FakeRegistry.version("taxi-fare-by-hand", 1, "r1", **(by_hand_tags or {}))
        registry.models["taxi-fare-by-hand"] = [version]
        registry.add_run("r1", tags=run_tags)
    return registry


@pytest.mark.parametrize(
    ("client", "hint"),
    [
        (
            by_hand_registry(by_hand=False),
            "no version of taxi-fare-by-hand yet: run section 2 of notebook 02",
        ),
        (by_hand_registry(), "version 1 has no `owner` version tag yet"),
        (by_hand_registry(run_tags={"owner": "ada"}), "the run of version 1 has an owner tag, the version"),
        (by_hand_registry(by_hand_tags={"owner": "learner"}), "has owner 'learner', not the course's owner"),
    ],
)  # fmt: skip
def test_02_1_each_hint_points_at_the_version_tag_the_course_uses(client, hint, monkeypatch):
    monkeypatch.delenv("LAB_LEARNER", raising=False)
    verdict = check("02-1", client=client)
    assert not verdict and hint in str(verdict)
    assert "ada" not in verdict.message  # the hint leads to the `owner` variable, it does not hand it over
    assert check("02-1", client=by_hand_registry(by_hand_tags={"owner": "ada"}))


@pytest.fixture
def version_1_of_kmeans(trained_dirs, monkeypatch):
    """`models:/taxi-trip-kmeans/1` loads the KMeans notebook 01 trains on the sample (no registry here)."""
    import mlflow.pyfunc

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    load = mlflow.pyfunc.load_model
    folder = trained_dirs[1] / "kmeans"
    model = load(str(folder))

    def load_model(uri, *args, **kwargs):
        assert uri == "models:/taxi-trip-kmeans/1", uri
        return model

    monkeypatch.setattr(mlflow.pyfunc, "load_model", load_model)
    return model


def test_03_1_checks_several_trips_so_swapped_or_zero_coordinates_fail(version_1_of_kmeans, empty_registry):
    from labhelpers.course.exercises import cluster_trips

    model, trips = version_1_of_kmeans, cluster_trips()
    right = [int(c) for c in model.predict(trips)]
    assert len(set(right)) > 2  # the trips fall in several clusters
    assert check("03-1", right, client=empty_registry)
    assert check("03-1", model.predict(trips), client=empty_registry)  # the array as predict gives it

    swapped = trips.rename(
        columns={
            "pickup_latitude": "pickup_longitude",
            "pickup_longitude": "pickup_latitude",
            "dropoff_latitude": "dropoff_longitude",
            "dropoff_longitude": "dropoff_latitude",
        }
    )[list(trips.columns)]
    verdict = check("03-1", list(model.predict(swapped)), client=empty_registry)
    assert not verdict and "latitude and longitude swapped" in str(verdict) and "near 40.7" in str(verdict)
    assert "pass `trips` as it is" in str(verdict)

    zeros = list(model.predict(trips * 0))
    verdict = check("03-1", zeros, client=empty_registry)
    assert not verdict and "outside New York" in str(verdict) and "all zeros" in str(verdict)

    first_only = check("03-1", right[0], client=empty_registry)  # the old task's single number
    assert not first_only and f"should hold {len(trips)} cluster numbers, one per row of `trips`" in str(
        first_only
    )
    other = [(c + 1) % 8 for c in right]
    verdict = check("03-1", other, client=empty_registry)
    assert not verdict and f"{len(trips)} of the {len(trips)} clusters differ" in str(verdict)
    assert str(right) not in verdict.message  # a hint, not the answer


def test_03_1_untouched_says_what_to_load_and_the_answers_shape(empty_registry):
    verdict = check("03-1", client=empty_registry)
    assert not verdict
    assert "load models:/taxi-trip-kmeans/1 with mlflow.pyfunc.load_model" in str(verdict)
    assert "5 numbers, one per trip, in order" in str(verdict)


def _run(
    run_id: str,
    experiment_id: str = "7",
    model_type: str = "Ridge",
    rmse: float | None = 3.5,
    status: str = "FINISHED",
) -> RunRecord:
    metrics = {} if rmse is None else {"rmse": rmse}
    return RunRecord(run_id, experiment_id, status, metrics=metrics, tags={"model_type": model_type})


def runs_registry(*runs: RunRecord) -> FakeRegistry:
    """The course's experiment (id 7) with these registration runs."""
    registry = FakeRegistry()
    registry.experiments["taxi-model-registry"] = Experiment("7", "taxi-model-registry", "", "active")
    registry.runs.update({run.run_id: run for run in runs})
    return registry


COURSE_RUNS = (
    _run("ridge-1", rmse=3.60),
    _run("ridge-2", rmse=3.60),  # registered twice from one training run: a tie
    _run("ridge-june", rmse=3.20),
    _run("ridge-worse", rmse=9.90),
    _run("ridge-failed", rmse=1.00, status="FAILED"),  # a batch that was undone
    _run("linear-june", model_type="LinearRegression", rmse=3.10),
    _run("kmeans-1", model_type="KMeans", rmse=None),
)


@pytest.mark.parametrize(
    ("client", "answer", "hint"),
    [
        (runs_registry(), None, "holds no Ridge registration run yet: run notebook 02 first"),
        (runs_registry(*COURSE_RUNS), None, "whose `model_type` tag is 'Ridge', and put the `run_id`"),
        (runs_registry(*COURSE_RUNS), "nope", "has no finished run 'nope': pass a `run_id` from the search"),
        (runs_registry(*COURSE_RUNS), "ridge-failed", "has no finished run 'ridge-failed'"),
        (runs_registry(*COURSE_RUNS), "linear-june", "a LinearRegression; the task asks for the Ridge"),
        (runs_registry(*COURSE_RUNS), "kmeans-1", "that run registered a KMeans"),
        (runs_registry(*COURSE_RUNS), "ridge-1", "scores lower: order by `metrics.rmse`, lowest"),
        (runs_registry(*COURSE_RUNS), "ridge-worse", "has rmse 9.9; another Ridge run scores lower"),
    ],
)  # fmt: skip
def test_03_2_each_hint_leads_to_the_ridge_run_with_the_lowest_rmse(client, answer, hint, monkeypatch):
    monkeypatch.delenv("LAB_LEARNER", raising=False)
    verdict = check("03-2", answer, client=client)
    assert not verdict and hint in str(verdict)
    assert "ridge-june" not in verdict.message  # a hint, not the answer


def test_03_2_accepts_the_best_run_as_an_id_or_as_the_searchs_row(monkeypatch):

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    client = runs_registry(*COURSE_RUNS)
    assert check("03-2", "ridge-june", client=client)
    assert check("03-2", SimpleNamespace(run_id="ridge-june"), client=client)  # runs.iloc[0] has .run_id
    tie = runs_registry(*COURSE_RUNS[:2])
    assert check("03-2", "ridge-1", client=tie) and check("03-2", "ridge-2", client=tie)


def test_02_1_looks_at_notebook_02s_version_not_the_one_03_registers_from_a_run(monkeypatch):

    registry = by_hand_registry(by_hand_tags={"owner": "ada"})
    registry.experiments["taxi-by-hand"] = Experiment("by-hand", "taxi-by-hand", "", "active")
    registry.runs["r1"].experiment_id = "by-hand"
    registry.models["taxi-fare-by-hand"].append(FakeRegistry.version("taxi-fare-by-hand", 2, "course-run"))
    registry.add_run("course-run", experiment_id="course")

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    verdict = check("02-1", client=registry)  # version 1 (02's) has the owner; version 2 (03's) has none
    assert verdict and "taxi-fare-by-hand version 1 is owned by 'ada'" in str(verdict)


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
