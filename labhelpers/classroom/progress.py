"""Instructor progress: how far each learner got, read from the registry only.

Only version searches by name (one per model), tags and the lifecycle history are read: so it works the same
on the classroom server, a local server and an Azure ML workspace, and needs nothing from learners' machines.
"""

from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from labhelpers.foundation.learner import namespace
from labhelpers.registry.client import RegistryClient, is_not_found
from labhelpers.registry.moves import recorded_moves

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

#: The course's milestones, in order, as table columns.
STEPS = ("registered", "second_version", "validated", "in_production", "pinned", "rolled_back")
#: Exercises passed: ``check()`` tags the learner's fare model ``lab.exercise.NN-N = passed`` (a registry
#: written before the bookkeeping tags moved under ``lab.`` holds ``exercise.NN-N``: both are counted).
EXERCISES = "exercises_passed"
_PASSED = re.compile(r"(?:lab\.)?exercise\.\d\d-\d+$")


def _moves(version: ModelVersion) -> list[dict]:
    return recorded_moves(version.tags)


def learner_row(learner: str, versions_by_model: dict[str, list], model_tags: dict | None = None) -> dict:
    """One learner's milestones from the versions of their three models.

    Args:
        learner: The learner.
        versions_by_model: Versions of each of the learner's model names.
        model_tags: The tags of the learner's fare model (the exercises passed); None: not read.

    Returns:
        learner, versions, one boolean per step in :data:`STEPS`, exercises and the furthest step.
    """
    space = namespace(learner)
    everything = [v for found in versions_by_model.values() for v in found]
    moves = [move for v in everything for move in _moves(v)]
    fare = versions_by_model.get(space.models["linear"], [])
    row = {
        "learner": learner,
        "versions": len(everything),
        "registered": bool(everything),
        "second_version": any(len(found) >= 2 for found in versions_by_model.values()),
        "validated": any(move.get("to") == "validated" for move in moves),
        "in_production": any((v.tags or {}).get("lifecycle") == "production" for v in everything),
        # notebook 04 pins the fare model, the one the deployment serves: promote() writes azureml:NAME:N
        "pinned": any((v.tags or {}).get("production_since") for v in fare),
        "rolled_back": any(
            str(move.get("why", "")).startswith(("rolled back", "rollback")) for move in moves
        ),
        EXERCISES: None
        if model_tags is None
        else sum(1 for key, value in model_tags.items() if _PASSED.match(key) and value == "passed"),
    }
    reached = [step for step in STEPS if row[step]]
    row["furthest"] = reached[-1] if reached else "not started"
    return row


def _model_tags(client: RegistryClient, name: str) -> dict | None:
    """The registered model's tags; None when it is not registered yet (no exercises to count).

    Any other failure (no permission, an unreachable server) is raised: it is not "not started".
    """
    try:
        return dict(client.get_registered_model(name).tags or {})
    except Exception as error:
        if is_not_found(error):
            return None
        raise


def progress(
    learners: list[str] | None = None,
    *,
    state_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    client: RegistryClient | None = None,
) -> pd.DataFrame:
    """One row per learner (see :func:`learner_row`), read from the registry.

    Args:
        learners: Learner names (default: the classroom's roster).
        state_dir: Classroom folder (for the roster and, without a tracking URI, the server).
        tracking_uri: Registry to read (default ``$MLFLOW_TRACKING_URI``, else the classroom as instructor).
        client: An ``MlflowClient`` to use instead (tests).

    Returns:
        The table, in roster order.
    """
    from labhelpers.classroom.folder import instructor_client, roster_learners

    learners = learners or roster_learners(state_dir)
    client = client or instructor_client(state_dir, tracking_uri)
    rows = []
    for learner in learners:
        space = namespace(learner)
        found = {name: list(client.search_model_versions(f"name='{name}'")) for name in space.model_names}
        rows.append(learner_row(learner, found, _model_tags(client, space.models["linear"])))
    return pd.DataFrame(rows, columns=["learner", "versions", *STEPS, EXERCISES, "furthest"])


def as_text(table: pd.DataFrame) -> str:
    """The table for a terminal: yes/- per step, '-' for what the course does not measure."""
    shown = table.copy()
    for step in STEPS:
        shown[step] = shown[step].map({True: "yes", False: "-"})
    shown[EXERCISES] = shown[EXERCISES].map(lambda v: "-" if v is None or pd.isna(v) else v)
    return shown.to_string(index=False)


def _chart_png(table: pd.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display on a server; this only writes a file
    import matplotlib.pyplot as plt

    counts = [int(table[step].sum()) for step in STEPS]
    figure, axes = plt.subplots(figsize=(7, 3))
    axes.barh(list(STEPS)[::-1], counts[::-1], color="#3b7dd8")
    axes.set_xlim(0, max(len(table), 1))
    axes.set_xlabel(f"learners (of {len(table)})")
    axes.set_title("How many learners reached each step")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def write_html(table: pd.DataFrame, path: str | Path) -> Path:
    """Write the table and a bar chart (learners per step) as one self-contained HTML page.

    Returns:
        The page's path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    chart = base64.b64encode(_chart_png(table)).decode()
    body = as_text(table) if table.empty else _html_table(table)
    path.write_text(
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>Classroom progress</title>\n"
        "<style>body{font-family:sans-serif} td,th{padding:2px 8px;text-align:center}</style></head>\n"
        "<body><h1>Classroom progress</h1>\n"
        f"<img alt='learners per step' src='data:image/png;base64,{chart}'>\n"
        f"{body}\n</body></html>\n"
    )
    return path


def _html_table(table: pd.DataFrame) -> str:
    header = "".join(f"<th>{html.escape(str(c))}</th>" for c in table.columns)
    rows = []
    for record in table.to_dict("records"):
        cells = []
        for column in table.columns:
            value = record[column]
            shown = "yes" if value is True else "-" if value is False or value is None else str(value)
            cells.append(f"<td>{html.escape(shown)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table border='1'><tr>{header}</tr>\n" + "\n".join(rows) + "\n</table>"
