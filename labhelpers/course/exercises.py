"""The "Your turn" tasks at the end of notebooks 01-06, and the checks that say whether they are done.

``check("02-1")`` looks at the learner's own registry (or at the answer passed to it) and returns a
:class:`Verdict`: ``correct`` with what was verified, or ``not yet`` with a hint that says what is still
missing, never the answer itself. Every check fails on a registry the learner has not touched. Reference
solutions for instructors are in ``solutions/`` at the project root, outside the course. The checks
themselves are in ``checks_01_03``, ``checks_04_05`` and ``checks_06``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from labhelpers.course import checks_01_03 as early
from labhelpers.course import checks_04_05 as late
from labhelpers.course import checks_06 as governance
from labhelpers.foundation.errors import LabError
from labhelpers.foundation.learner import namespace
from labhelpers.registry.client import RegistryClient

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """The outcome of a check: ``bool(verdict)`` is whether the task is done; printing it says why."""

    exercise: str
    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return f"{self.exercise}: {'correct' if self.passed else 'not yet'}: {self.message}"

    __repr__ = __str__


def _client(client: RegistryClient | None) -> RegistryClient:
    if client is not None:
        return client
    from mlflow import MlflowClient

    return MlflowClient()


CHECKS: dict[str, Callable] = {
    "01-1": early.check_01_1,
    "01-2": early.check_01_2,
    "02-1": early.check_02_1,
    "02-2": early.check_02_2,
    "03-1": early.check_03_1,
    "03-2": early.check_03_2,
    "04-1": late.check_04_1,
    "04-2": late.check_04_2,
    "04-3": late.check_04_3,
    "05-1": late.check_05_1,
    "05-2": late.check_05_2,
    # notebook 06's (checks_06)
    "06-1": governance.check_06_1,
    "06-2": governance.check_06_2,
    "06-3": governance.check_06_3,
}


def check(exercise: str, answer: Any = None, *, client: RegistryClient | None = None) -> Verdict:
    """Say whether a "Your turn" task is done, with a hint when it is not.

    Args:
        exercise: The task's number, e.g. ``"02-1"`` (the notebook, then the task).
        answer: The task's answer, when it asks for one (a folder, a number, a reference).
        client: An ``MlflowClient`` (default: one for the current tracking URI).

    Returns:
        The verdict; it prints as ``02-1: correct: ...`` or ``02-1: not yet: <hint>``.

    Raises:
        LabError: No task has that number.
    """
    if exercise not in CHECKS:
        raise LabError(f"No exercise {exercise!r}; the exercises are {', '.join(CHECKS)}.")
    registry = _client(client)  # every check reads the learner's tracking server
    try:
        passed, message = CHECKS[exercise](answer, registry)
    except LabError as error:  # e.g. a checksum that no longer matches: a hint, not a traceback
        passed, message = False, str(error)
    if passed:
        record_pass(registry, exercise)
    return Verdict(exercise, passed, message)


#: The tag on the learner's fare model that says an exercise was passed: ``lab.exercise.02-1 = passed``.
PASSED_TAG = "lab.exercise.{}"


def record_pass(client: RegistryClient, exercise: str) -> bool:
    """Tag the learner's fare model with the passed exercise, so the instructor's progress table shows it.

    Only the registry is read for progress (it works the same on a classroom server and on Azure ML), so
    the pass is written there. Never fails a check: a registry that refuses the tag loses only the record.
    """
    from mlflow.exceptions import MlflowException

    name = namespace().models["linear"]
    try:
        client.set_registered_model_tag(name, PASSED_TAG.format(exercise), "passed")
        return True
    except MlflowException as error:  # no such model yet, no permission, a registry without model tags
        _log.info("exercise %s passed but not recorded on %s: %s", exercise, name, error)
        return False
