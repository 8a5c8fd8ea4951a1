"""Rosters are checked as a whole; passwords are generated once, kept, and readable by the owner only."""

from __future__ import annotations

import stat

import pytest

from labhelpers.classroom.roster import (
    INSTRUCTOR,
    RosterError,
    ensure_credentials,
    load_credentials,
    parse_roster,
    read_roster,
)


def test_a_roster_is_one_learner_per_line_with_comments_and_blank_lines():
    assert parse_roster("# cohort 3\nalice\n\nbob  # late joiner\n  carol\n") == ["alice", "bob", "carol"]


def test_every_problem_of_a_roster_is_named_in_one_message():
    with pytest.raises(RosterError) as refused:
        parse_roster("alice\nBob\nalice\ninstructor\nal ice\n")
    message = str(refused.value)
    assert "line 2" in message and "line 3: 'alice' is already on line 1" in message
    assert "line 4: 'instructor' is reserved" in message and "line 5" in message


@pytest.mark.parametrize("text", ["", "# nobody yet\n\n"])
def test_an_empty_roster_is_refused(text):
    with pytest.raises(RosterError, match="lists no learner"):
        parse_roster(text)


def test_an_unreadable_roster_is_refused(tmp_path):
    with pytest.raises(RosterError, match="Cannot read the roster"):
        read_roster(tmp_path / "missing.txt")


def test_passwords_are_private_kept_and_added_for_new_learners(tmp_path):
    path = tmp_path / "credentials.json"
    first = ensure_credentials(path, ["alice", "bob"])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len({first.instructor, *first.learners.values()}) == 3  # all different
    second = ensure_credentials(path, ["alice", "bob", "carol"])
    assert second.instructor == first.instructor
    assert {k: second.learners[k] for k in ("alice", "bob")} == first.learners
    assert load_credentials(path) == second
    assert second.password(INSTRUCTOR) == first.instructor
