"""The chart of a metric across versions says only what it shows, on an axis that does not magnify noise."""

from __future__ import annotations

import pandas as pd

from labhelpers.course.plots import metric_across_versions


def _table(lifecycles: list[str]) -> pd.DataFrame:
    """Two regressors that score almost the same, versions 1 and 2 of each."""
    rows = []
    for name, rmse in (("taxi-fare-linear-regression", 3.5283), ("taxi-fare-ridge-regression", 3.5290)):
        for version, lifecycle in zip((1, 2), lifecycles, strict=True):
            rows.append({"name": name, "version": version, "lifecycle": lifecycle, "rmse": rmse})
            rows[-1]["r2"] = 0.9483
    return pd.DataFrame(rows)


def test_the_title_mentions_production_only_when_a_version_is_in_production():
    before = metric_across_versions(_table(["candidate", "candidate"]))
    assert [ax.get_title() for ax in before.axes] == ["rmse by version", "r2 by version"]
    after = metric_across_versions(_table(["candidate", "production"]))
    assert [ax.get_title() for ax in after.axes] == [
        "rmse by version (ringed: production)",
        "r2 by version (ringed: production)",
    ]


def test_equal_models_look_equal_the_axis_starts_at_zero_and_each_point_shows_its_value():
    figure = metric_across_versions(_table(["candidate", "candidate"]))
    for ax, top in zip(figure.axes, (3.5290, 0.9483), strict=True):
        low, high = ax.get_ylim()
        assert low == 0.0 and top < high < 1.5 * top  # 3.5283 and 3.5290 sit within a pixel or two
    labels = [text.get_text() for text in figure.axes[0].texts]
    assert sorted(labels) == ["3.528", "3.528", "3.529", "3.529"]
