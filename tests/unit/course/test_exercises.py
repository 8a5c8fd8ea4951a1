"""The checks of the "Your turn" tasks that need no server: answers, folders and references.

The checks that read a registry run against a real course run in tests/notebooks/test_course.py.
"""

from __future__ import annotations

import pytest

from labhelpers.core.errors import LabError
from labhelpers.course.exercises import check
from labhelpers.training.steps import run_supervised


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
def test_04_2_refuses_each_wrong_pin_with_a_hint_that_keeps_the_answer(answer, hint, fake_registry):
    verdict = check("04-2", answer, client=fake_registry())  # no version of any model in production
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
def test_05_1_wants_a_trip_of_ones_own_and_the_served_answer(answer, hint, fake_registry):
    verdict = check("05-1", answer, client=fake_registry())  # no version of any model in production
    assert not verdict
    assert str(verdict).startswith("05-1: not yet: ") and hint in str(verdict)


def test_an_unknown_exercise_says_which_exist():
    with pytest.raises(
        LabError, match="No exercise '09-9'; the exercises are 01-1, 02-1, 03-1, 04-1, 04-2, 05-1"
    ):
        check("09-9")
