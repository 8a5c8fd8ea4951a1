"""The production gate: MLflow's MetricThresholds, an absolute floor from a mean-fare baseline measured on
the held-out trips, no regression against production, and a refused version left with nothing that says it
passed. The models' metrics are given (``metrics_on`` is replaced); everything else is the real gate.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from mlflow.entities.model_registry import ModelVersion

from labhelpers.data.sample import write_sample
from labhelpers.foundation.errors import RegistryError
from labhelpers.registry import validation
from labhelpers.registry.promotion import GateRefused, Move, history, promote
from labhelpers.registry.validation import EVIDENCE_COLUMNS, mean_baseline_rmse, production_thresholds
from labhelpers.training.steps import prepare_data
from tests.unit.fakes import FakeRegistry

NAME = "taxi-fare-linear-regression"


@pytest.fixture(scope="module")
def held_out(tmp_path_factory):
    """A small generated month of trips, as a file: the held-out data of every gate here."""
    folder = tmp_path_factory.mktemp("held-out")
    return write_sample(folder / "trips-2016-07.csv", 2_000, 77, start="2016-07-01", end="2016-08-01")


@pytest.fixture
def scores(monkeypatch):
    """Set each version's held-out metrics: ``scores["3"] = 3.66`` (an rmse) or a callable of the frame."""
    given: dict[str, Any] = {}

    def metrics_on(mv, frame):
        value = given[str(mv.version)]
        return {"rmse": float(value(frame) if callable(value) else value)}

    monkeypatch.setattr(validation, "metrics_on", metrics_on)
    return given


def _version(number: int, **tags: str) -> ModelVersion:
    return FakeRegistry.version(NAME, number, **tags).entity()


def test_the_floor_is_derived_from_the_held_out_data_not_written_down():
    fares = pd.DataFrame({"fare_amount": [10.0, 20.0, 30.0]})
    assert mean_baseline_rmse(fares) == pytest.approx((200 / 3) ** 0.5)
    doubled = pd.DataFrame({"fare_amount": [20.0, 40.0, 60.0]})
    floors = [production_thresholds(f, None, False)["rmse"].threshold for f in (fares, doubled)]
    assert floors == pytest.approx([0.5 * (200 / 3) ** 0.5, (200 / 3) ** 0.5])
    only_floor = production_thresholds(fares, None, False)["rmse"]
    assert only_floor.min_relative_change is None and only_floor.greater_is_better is False
    against = production_thresholds(fares, {"rmse": 3.0}, False)["rmse"]
    assert against.min_relative_change == 0.0  # not worse, by any amount


def test_a_version_worse_than_production_by_one_percent_is_refused(scores, held_out):
    # the figures of notebook 04 before this gate: the June retrain passed through the old 2 % tolerance
    scores.update({"3": 3.6624, "2": 3.6201})
    check = validation.production_check(_version(3), held_out, _version(2))
    assert not check.passed
    assert "production version 2: 3.6201 (must not be worse)" in check.summary
    table = pd.DataFrame(check.evidence)
    assert list(table.columns) == EVIDENCE_COLUMNS
    assert table[["check", "verdict"]].values.tolist() == [
        ["floor", "pass"],
        ["not worse than production", "fail"],
    ]
    assert table.loc[1, ["candidate", "value", "bound"]].tolist() == [3.6624, 3.6201, "<= 3.6201"]


def test_a_version_equal_to_production_or_better_passes(scores, held_out):
    for candidate in (3.6201, 3.5):
        scores.update({"3": candidate, "2": 3.6201})
        assert validation.production_check(_version(3), held_out, _version(2)).passed, candidate


def test_a_model_that_learned_nothing_fails_the_floor_even_with_nothing_in_production(scores, held_out):
    scores["1"] = mean_baseline_rmse  # predicting the mean fare of the held-out trips themselves
    check = validation.production_check(_version(1), held_out, None)
    assert not check.passed
    floor = check.evidence[0]
    assert (floor["check"], floor["compared with"], floor["verdict"]) == (
        "floor",
        "mean-fare baseline",
        "fail",
    )
    assert float(floor["bound"].removeprefix("<= ")) == pytest.approx(0.5 * floor["value"], abs=1e-3)
    assert len(check.evidence) == 1  # nothing in production: the floor alone


@pytest.fixture
def registry(fake_registry):
    """Version 2 in production, version 3 validated and holding @validated."""
    client = fake_registry()
    client.add(NAME, {"lifecycle": "archived"}, {"lifecycle": "production"}, {"lifecycle": "validated"})
    client.stored(NAME, "2").aliases.append("production")
    client.stored(NAME, "3").aliases.append("validated")
    return client


