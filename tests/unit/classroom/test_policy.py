"""The learner policy's rules on plain values: names, overlapping learners, runs named twice, route tables."""

from __future__ import annotations

import pytest

from labhelpers.classroom import policy
from labhelpers.classroom.folder import secrets_of
from labhelpers.classroom.roster import RosterError, parse_roster


@pytest.mark.parametrize("name", ["taxi-fare-by-hand-alice", "my-own-alice", "x-alice"])
def test_names_ending_in_the_learners_suffix_are_theirs(name):
    assert policy.name_problem(name, "alice") is None


@pytest.mark.parametrize(
    "name", ["*", "-alice", "alice", "taxi-fare-by-hand-bob", "taxi-fare-by-hand", "x-alice-bob", "", None, 3]
)
def test_every_other_name_is_refused_with_the_names_that_are_theirs(name):
    problem = policy.name_problem(name, "alice")
    assert problem is not None
    if isinstance(name, str) and name.strip():
        assert "'-alice'" in problem


def test_a_roster_whose_namespaces_overlap_is_refused_naming_the_pair():
    with pytest.raises(RosterError, match="'team-b' ends in '-b'"):
        parse_roster("b\nteam-b\n")
    assert parse_roster("bob\nteam-3\nteam-33\n") == ["bob", "team-3", "team-33"]  # no suffix of another
    assert policy.suffix_clashes(["a-b-c", "b-c", "c"]) == [("b-c", "a-b-c"), ("c", "a-b-c"), ("c", "b-c")]


def test_a_request_naming_two_runs_is_seen_in_the_query_and_the_body():
    assert policy.run_ids_named({"run_id": ["a"], "run_uuid": ["b"]}, None) == {"a", "b"}
    assert policy.run_ids_named({"run_id": ["a", "b"]}, None) == {"a", "b"}
    assert policy.run_ids_named({}, {"run_id": "a", "run_uuid": "b"}) == {"a", "b"}
    assert policy.run_ids_named({"run_id": ["a"]}, {"run_uuid": "a"}) == {"a"}
    assert policy.run_ids_named({}, ["not", "a", "dict"]) == set()


@pytest.mark.parametrize(
    ("rule", "method", "kind"),
    [
        ("/api/2.0/mlflow/registered-models/search", "GET", policy.READ),
        ("/ajax-api/2.0/mlflow/runs/search", "POST", policy.READ),
        ("/api/2.0/mlflow/runs/log-batch", "POST", policy.VALIDATED),
        ("/ajax-api/2.0/mlflow/registered-models/create", "POST", policy.NAMED),
        ("/api/2.0/mlflow/users/list", "GET", policy.REFUSED),
        ("/api/3.0/mlflow/datasets/<dataset_id>", "DELETE", policy.REFUSED),
        ("/api/2.0/mlflow/experiments/delete", "POST", policy.REFUSED),
        ("/api/9.9/mlflow/something-new", "POST", policy.REFUSED),
    ],
)
def test_routes_are_read_written_under_a_check_or_refused(rule, method, kind):
    assert policy.decide(rule, method).kind == kind


def test_a_route_in_no_table_is_refused_as_not_reviewed():
    decision = policy.decide("/api/9.9/mlflow/something-new", "POST")
    assert not decision.allowed and decision.reason == policy.UNREVIEWED
    assert not policy.reviewed("/api/9.9/mlflow/something-new", "POST")
    assert policy.reviewed("/api/3.0/mlflow/gateway/secrets/create", "POST")


def test_secrets_gain_a_kek_passphrase_and_keep_what_they_held(tmp_path):
    (tmp_path / "secrets.json").write_text('{"postgres": "p", "flask": "f"}\n')
    values = secrets_of(tmp_path)
    assert values["postgres"] == "p" and values["flask"] == "f" and len(values["kek"]) >= 32
    assert secrets_of(tmp_path) == values  # made once, then kept
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
