"""Features a taxi rider would recognise, built from the canonical (cleaned) trip frame."""

from __future__ import annotations

import numpy as np
import pandas as pd

from labhelpers.foundation.errors import TrainingError

#: Every supervised feature this module can build, with what it means to a rider.
SUPERVISED_FEATURES = {
    "trip_distance": "miles driven",
    "duration_min": "minutes from pickup to dropoff",
    "pickup_hour": "hour of the pickup (0-23)",
    "is_night": "pickup between 8 pm and 6 am (overnight extra)",
    "is_weekday_peak": "pickup on a weekday between 4 and 8 pm (peak extra)",
    "is_weekend": "pickup on Saturday or Sunday",
    "passenger_count": "passengers in the cab",
    "is_jfk_flat_fare": "rate code 2: JFK <-> Manhattan flat fare",
    "is_newark": "rate code 3: Newark, metered plus a surcharge",
    "is_negotiated": "rate code 5: fare agreed before the trip",
}
DEFAULT_SUPERVISED_FEATURES = list(SUPERVISED_FEATURES)
TARGET = "fare_amount"

#: KMeans assigns trips to zone clusters from where they start and end.
CLUSTER_FEATURES = ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"]


def _all_supervised(frame: pd.DataFrame) -> dict[str, pd.Series]:
    pickup = frame["pickup_datetime"]
    hour = pickup.dt.hour
    weekday = pickup.dt.dayofweek < 5
    rate = frame["rate_code"].fillna(1)
    return {
        "trip_distance": frame["trip_distance"],
        "duration_min": (frame["dropoff_datetime"] - pickup).dt.total_seconds() / 60.0,
        "pickup_hour": hour,
        "is_night": (hour >= 20) | (hour < 6),
        "is_weekday_peak": weekday & (hour >= 16) & (hour < 20),
        "is_weekend": ~weekday,
        "passenger_count": frame["passenger_count"].fillna(1),
        "is_jfk_flat_fare": rate == 2,
        "is_newark": rate == 3,
        "is_negotiated": rate == 5,
    }


def supervised_xy(frame: pd.DataFrame, features: list[str] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """Build the feature matrix and the fare target.

    Args:
        frame: A cleaned canonical trip frame.
        features: Feature names to use (default: all of ``SUPERVISED_FEATURES``).

    Returns:
        ``(X, y)``: float64 features in the order asked for, and ``fare_amount``.

    Raises:
        TrainingError: A feature name is unknown.
    """
    features = list(features or DEFAULT_SUPERVISED_FEATURES)
    unknown = [name for name in features if name not in SUPERVISED_FEATURES]
    if unknown:
        raise TrainingError(f"Unknown feature(s) {unknown}; choose from {sorted(SUPERVISED_FEATURES)}.")
    columns = _all_supervised(frame)
    X = pd.DataFrame({name: columns[name].to_numpy(dtype=np.float64) for name in features})
    return X, frame[TARGET].astype(np.float64).reset_index(drop=True)


def cluster_x(frame: pd.DataFrame) -> pd.DataFrame:
    """The pickup/dropoff coordinates KMeans clusters on, as float64."""
    return pd.DataFrame({name: frame[name].to_numpy(dtype=np.float64) for name in CLUSTER_FEATURES})
