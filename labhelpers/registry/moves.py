"""A lifecycle move as promotion records it and a notebook shows it: :class:`Move`, and :class:`GateRefused`.

May import ``labhelpers.foundation`` and :mod:`labhelpers.registry.validation` (the evidence's columns);
pandas only when a move is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.validation import EVIDENCE_COLUMNS

if TYPE_CHECKING:
    import pandas as pd


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
