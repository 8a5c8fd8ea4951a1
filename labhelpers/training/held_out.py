"""The course's one fixed held-out set: every fare model in the course is scored on these trips.

The trips are generated like the shipped sample, from their own seed (2017), for July 2016. The sample and
the retraining months cover January to June 2016, so no model of the course was fitted on a single one of
these rows, and every rmse the course shows (tracked runs, registered versions, the promotion gates) is
measured on the same 5,000 generated trips: any two numbers can be compared.

May import ``labhelpers.data`` and ``labhelpers.foundation``; part of ``labhelpers.training``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pandas as pd

#: Rows generated for the held-out month before cleaning, its seed, and its first and last (exclusive) day.
HELD_OUT_ROWS = 5_000
HELD_OUT_SEED = 2017
HELD_OUT_MONTH = ("2016-07-01", "2016-08-01")


@lru_cache(maxsize=1)
def _held_out() -> tuple[pd.DataFrame, str]:
    from labhelpers.data.cleaning import clean_trips, data_version
    from labhelpers.data.load import to_canonical
    from labhelpers.data.sample import generate_trips

    raw = generate_trips(HELD_OUT_ROWS, HELD_OUT_SEED, start=HELD_OUT_MONTH[0], end=HELD_OUT_MONTH[1])
    frame, _ = clean_trips(
        to_canonical(raw, source="the course's held-out month")[0], require_coordinates=True
    )
    return frame, data_version(frame)


def held_out_trips() -> tuple[pd.DataFrame, str]:
    """The held-out trips, cleaned, and their data version (a digest of the cleaned rows).

    Returns:
        A copy of the cleaned frame (callers may change it) and its ``sha256:...`` data version.
    """
    frame, version = _held_out()
    return frame.copy(), version


def held_out_description() -> dict[str, object]:
    """Which rows a training step scored its fare models on, for its metrics JSON."""
    frame, version = _held_out()
    return {
        "rows": len(frame),
        "month": "-".join(HELD_OUT_MONTH),
        "seed": HELD_OUT_SEED,
        "data_version": version,
    }


def score_fare_model(model: Any, features: list[str]) -> dict[str, float]:
    """rmse, mae and r2 of a fitted fare model on the held-out trips.

    Args:
        model: Anything with ``predict`` taking a frame of ``features`` (a scikit-learn or pyfunc model).
        features: The feature names the model was trained on, in order.

    Returns:
        ``{"rmse": ..., "mae": ..., "r2": ...}`` as plain floats.
    """
    from labhelpers.training.features import supervised_xy
    from labhelpers.training.train import regression_metrics

    frame, _ = _held_out()
    X, y = supervised_xy(frame, list(features))
    return regression_metrics(y.to_numpy(), model.predict(X))
