"""The checks of the "Your turn" tasks that need no server: answers, folders and references.

The checks that read a registry run against a real course run in tests/notebooks/test_course.py.
"""

from __future__ import annotations

import pytest

from labhelpers.core.errors import LabError
from labhelpers.course.exercises import check
from labhelpers.training.steps import run_supervised


class NoProductionClient:
    """Stands in for MlflowClient: a registry where no version of any model is in production."""

    def search_model_versions(self, filter_string):
        return []


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
        (None, "put the reference"),
        ("azureml:taxi-fare-linear-regression@3", "refused: 'azureml:taxi-fare-linear-regression@3' is not"),
        ("models:/taxi-fare-linear-regression/3", "azureml:NAME:N"),
        ("azureml:taxi-fare-linear-regression@latest", "@latest moves"),
        ("azureml:taxi-fare-linear-regression:3", "has no version in production"),
    ],
)  # fmt: skip
def test_04_2_refuses_each_wrong_pin_with_a_hint_that_keeps_the_answer(answer, hint):
    verdict = check("04-2", answer, client=NoProductionClient())
    assert not verdict
    assert str(verdict).startswith("04-2: not yet: ") and hint in str(verdict)


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
        (({**_sample_trip(), "trip_distance": 9.0}, [30.0]), "has no version in production"),
    ],
)  # fmt: skip
def test_05_1_wants_a_trip_of_ones_own_and_the_served_answer(answer, hint):
    verdict = check("05-1", answer, client=NoProductionClient())
    assert not verdict
    assert str(verdict).startswith("05-1: not yet: ") and hint in str(verdict)


def test_an_unknown_exercise_says_which_exist():
    with pytest.raises(
        LabError, match="No exercise '09-9'; the exercises are 01-1, 02-1, 03-1, 04-1, 04-2, 05-1"
    ):
        check("09-9")


def test_01_1_names_a_folder_without_training_output(tmp_path):
    verdict = check("01-1", tmp_path)
    assert not verdict and "holds no supervised training output: train with run_supervised" in str(verdict)


class ByHandClient:
    """Stands in for MlflowClient: the course's fare model owned by `course_owner`, one by-hand version."""

    def __init__(self, course_owner="ada", by_hand_tags=None, run_tags=None, by_hand=True):
        from types import SimpleNamespace

        self._versions = {
            "taxi-fare-linear-regression": [SimpleNamespace(version="2", tags={"owner": course_owner})],
            "taxi-fare-by-hand": [SimpleNamespace(version="1", tags=by_hand_tags or {}, run_id="r1")]
            if by_hand
            else [],
        }
        self._run = SimpleNamespace(data=SimpleNamespace(tags=run_tags or {}))

    def search_model_versions(self, filter_string):
        return self._versions.get(filter_string.split("'")[1], [])

    def get_run(self, run_id):
        return self._run

    def set_registered_model_tag(self, *args):
        pass


@pytest.mark.parametrize(
    ("client", "hint"),
    [
        (ByHandClient(by_hand=False), "no version of taxi-fare-by-hand yet: run section 2 of notebook 02"),
        (ByHandClient(), "version 1 has no `owner` version tag yet"),
        (ByHandClient(run_tags={"owner": "ada"}), "the run of version 1 has an owner tag, the version"),
        (ByHandClient(by_hand_tags={"owner": "learner"}), "has owner 'learner', not the course's owner"),
    ],
)  # fmt: skip
def test_02_1_each_hint_points_at_the_version_tag_the_course_uses(client, hint, monkeypatch):
    monkeypatch.delenv("LAB_LEARNER", raising=False)
    verdict = check("02-1", client=client)
    assert not verdict and hint in str(verdict)
    assert "ada" not in verdict.message  # the hint leads to the `owner` variable, it does not hand it over
    assert check("02-1", client=ByHandClient(by_hand_tags={"owner": "ada"}))


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


def test_03_1_checks_several_trips_so_swapped_or_zero_coordinates_fail(version_1_of_kmeans):
    from labhelpers.course.exercises import cluster_trips

    model, trips = version_1_of_kmeans, cluster_trips()
    right = [int(c) for c in model.predict(trips)]
    assert len(set(right)) > 2  # the trips fall in several clusters
    assert check("03-1", right, client=NoProductionClient())
    assert check("03-1", model.predict(trips), client=NoProductionClient())  # the array as predict gives it

    swapped = trips.rename(
        columns={
            "pickup_latitude": "pickup_longitude",
            "pickup_longitude": "pickup_latitude",
            "dropoff_latitude": "dropoff_longitude",
            "dropoff_longitude": "dropoff_latitude",
        }
    )[list(trips.columns)]
    verdict = check("03-1", list(model.predict(swapped)), client=NoProductionClient())
    assert not verdict and "latitude and longitude swapped" in str(verdict) and "near 40.7" in str(verdict)
    assert "pass `trips` as it is" in str(verdict)

    zeros = list(model.predict(trips * 0))
    verdict = check("03-1", zeros, client=NoProductionClient())
    assert not verdict and "outside New York" in str(verdict) and "all zeros" in str(verdict)

    first_only = check("03-1", right[0], client=NoProductionClient())  # the old task's single number
    assert not first_only and f"should hold {len(trips)} cluster numbers, one per row of `trips`" in str(
        first_only
    )
    other = [(c + 1) % 8 for c in right]
    verdict = check("03-1", other, client=NoProductionClient())
    assert not verdict and f"{len(trips)} of the {len(trips)} clusters differ" in str(verdict)
    assert str(right) not in verdict.message  # a hint, not the answer


def test_03_1_untouched_says_what_to_load_and_the_answers_shape():
    verdict = check("03-1", client=NoProductionClient())
    assert not verdict
    assert "load models:/taxi-trip-kmeans/1 with mlflow.pyfunc.load_model" in str(verdict)
    assert "5 numbers, one per trip, in order" in str(verdict)
