"""Charts for the course: a first look at the trips, and metrics across registered versions.

Every function builds a figure directly, never through ``pyplot``: no global figure state, no GUI backend
needed, nothing shown twice in a notebook, and the same code works in a script or a CI job (save it with
``fig.savefig(...)``). A notebook displays the returned figure as a PNG.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from itertools import cycle

import pandas as pd
from matplotlib.figure import Figure

from labhelpers.data.cleaning import NYC_LATITUDE, NYC_LONGITUDE
from labhelpers.foundation.errors import LabError

#: At most this many trips are drawn: a scatter of a whole month is a black square and takes minutes.
MAX_POINTS = 5_000
_MARKERS = ("o", "s", "^", "D", "v", "P")


class NotebookFigure(Figure):
    """A Figure that Jupyter shows as a PNG even when ``pyplot`` (and its inline hook) was never imported."""

    def _repr_png_(self) -> bytes:
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100)
        return buffer.getvalue()


def _sample(frame: pd.DataFrame, max_points: int, seed: int = 0) -> pd.DataFrame:
    return frame.sample(max_points, random_state=seed) if len(frame) > max_points else frame


def data_overview(
    frame: pd.DataFrame, clusters: Sequence[int] | None = None, *, max_points: int = MAX_POINTS
) -> Figure:
    """Fare against distance, and where the trips start (coloured by cluster when ``clusters`` is given).

    Args:
        frame: A canonical trip frame (see :func:`labhelpers.prepare_data`).
        clusters: One cluster label per row of ``frame`` (e.g. a KMeans model's ``predict``), optional.
        max_points: Trips drawn at most (a seeded sample of the frame).

    Returns:
        A figure with two axes: ``fare_amount`` vs ``trip_distance``, and the pickup map.
    """
    shown = frame.assign(cluster=list(clusters)) if clusters is not None else frame
    shown = _sample(shown, max_points)
    fig = NotebookFigure(figsize=(11, 4.2), layout="constrained")
    fares, pickups = fig.subplots(1, 2)
    fares.scatter(shown["trip_distance"], shown["fare_amount"], s=4, alpha=0.35)
    fares.set(xlabel="trip distance (miles)", ylabel="fare ($)", title="Fare grows with distance")
    # zero or missing coordinates would squash the map into a corner
    located = shown[
        shown["pickup_latitude"].between(*NYC_LATITUDE) & shown["pickup_longitude"].between(*NYC_LONGITUDE)
    ]
    colours = {"c": located["cluster"], "cmap": "tab10"} if "cluster" in located else {}
    longitude, latitude = located["pickup_longitude"], located["pickup_latitude"]
    points = pickups.scatter(longitude, latitude, s=3, alpha=0.5, **colours)
    if colours:
        fig.colorbar(points, ax=pickups, label="cluster")
    pickups.set(xlabel="longitude", ylabel="latitude", title="Pickups inside New York City")
    pickups.set_aspect(1.3)  # ~1/cos(40.7 deg): a degree of longitude is shorter than one of latitude
    fig.suptitle(f"{len(shown):,} of {len(frame):,} trips")
    return fig


def metric_across_versions(
    table: pd.DataFrame, metrics: Sequence[str] = ("rmse", "r2"), *, names: Sequence[str] | None = None
) -> Figure:
    """One panel per metric: its value for each version, one line per registered model.

    Production versions are ringed, so a learner sees which version the deployment uses (the title says so
    only when one is). Each point carries its value, and the axis starts at zero (or below, for a negative
    value): versions that score the same look the same, however small the axis would otherwise zoom.

    Args:
        table: The frame of :func:`~labhelpers.registry.catalog.comparison_table` (columns name,
            version, lifecycle and the metric columns).
        metrics: Metric columns to plot.
        names: Models to show (default: every model with a value for the first metric, i.e. the
            regressors for rmse/r2).

    Returns:
        The figure.

    Raises:
        LabError: A metric column is missing, or no version has a value to plot.
    """
    missing = [m for m in (*metrics, "name", "version", "lifecycle") if m not in table.columns]
    if missing:
        raise LabError(f"The table lacks columns {missing}; pass the frame of comparison_table().")
    rows = table.dropna(subset=[metrics[0]])
    if names is not None:
        rows = rows[rows["name"].isin(names)]
    if rows.empty:
        raise LabError(f"No version has a {metrics[0]} value to plot: register models first (notebook 02).")
    fig = NotebookFigure(figsize=(5.5 * len(metrics), 3.8), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    ringed = (rows["lifecycle"] == "production").any()
    for ax, metric in zip(axes, metrics, strict=True):
        groups = rows.groupby("name", sort=True)
        for n, (marker, (name, versions)) in enumerate(zip(cycle(_MARKERS), groups, strict=False)):
            versions = versions.sort_values("version")
            # hollow markers: models with equal values (linear and ridge often are) stay visible
            ax.plot(versions["version"], versions[metric], marker=marker, fillstyle="none", label=name)
            live = versions[versions["lifecycle"] == "production"]
            ax.scatter(live["version"], live[metric], s=160, facecolors="none", edgecolors="black")
            above = (0, 6 + 10 * n)  # each model's labels a line higher: equal values stay readable
            for version, value in zip(versions["version"], versions[metric], strict=True):
                ax.annotate(f"{value:.4g}", (version, value), textcoords="offset points", xytext=above,
                            ha="center", fontsize="x-small")  # fmt: skip
        values = rows[metric].astype(float)
        ax.set_ylim(min(0.0, values.min() * 1.1), max(0.0, values.max()) * 1.25 or 1.0)
        title = f"{metric} by version" + (" (ringed: production)" if ringed else "")
        ax.set(xlabel="version", ylabel=metric, title=title)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].legend(fontsize="small")
    return fig
