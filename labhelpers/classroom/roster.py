"""The roster (one learner per line) and the credentials file only the instructor can read.

A roster is checked as a whole before anything changes: every invalid name and every duplicate is listed in
one message. Passwords are generated once and kept, so a restart or a roster that grows keeps the passwords
already handed out.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from labhelpers.classroom.policy import suffix_clashes
from labhelpers.files.artifacts import write_text_atomically
from labhelpers.foundation.learner import LearnerError, check_learner

#: The instructor's account: MLflow's basic-auth admin (may read and change everything).
INSTRUCTOR = "instructor"
#: Names a learner may not take: the admin account, and MLflow basic-auth's shipped default admin.
RESERVED = (INSTRUCTOR, "admin")
CREDENTIALS_FILE = "credentials.json"
_PASSWORD_BYTES = 15  # 20 URL-safe characters


class RosterError(LearnerError):
    """The roster cannot be used; nothing was changed."""


def parse_roster(text: str, source: str = "roster") -> list[str]:
    """Learner names from roster text: one per line; blank lines and ``#`` comments are skipped.

    Args:
        text: The roster's content.
        source: Where it came from, for messages.

    Returns:
        The names in file order.

    Raises:
        RosterError: Any name is invalid, reserved or listed twice (all of them are named), or the roster
            lists nobody.
    """
    names: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        name = line.split("#", 1)[0].strip()
        if name:
            names.append((number, name))
    problems = []
    seen: dict[str, int] = {}
    for number, name in names:
        try:
            check_learner(name)
        except LearnerError as error:
            problems.append(f"line {number}: {error}")
        if name in RESERVED:
            problems.append(f"line {number}: {name!r} is reserved for the instructor's account")
        if name in seen:
            problems.append(f"line {number}: {name!r} is already on line {seen[name]}")
        seen.setdefault(name, number)
    problems += [
        f"{long!r} ends in '-{short}', so its names would also end in learner {short!r}'s suffix: rename one"
        for short, long in suffix_clashes(seen)
    ]
    if problems:
        raise RosterError(f"{source} cannot be used, nothing was changed:\n  " + "\n  ".join(problems))
    if not names:
        raise RosterError(f"{source} lists no learner: write one learner name per line.")
    return [name for _, name in names]


def read_roster(path: str | os.PathLike) -> list[str]:
    """The learner names of a roster file (see :func:`parse_roster`).

    Raises:
        RosterError: The file cannot be read, or its content is refused.
    """
    try:
        text = Path(path).read_text()
    except OSError as error:
        raise RosterError(f"Cannot read the roster {path}: {error.strerror}.") from None
    return parse_roster(text, str(path))


@dataclass(frozen=True)
class Credentials:
    """The instructor's and every learner's password, by user name."""

    instructor: str
    learners: dict[str, str]

    def password(self, user: str) -> str:
        """The password of ``user`` (the instructor or a learner)."""
        return self.instructor if user == INSTRUCTOR else self.learners[user]


def _new_password() -> str:
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def load_credentials(path: Path) -> Credentials | None:
    """The stored credentials, or None when there is no file yet."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return Credentials(data["instructor"], dict(data["learners"]))


def ensure_credentials(path: Path, learners: list[str]) -> Credentials:
    """Keep the stored passwords, generate one for each new learner, and store the result (mode 0600).

    Learners who left the roster keep their entry: their account and models still exist until a reset.

    Args:
        path: The credentials file.
        learners: The roster's learners.

    Returns:
        The credentials now stored.
    """
    stored = load_credentials(path) or Credentials(_new_password(), {})
    merged = dict(stored.learners)
    for name in learners:
        merged.setdefault(name, _new_password())
    credentials = Credentials(stored.instructor, merged)
    if credentials != stored or not path.exists():
        payload = {"instructor": credentials.instructor, "learners": credentials.learners}
        write_text_atomically(path, json.dumps(payload, indent=2) + "\n", mode=0o600)
    return credentials


def check_new_learners(credentials_file: Path, learners: list[str]) -> None:
    """Refuse a learner whose namespace would overlap one handed out before (``bob``, then ``team-bob``).

    Args:
        credentials_file: The classroom's credentials, naming every learner it ever had.
        learners: The roster's learners.

    Raises:
        RosterError: Some new learner's name ends in ``-`` plus a known learner's, or the reverse.
    """
    earlier = load_credentials(credentials_file)
    known = set(earlier.learners) if earlier else set()
    clashes = [pair for pair in suffix_clashes(known | set(learners)) if not set(pair) <= known]
    if clashes:
        overlaps = "; ".join(
            f"{long!r} ends in '-{short}', so their names would overlap" for short, long in clashes
        )
        raise RosterError(
            f"The roster cannot be used, nothing was changed: {overlaps}. Rename the new learner."
        )
