"""Exercise 06-3's check on a fake registry: what it refuses, before and after the copy is deleted.

The reference solution and the other exercises of notebook 06 run against a real server in
tests/notebooks/test_course.py (they read signatures and descriptions a fake does not hold).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def registry(fake_registry, monkeypatch):
    """The fare model with version 2 in production and the shared model holding its copy (version 1)."""
    from labhelpers.foundation.learner import namespace

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    names = namespace()
    fake = fake_registry()
    fake.add(names.models["linear"], {"lifecycle": "archived"}, {"lifecycle": "production"}, {})
    fake.create_model_version(names.shared_production, f"models:/{names.models['linear']}/2")
    return fake


def _copy(fake, source: str):
    from labhelpers.foundation.learner import namespace

    return fake.create_model_version(namespace().shared_production, source)  # a copy's source: models:/NAME/N


def test_06_3_refuses_until_the_learner_s_own_copy_of_production_is_deleted(registry):
    from labhelpers.course.exercises import PASSED_TAG, check
    from labhelpers.foundation.learner import namespace

    names = namespace()
    linear, shared = names.models["linear"], names.shared_production
    assert "keep what `copy_model_version` returns" in check("06-3", client=registry).message
    assert "not a number or a name" in check("06-3", "3", client=registry).message
    own = check("06-3", registry.get_model_version(linear, "2"), client=registry)  # the fare model's own
    assert not own and "never delete a version of the course's models" in own.message
    assert registry.deleted == []  # a check deletes nothing
    archived = _copy(registry, f"models:/{linear}/1")  # a copy of another version than production's
    wrong = check("06-3", archived, client=registry)
    assert not wrong and "not from the version in production" in wrong.message
    spare = _copy(registry, f"models:/{linear}/2")
    kept = check("06-3", spare, client=registry)
    assert not kept and f"version {spare.version} of {shared} is still there" in kept.message
    registry.delete_model_version(shared, spare.version)
    done = check("06-3", spare, client=registry)
    assert done and f"version {spare.version} of {shared} is deleted" in done.message
    assert registry.model_tags[linear] == {PASSED_TAG.format("06-3"): "passed"}  # for the instructor


def test_06_1_refuses_what_is_no_list_of_column_names_before_reading_a_signature(registry):
    from labhelpers.course.exercises import check

    for answer in ("trip_distance", 3, {"trip_distance": "double"}, [], [1, 2]):
        verdict = check("06-1", answer, client=registry)
        assert not verdict and "must be a list of column names" in verdict.message, answer
