"""Learner namespaces: one rule that turns the seed's names into one learner's names, on every backend.

A cohort shares one registry (an Azure ML workspace or the classroom server). Without a namespace every
learner registers the same three models and the same experiment, so one learner's promotion moves everyone's
production pin and ``@latest`` is whoever registered last. A *learner* setting suffixes every name the course
and the ``ML/`` scripts use: ``taxi-fare-linear-regression`` becomes ``taxi-fare-linear-regression-alice``.

The learner comes from an argument (a ``learner=`` parameter, a ``--learner`` flag) or ``$LAB_LEARNER``;
without one, the names are the seed's, exactly as before. Names are plain strings, so references
(``azureml:NAME:3``, ``NAME@latest``), promotion, pins and the catalog work inside a namespace unchanged.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from labhelpers.foundation import config
from labhelpers.foundation.errors import LabError

LEARNER_ENV = "LAB_LEARNER"
#: Version tag naming the learner whose namespace a version belongs to (progress and reset read it).
LEARNER_TAG = "learner"
EXPERIMENT = "taxi-model-registry"
#: The model notebook 02 registers by hand with MLflow's own calls, and the experiment of that run.
BY_HAND = "taxi-fare-by-hand"
BY_HAND_EXPERIMENT = "taxi-by-hand"
#: The shared production model notebook 06 copies the production version into (``copy_model_version``).
SHARED_PRODUCTION = "taxi-fare-production"
#: Deployments live inside the learner's endpoint, so their names need no suffix.
DEPLOYMENTS = ("production", "staging")
#: Short enough for every name it ends: Azure ML online endpoint names (``taxi-fare-<learner>``) have at
#: most 32 characters, and the longest model name stays readable in Studio's lists.
MAX_LEARNER = 13
# Lower case only: Azure ML endpoint names are case-insensitive, so "Alice" and "alice" would collide there.
_LEARNER = re.compile(rf"^[a-z](?:[a-z0-9-]{{0,{MAX_LEARNER - 2}}}[a-z0-9])?$")
_KEYS = ("linear", "ridge", "kmeans")


class LearnerError(LabError):
    """A learner name that would break an Azure ML or MLflow name."""


def check_learner(name: str) -> str:
    """Return ``name`` when it is a valid learner name, else raise saying why and what would do.

    Args:
        name: The learner name, e.g. ``alice`` or ``team-3``.

    Returns:
        The same name.

    Raises:
        LearnerError: It is not 1-13 lower-case letters, digits or '-', starting with a letter and not
            ending with '-', or it holds '--'.
    """
    if not isinstance(name, str) or not _LEARNER.match(name) or "--" in name:
        raise LearnerError(
            f"Invalid learner name {name!r}: use 1-{MAX_LEARNER} lower-case letters, digits or '-', "
            "starting with a letter, ending with a letter or digit, no '--' (it becomes part of Azure ML "
            f"model and endpoint names such as {config.ENDPOINT_BASE}-alice), e.g. 'alice' or 'team-3'."
        )
    return name


def current_learner(explicit: str | None = None) -> str | None:
    """The learner in effect: the argument, else ``$LAB_LEARNER``, else None (the seed's names).

    Args:
        explicit: A learner chosen by the caller (a notebook parameter, a ``--learner`` flag).

    Returns:
        The checked learner name, or None when neither is set (empty values count as unset).

    Raises:
        LearnerError: The name is invalid (see :func:`check_learner`).
    """
    for candidate in (explicit, os.environ.get(LEARNER_ENV)):
        if candidate is not None and str(candidate).strip():
            return check_learner(str(candidate).strip())
    return None


def _suffixed(name: str, learner: str | None) -> str:
    return f"{name}-{learner}" if learner else name


@dataclass(frozen=True)
class Namespace:
    """Every name the course and the ``ML/`` scripts use, for one learner (or the seed's, learner None)."""

    learner: str | None
    models: dict[str, str]  # keyed linear, ridge, kmeans
    experiment: str
    endpoint: str
    deployments: tuple[str, ...] = DEPLOYMENTS
    by_hand: str = BY_HAND  # notebook 02's teaching model, apart from the course's three
    by_hand_experiment: str = BY_HAND_EXPERIMENT
    shared_production: str = SHARED_PRODUCTION  # notebook 06's copy of the production version

    @property
    def model_names(self) -> tuple[str, ...]:
        """The three registered names, in the order linear, ridge, kmeans."""
        return tuple(self.models[key] for key in _KEYS)

    def owns(self, model_name: str) -> bool:
        """True when ``model_name`` is one of this namespace's three registered names."""
        return model_name in self.model_names


def namespace(learner: str | None = None) -> Namespace:
    """The names for ``learner`` (default ``$LAB_LEARNER``); the seed's names when there is none.

    Args:
        learner: Learner name; None reads ``$LAB_LEARNER``.

    Returns:
        Model names (``taxi-fare-linear-regression-alice``...), the experiment
        (``taxi-model-registry-alice``), the endpoint (``taxi-fare-alice``; see
        :func:`labhelpers.foundation.config.endpoint_name`) and deployments.

    Raises:
        LearnerError: The learner name is invalid.
    """
    who = current_learner(learner)
    seed = dict(zip(_KEYS, config.MODEL_NAMES, strict=True))
    return Namespace(
        learner=who,
        models={key: _suffixed(name, who) for key, name in seed.items()},
        experiment=_suffixed(EXPERIMENT, who),
        endpoint=config.endpoint_name(who),
        by_hand=_suffixed(BY_HAND, who),
        by_hand_experiment=_suffixed(BY_HAND_EXPERIMENT, who),
        shared_production=_suffixed(SHARED_PRODUCTION, who),
    )
