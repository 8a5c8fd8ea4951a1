"""`course run --learner`: the notebooks' model parameters and their kernels' environment name the learner."""

from __future__ import annotations

import json
import os
import re

import pytest

from labhelpers.course.notebooks import (
    NOTEBOOK_DIR,
    NOTEBOOKS,
    learner_environment,
    learner_parameters,
    split_parameters,
)
from labhelpers.course.run import run_course
from labhelpers.course.session import use_learner
from labhelpers.foundation.config import LINEAR_MODEL_NAME
from labhelpers.foundation.learner import LEARNER_ENV, LearnerError


def test_without_a_learner_the_notebooks_keep_their_own_defaults():
    assert learner_parameters(None) == {}


def test_a_learner_reaches_every_notebook_that_names_a_model():
    values = learner_parameters("alice")
    assert values == {"learner": "alice"}
    per_notebook = split_parameters(values, [NOTEBOOK_DIR / name for name in NOTEBOOKS])
    given = sorted(path.name for path, params in per_notebook.items() if params == values)
    assert given == sorted(NOTEBOOKS)  # 01 names the learner's experiment, 02-05 the models


def _experiment_notebook_01_shows() -> str:
    """The experiment's name as notebook 01's text gives it: "`names.experiment` (`NAME`"."""
    cells = json.loads((NOTEBOOK_DIR / "01_train_models.ipynb").read_text())["cells"]
    text = "".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")
    [name] = set(re.findall(r"`names\.experiment` \(`([^`]+)`", text))
    return name


def test_use_learner_gives_the_notebook_its_names_and_exports_the_learner(monkeypatch):
    monkeypatch.setenv(LEARNER_ENV, "")  # restored after the test, whatever use_learner exports
    monkeypatch.delenv(LEARNER_ENV)
    seed = use_learner(None)
    assert (seed.learner, seed.models["linear"]) == (None, LINEAR_MODEL_NAME)
    assert seed.experiment == _experiment_notebook_01_shows()  # the name the learner reads is the one used
    assert seed.by_hand not in seed.model_names  # apart from the course's three
    assert LEARNER_ENV not in os.environ
    alice = use_learner("alice")
    assert alice.models["linear"] == f"{LINEAR_MODEL_NAME}-alice"
    assert (alice.by_hand, alice.by_hand_experiment) == (f"{seed.by_hand}-alice", "taxi-by-hand-alice")
    assert os.environ[LEARNER_ENV] == "alice"  # the exercise checks and register_models read it
    with pytest.raises(LearnerError):
        use_learner("Alice Smith")


def test_the_kernels_environment_names_the_learner_and_is_restored(monkeypatch):
    monkeypatch.setenv(LEARNER_ENV, "before")
    with learner_environment("alice"):
        assert os.environ[LEARNER_ENV] == "alice"
    assert os.environ[LEARNER_ENV] == "before"
    monkeypatch.delenv(LEARNER_ENV)
    with learner_environment("bob"):
        assert os.environ[LEARNER_ENV] == "bob"
    assert LEARNER_ENV not in os.environ


def test_an_invalid_learner_is_refused_before_any_notebook_runs(tmp_path):
    with pytest.raises(LearnerError, match="Invalid learner name 'Alice Smith'"):
        run_course(tmp_path, learner="Alice Smith", echo=None)
    assert list(tmp_path.iterdir()) == []
