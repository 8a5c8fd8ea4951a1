"""A lifecycle move: the states, how promotion records a move on the version, and how a notebook shows it.

The ``lifecycle`` version tag carries the state on every backend (Azure ML documents no aliases and Studio
shows tags); where the registry has aliases (it says so in its answers, see
:mod:`labhelpers.registry.capabilities`) aliases of the same names mirror it. :func:`record_move` writes each
move on the version itself: who, when, from, to and why, plus a JSON history of all its moves; the evidence
of the gate that decided it rides on the returned :class:`Move`. :class:`GateRefused` is a gate's refusal.

May import ``labhelpers.foundation``, :mod:`labhelpers.registry.validation` (the evidence's columns),
``capabilities`` and ``client``; pandas only when a move is shown.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from labhelpers.foundation.config import login_name
from labhelpers.foundation.errors import RegistryError
from labhelpers.registry import capabilities
from labhelpers.registry.client import RegistryClient
from labhelpers.registry.validation import EVIDENCE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd
    from mlflow.entities.model_registry import ModelVersion

CANDIDATE, VALIDATED, PRODUCTION, ARCHIVED = "candidate", "validated", "production", "archived"
REJECTED = "rejected"  # refused at the production gate: no alias; production only by an override
#: The JSON list of a version's moves: lab bookkeeping, under the ``lab.`` prefix of internal tags.
HISTORY_TAG = "lab.lifecycle_history"
#: Where registries written before the ``lab.`` prefix keep it; read, never written.
OLD_HISTORY_TAG = "lifecycle_history"


@dataclass(frozen=True, repr=False)
class Move:
    """One recorded change of lifecycle, with the evidence of the gate that decided it (if one did).

    In a notebook it shows as one line (who moved which version where, and why) above the evidence table:
    one row per bound (candidate, what it is compared with, metric, bound, verdict).
    """

    name: str
    version: str
    from_state: str
    to_state: str
    by: str
    at: str
    why: str
    evidence: tuple = field(default=(), compare=False)

    def as_dict(self) -> dict:
        return {"from": self.from_state, "to": self.to_state, "by": self.by, "at": self.at, "why": self.why}

    def headline(self) -> str:
        return (
            f"{self.name} version {self.version}: {self.from_state} -> {self.to_state} "
            f"by {self.by} at {self.at} ({self.why})"
        )

    def table(self) -> pd.DataFrame:
        """The evidence as a frame (no rows for a move no gate decided, such as a rollback)."""
        import pandas as pd

        return pd.DataFrame(list(self.evidence), columns=EVIDENCE_COLUMNS)

    def __repr__(self) -> str:
        if not self.evidence:
            return self.headline()
        return f"{self.headline()}\n{self.table().to_string(index=False)}"

    def _repr_html_(self) -> str:
        import html

        heading = f"<p>{html.escape(self.headline())}</p>"
        return heading + (self.table().to_html(index=False) if self.evidence else "")


class GateRefused(RegistryError):
    """A gate refused a version; ``move`` holds the evidence (the production gate: the recorded rejection)."""

    def __init__(self, message: str, move: Move):
        super().__init__(message)
        self.move = move


def recorded_moves(tags: dict | None) -> list[dict]:
    """The moves recorded in a version's tags, oldest first (also under the tag's name before ``lab.``).

    A history that is not valid JSON reads as none: it is bookkeeping, and the ``lifecycle`` tag still says
    where the version stands.
    """
    tags = tags or {}
    try:
        return list(json.loads(tags.get(HISTORY_TAG) or tags.get(OLD_HISTORY_TAG) or "[]"))
    except ValueError:
        return []


def actor_name(actor: str | None) -> str:
    """Who moves a version: ``actor``, else ``$LAB_ACTOR``, else the login name."""
    return actor or os.environ.get("LAB_ACTOR") or login_name()


def record_move(
    client: RegistryClient,
    mv: ModelVersion,
    to_state: str,
    why: str,
    actor: str | None,
    extra: dict | None = None,
    evidence: list | None = None,
) -> Move:
    """Write the move on the version (tags), mirror it as an alias where possible, and return it."""
    tags = mv.tags or {}
    move = Move(
        mv.name,
        str(mv.version),
        tags.get("lifecycle", CANDIDATE),
        to_state,
        actor_name(actor),
        datetime.now(timezone.utc).isoformat(timespec="seconds"),
        why,
        tuple(evidence or ()),
    )
    history = recorded_moves(tags) + [move.as_dict()]
    updates = {
        "lifecycle": to_state,
        "lifecycle_from": move.from_state,
        "lifecycle_by": move.by,
        "lifecycle_at": move.at,
        "lifecycle_reason": why,
        HISTORY_TAG: json.dumps(history),
    }
    tagger = capabilities.writes(client)
    for key, value in {**updates, **(extra or {})}.items():
        tagger.set_model_version_tag(mv.name, str(mv.version), key, str(value))
    # aliases mirror the tag where the registry has them; it answers whether it does (capabilities)
    if move.from_state in (getattr(mv, "aliases", None) or []):
        capabilities.delete_alias(client, mv.name, move.from_state)
    if to_state not in (ARCHIVED, REJECTED):  # no alias says an archived or refused version is current
        capabilities.set_alias(client, mv.name, to_state, mv.version)
    return move