def test_a_version_refused_at_the_production_gate_keeps_nothing_that_says_it_passed(
    scores, held_out, registry
):
    scores.update({"3": 3.6624, "2": 3.6201})
    with pytest.raises(GateRefused) as caught:
        promote(NAME, 3, "production", validation_data=held_out, client=registry, actor="tester")

    message = str(caught.value)
    assert "version 3 fails the production gate: rmse 3.6624" in message
    assert "Production stays at version 2; version 3 is now 'rejected' (no @validated)" in message
    refused = registry.get_model_version(NAME, "3")
    assert refused.tags["lifecycle"] == "rejected" and refused.aliases == []
    assert "production version 2: 3.6201 (must not be worse)" in refused.tags["production_gate"]
    assert [(m["from"], m["to"]) for m in history(NAME, 3, client=registry)] == [("validated", "rejected")]
    assert registry.get_model_version(NAME, "2").tags["lifecycle"] == "production"
    assert registry.get_model_version(NAME, "2").aliases == ["production"]
    assert caught.value.move.table()["verdict"].tolist() == ["pass", "fail"]

    # tried again: refused again, without a second record; only an override moves it (and says so)
    with pytest.raises(RegistryError, match="is 'rejected': the production gate refused it"):
        promote(NAME, 3, "production", validation_data=held_out, client=registry)
    assert len(history(NAME, 3, client=registry)) == 1
    move = promote(
        NAME, 3, "production", validation_data=held_out, client=registry, override_reason="June fares"
    )
    assert (move.from_state, move.to_state, move.why) == ("rejected", "production", "June fares")
    assert registry.get_model_version(NAME, "3").tags["override_reason"] == "June fares"
    assert registry.get_model_version(NAME, "2").tags["lifecycle"] == "archived"


def test_a_promotion_shows_its_evidence_as_a_table(scores, held_out, registry):
    scores.update({"3": 3.5, "2": 3.6201})
    move = promote(NAME, 3, "production", validation_data=held_out, client=registry, actor="tester")

    assert isinstance(move, Move) and move.to_state == "production"
    html = move._repr_html_()
    assert "<table" in html and "not worse than production" in html and "3.6201" in html
    text = repr(move)
    assert text.startswith(f"{NAME} version 3: validated -> production by tester at ")
    assert "Move(" not in text and "mean-fare baseline" in text and "pass" in text
    assert move.table().values.tolist()[1][:6] == [
        "not worse than production",
        "rmse",
        3.5,
        "production version 2",
        3.6201,
        "<= 3.6201",
    ]


def _fare(number: int, rmse: str):
    return _version(number, lifecycle="candidate", task_type="regression", rmse=rmse)


def test_the_validated_gate_passes_a_file_that_reproduces_its_recorded_held_out_rmse(scores, held_out):
    scores["1"] = 3.643504  # the six significant digits a tag keeps
    check = validation.recompute_metrics(_fare(1, "3.6435"), held_out)
    assert check.passed
    assert check.table()[["check", "verdict"]].values.tolist() == [
        ["reproduces its recorded rmse", "pass"],
        ["floor", "pass"],
    ]


def test_the_validated_gate_refuses_a_file_that_is_not_the_model_measured(scores, held_out):
    scores["1"] = 3.52  # its rmse on other rows (a test split) was recorded, or another file was registered
    check = validation.recompute_metrics(_fare(1, "3.6435"), held_out)
    assert not check.passed
    assert "rmse 3.5200 on the held-out data; recorded 3.6435 (NOT reproduced" in check.summary
    assert [row["verdict"] for row in check.evidence] == ["fail", "pass"]


def test_the_validated_gate_refuses_a_model_that_learned_nothing_even_when_its_record_is_true(
    scores, held_out
):
    frame = prepare_data(held_out, require_coordinates=True)[0]  # the rows the gate reads
    useless = f"{mean_baseline_rmse(frame):.6g}"  # it predicts the mean fare, and its tag says so honestly
    scores["1"] = float(useless)
    check = validation.recompute_metrics(_fare(1, useless), held_out)
    assert not check.passed
    assert [row["verdict"] for row in check.evidence] == ["pass", "fail"]  # reproduced, over the floor


def test_the_lifecycle_history_is_lab_bookkeeping_and_old_registries_still_read(scores, held_out, registry):
    from labhelpers.registry.moves import HISTORY_TAG, recorded_moves

    scores.update({"3": 3.5, "2": 3.6201})
    promote(NAME, 3, "production", validation_data=held_out, client=registry, actor="tester")
    tags = registry.get_model_version(NAME, "3").tags
    assert HISTORY_TAG == "lab.lifecycle_history" and "lifecycle_history" not in tags
    assert [m["to"] for m in recorded_moves(tags)] == ["production"]
    old = {"lifecycle_history": '[{"from": "candidate", "to": "validated"}]'}
    assert recorded_moves(old) == [{"from": "candidate", "to": "validated"}]
    assert recorded_moves({"lab.lifecycle_history": "not json"}) == []
