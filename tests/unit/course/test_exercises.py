"""The checks of the "Your turn" tasks that need no server: answers, folders and references.

The checks that read a registry run against a real course run in tests/notebooks/test_course.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from labhelpers.core.errors import LabError
from labhelpers.core.learner import namespace
from labhelpers.course.exercises import check
from labhelpers.serving.inference import ServedAnswer
from labhelpers.training.steps import run_supervised

FARE_MODEL = namespace().models["linear"]


class NoProductionClient:
    """Stands in for MlflowClient: a registry where no version of any model is in production."""

    def search_model_versions(self, filter_string):
        return []


class Registry:
    """Stands in for MlflowClient: the fare model after notebook 04, production at version 2, not the newest.

    Versions 1-4: 1 archived, 2 in production (rolled back to), 3 archived, 4 the worse one (validated).
    """

    LIFECYCLE = {"1": "archived", "2": "production", "3": "archived", "4": "validated"}
    RMSE = {"1": "3.1", "2": "2.9", "3": "2.95", "4": "7.5"}

    def search_model_versions(self, filter_string):
        if filter_string != f"name='{FARE_MODEL}'":
            return []
        return [
            SimpleNamespace(name=FARE_MODEL, version=v, tags={"lifecycle": state, "rmse": self.RMSE[v]})
            for v, state in self.LIFECYCLE.items()
        ]

    def set_registered_model_tag(self, name, key, value):
        pass


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
def test_04_1_hints_say_what_is_wrong_and_never_name_the_best_version(answer, hint):
    verdict = check("04-1", answer, client=Registry())
    assert not verdict and hint in str(verdict)
    assert "version 2" not in verdict.message and "2.9" not in verdict.message  # the answer stays hidden
    assert check("04-1", "2", client=Registry())


def test_04_1_without_rmse_tags_says_which_notebooks_to_run():
    verdict = check("04-1", "2", client=NoProductionClient())
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
def test_04_2_hints_lead_to_the_pinned_number_and_never_suggest_a_wrong_pin(answer, hint):
    verdict = check("04-2", answer, client=Registry())
    assert not verdict
    assert str(verdict).startswith("04-2: not yet: ") and hint in str(verdict)
    wrong = ["@latest?", "Did you mean", ":3", ":4'", "section 3"]  # what the old hints suggested
    assert not [text for text in wrong if text in verdict.message], verdict.message
    assert check("04-2", f"azureml:{FARE_MODEL}:2", client=Registry())


def test_04_2_before_any_promotion_points_to_the_promotion_section():
    verdict = check("04-2", f"azureml:{FARE_MODEL}:2", client=NoProductionClient())
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
def test_05_1_wants_a_trip_of_ones_own_and_the_served_answer(answer, hint):
    verdict = check("05-1", answer, client=NoProductionClient())
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


def test_05_1_refuses_a_fare_computed_in_process_even_when_it_is_right(production_predicts, tmp_path):
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    for fare in ([IN_PROCESS_FARE], IN_PROCESS_FARE, _served(tmp_path, [IN_PROCESS_FARE])[0]):
        verdict = check("05-1", (my_trip, fare), client=Registry())
        assert not verdict and "must be what `inference.invoke(...)` returned, unchanged" in str(verdict)
    unlogged = _served(tmp_path, [IN_PROCESS_FARE], logged=None)  # an answer no server logged
    verdict = check("05-1", (my_trip, unlogged), client=Registry())
    assert not verdict and "log (inference.log) has no answer 5f1d" in str(verdict)
    edited = _served(tmp_path, [IN_PROCESS_FARE], logged=[12.0])  # the server answered another fare
    assert "has no answer" in check("05-1", (my_trip, edited), client=Registry()).message


@pytest.mark.parametrize(
    ("served", "hint"),
    [
        (([IN_PROCESS_FARE], f"models:/{FARE_MODEL}/3"), f"/3; production is models:/{FARE_MODEL}/2"),
        (([IN_PROCESS_FARE, 9.0], f"models:/{FARE_MODEL}/2"), "answered 2 fares: send `my_trip` alone"),
        (([12.0], f"models:/{FARE_MODEL}/2"), "the server answered 12 for another trip than `my_trip`"),
    ],
)  # fmt: skip
def test_05_1_hints_for_a_served_answer_that_is_not_for_my_trip(production_predicts, tmp_path, served, hint):
    fares, uri = served
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    verdict = check("05-1", (my_trip, _served(tmp_path, fares, fares, uri)), client=Registry())
    assert not verdict and hint in str(verdict)
    assert f"{IN_PROCESS_FARE:.2f}" not in verdict.message  # the expected fare stays hidden


def test_05_1_accepts_the_served_answer_its_server_logged(production_predicts, tmp_path):
    my_trip = {**_sample_trip(), "trip_distance": 9.0}
    verdict = check(
        "05-1", (my_trip, _served(tmp_path, [IN_PROCESS_FARE], [IN_PROCESS_FARE])), client=Registry()
    )
    assert verdict and "the inference server answered 31.25 dollars" in str(verdict)
    assert production_predicts == [f"models:/{FARE_MODEL}/2"]


def test_an_unknown_exercise_says_which_exist():
    with pytest.raises(
        LabError, match="No exercise '09-9'; the exercises are 01-1, 02-1, 03-1, 04-1, 04-2, 05-1"
    ):
        check("09-9")
