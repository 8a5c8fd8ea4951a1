"""Progress rows come from the registry alone: versions, lifecycle tags and the lifecycle history."""

from __future__ import annotations

import json

from labhelpers.classroom.progress import STEPS, as_text, progress, write_html


def _moved(*moves: tuple[str, str]) -> dict:
    history = [{"to": to, "why": why} for to, why in moves]
    return {
        "lifecycle": history[-1]["to"] if history else "candidate",
        "lifecycle_history": json.dumps(history),
    }


def test_each_learner_gets_one_row_with_the_steps_they_reached(registry):
    registry.add("taxi-fare-linear-regression-alice", _moved(), _moved())
    registry.add("taxi-fare-linear-regression-bob", _moved(("validated", "ok")), _moved())
    bob_production = {**_moved(("validated", "ok"), ("production", "promoted")), "production_since": "now"}
    registry.add("taxi-fare-ridge-regression-bob", bob_production)
    rolled = _moved(("validated", "ok"), ("production", "x"), ("archived", "rolled back: drill"))
    registry.add("taxi-fare-linear-regression-carol", {**rolled, "production_since": "then"}, _moved())
    table = progress(["alice", "bob", "carol", "dave"], client=registry)
    rows = table.set_index("learner")
    assert list(table["learner"]) == ["alice", "bob", "carol", "dave"]
    assert rows.loc["alice", ["registered", "second_version", "validated"]].tolist() == [True, True, False]
    assert rows.loc["bob", ["validated", "in_production", "pinned"]].tolist() == [True, True, False]
    assert rows.loc["carol", ["pinned", "rolled_back", "in_production"]].tolist() == [True, True, False]
    assert rows.loc["dave", list(STEPS)].tolist() == [False] * len(STEPS)
    assert rows.loc["dave", "furthest"] == "not started" and rows.loc["carol", "furthest"] == "rolled_back"


def test_progress_reads_only_the_learners_names(registry):
    registry.add("taxi-fare-linear-regression", _moved())  # the seed's names: nobody's progress
    registry.add("taxi-fare-linear-regression-alicex", _moved())
    assert progress(["alice"], client=registry)["versions"].tolist() == [0]


def test_the_text_and_html_views_show_the_same_table(registry, tmp_path):
    registry.add("taxi-trip-kmeans-alice", _moved())
    table = progress(["alice", "bob"], client=registry)
    text = as_text(table)
    assert text.splitlines()[1].split()[:4] == ["alice", "1", "yes", "-"]
    page = write_html(table, tmp_path / "out" / "progress.html").read_text()
    assert page.count("<tr>") == 3 and "data:image/png;base64," in page and "<td>alice</td>" in page


def test_exercises_passed_are_counted_from_the_tags_check_writes(registry, monkeypatch):
    from labhelpers.course import exercises

    registry.add("taxi-fare-linear-regression-alice", _moved())
    registry.add("taxi-fare-linear-regression-bob", _moved())
    monkeypatch.setenv("LAB_LEARNER", "alice")
    monkeypatch.setitem(exercises.CHECKS, "02-1", lambda answer, client: (True, "ok"))
    monkeypatch.setitem(exercises.CHECKS, "03-1", lambda answer, client: (False, "not yet"))
    assert exercises.check("02-1", client=registry)
    assert not exercises.check("03-1", client=registry)  # a failed check records nothing
    assert registry.model_tags["taxi-fare-linear-regression-alice"] == {"lab.exercise.02-1": "passed"}
    # bob's registry was written before the tags moved under lab.: both names count
    registry.model_tags["taxi-fare-linear-regression-bob"] = {"exercise.02-1": "passed", "note": "x"}
    registry.model_tags["taxi-fare-linear-regression-bob"]["lab.exercise.04-2"] = "passed"

    rows = progress(["alice", "bob", "carol"], client=registry).set_index("learner")

    assert rows.loc[["alice", "bob"], "exercises_passed"].tolist() == [1, 2]
    assert rows["exercises_passed"].isna()["carol"]  # carol has no model: nothing to read
    assert as_text(rows.reset_index()).splitlines()[-1].split()[-3:] == ["-", "not", "started"]


def test_a_pass_that_cannot_be_recorded_is_still_a_pass(registry, monkeypatch):
    from labhelpers.course import exercises

    monkeypatch.setenv("LAB_LEARNER", "dave")  # dave registered nothing yet: the tag has nowhere to go
    monkeypatch.setitem(exercises.CHECKS, "02-1", lambda answer, client: (True, "ok"))
    assert exercises.check("02-1", client=registry)
    assert registry.model_tags == {}
