"""Rider features are built from the canonical frame, in the order asked for."""

from __future__ import annotations

import pandas as pd
import pytest

from labhelpers.foundation.errors import TrainingError
from labhelpers.training.features import (
    CLUSTER_FEATURES,
    DEFAULT_SUPERVISED_FEATURES,
    cluster_x,
    supervised_xy,
)


def test_default_features_and_target(clean_frame):
    X, y = supervised_xy(clean_frame)
    assert list(X.columns) == DEFAULT_SUPERVISED_FEATURES
    assert len(X) == len(y) == len(clean_frame)
    assert (X.dtypes == "float64").all()
    assert y.tolist() == clean_frame.fare_amount.tolist()


def test_values_match_the_trip():
    frame = pd.DataFrame(
        {
            "pickup_datetime": pd.to_datetime(
                ["2016-03-04 17:30:00", "2016-03-05 23:00:00"]
            ),  # Fri peak, Sat night
            "dropoff_datetime": pd.to_datetime(["2016-03-04 17:45:30", "2016-03-05 23:10:00"]),
            "trip_distance": [2.0, 17.5],
            "passenger_count": pd.array([1, pd.NA], dtype="Int64"),
            "rate_code": pd.array([1, 2], dtype="Int64"),
            "fare_amount": [12.0, 52.0],
        }
    )
    X, _ = supervised_xy(frame)
    assert X.duration_min.tolist() == [15.5, 10.0]
    assert X.is_weekday_peak.tolist() == [1.0, 0.0]
    assert X.is_night.tolist() == [0.0, 1.0]
    assert X.is_weekend.tolist() == [0.0, 1.0]
    assert X.is_jfk_flat_fare.tolist() == [0.0, 1.0]
    assert X.passenger_count.tolist() == [1.0, 1.0]


def test_subset_keeps_order_and_unknown_feature_is_named(clean_frame):
    X, _ = supervised_xy(clean_frame, ["duration_min", "trip_distance"])
    assert list(X.columns) == ["duration_min", "trip_distance"]
    with pytest.raises(TrainingError, match="tip_percent"):
        supervised_xy(clean_frame, ["trip_distance", "tip_percent"])


def test_cluster_features_are_the_coordinates(clean_frame):
    X = cluster_x(clean_frame)
    assert list(X.columns) == CLUSTER_FEATURES
    assert X.notna().all().all()
