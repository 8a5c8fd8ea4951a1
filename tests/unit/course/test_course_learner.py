"""`course run --learner`: the notebooks' model parameters and their kernels' environment name the learner."""

from __future__ import annotations

import os

import pytest

from labhelpers.core.learner import LEARNER_ENV, LearnerError
from labhelpers.course.run import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    _learner_environment,
    learner_parameters,
    run_course,
    split_parameters,
)


def test_without_a_learner_the_notebooks_keep_their_own_defaults():
    assert learner_parameters(None) == {}


def test_a_learner_reaches_every_notebook_that_names_a_model():
    values = learner_parameters("alice")
    assert values == {
        "model_name": "taxi-fare-linear-regression-alice",
        "reference": "taxi-fare-linear-regression-alice@latest",
    }
    per_notebook = split_parameters(values, [NOTEBOOK_DIR / name for name in NOTEBOOKS])
    given = {path.name: params for path, params in per_notebook.items() if params}
    assert given["03_inspect_registry.ipynb"] == values  # 03 searches model_name by hand and traces reference
    assert given["04_pin_and_promote.ipynb"] == {"model_name": values["model_name"]}


def test_the_kernels_environment_names_the_learner_and_is_restored(monkeypatch):
    monkeypatch.setenv(LEARNER_ENV, "before")
    with _learner_environment("alice"):
        assert os.environ[LEARNER_ENV] == "alice"
    assert os.environ[LEARNER_ENV] == "before"
    monkeypatch.delenv(LEARNER_ENV)
    with _learner_environment("bob"):
        assert os.environ[LEARNER_ENV] == "bob"
    assert LEARNER_ENV not in os.environ


def test_an_invalid_learner_is_refused_before_any_notebook_runs(tmp_path):
    with pytest.raises(LearnerError, match="Invalid learner name 'Alice Smith'"):
        run_course(tmp_path, learner="Alice Smith", echo=None)
    assert list(tmp_path.iterdir()) == []
