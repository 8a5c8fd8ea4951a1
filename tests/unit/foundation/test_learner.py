"""Learner namespaces: one rule for every name, valid for Azure ML, the seed's names without a learner."""

from __future__ import annotations

import re

import pytest

from labhelpers.foundation import config
from labhelpers.foundation.learner import (
    LEARNER_ENV,
    MAX_LEARNER,
    LearnerError,
    check_learner,
    current_learner,
    namespace,
)

# Azure ML: online endpoint names 3-32 characters, a letter first, letters, digits and '-'; model names
# letters, digits, '-', '_', '.'.
AZURE_ENDPOINT = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")
AZURE_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


def test_without_a_learner_the_names_are_the_seeds(monkeypatch):
    monkeypatch.delenv(LEARNER_ENV, raising=False)
    space = namespace()
    assert space.learner is None
    assert space.model_names == config.MODEL_NAMES
    assert space.experiment == "taxi-model-registry"
    assert space.endpoint == config.endpoint_name()  # taxi-fare-<digest of login and host>


def test_a_learner_suffixes_every_name(monkeypatch):
    monkeypatch.delenv(LEARNER_ENV, raising=False)
    space = namespace("alice")
    assert space.model_names == tuple(f"{name}-alice" for name in config.MODEL_NAMES)
    assert space.models["linear"] == "taxi-fare-linear-regression-alice"
    assert (space.experiment, space.endpoint) == ("taxi-model-registry-alice", "taxi-fare-alice")


def test_the_environment_sets_the_learner_and_an_argument_wins(monkeypatch):
    monkeypatch.setenv(LEARNER_ENV, "bob")
    assert namespace().learner == "bob"
    assert namespace("carol").learner == "carol"
    monkeypatch.setenv(LEARNER_ENV, "  ")
    assert current_learner() is None


@pytest.mark.parametrize("name", ["a", "alice", "team-3", "x" * MAX_LEARNER])
def test_valid_learners_give_valid_azure_names(name):
    space = namespace(check_learner(name))
    assert AZURE_ENDPOINT.match(space.endpoint)
    assert all(AZURE_MODEL.match(model) for model in space.model_names)


@pytest.mark.parametrize(
    "name", ["", "Alice", "3d", "al ice", "al_ice", "team-", "-team", "a--b", "x" * (MAX_LEARNER + 1), "é"]
)
def test_invalid_learners_are_refused_with_the_rule(name, monkeypatch):
    with pytest.raises(LearnerError, match="lower-case letters"):
        check_learner(name)
    if name.strip():
        monkeypatch.setenv(LEARNER_ENV, name)
        with pytest.raises(LearnerError):
            namespace()
