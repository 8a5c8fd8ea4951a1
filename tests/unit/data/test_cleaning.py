"""Cleaning rules, their report, and the content-based data version."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from labhelpers.data.cleaning import COORDINATE_RULES, RULES, CleaningReport, clean_trips, data_version
from labhelpers.data.load import CANONICAL_COLUMNS, CANONICAL_DTYPES
from labhelpers.foundation.errors import DataError

GOOD = {
    "vendor_id": 1,
    "pickup_datetime": "2015-01-15 19:05:00",
    "dropoff_datetime": "2015-01-15 19:25:00",
    "passenger_count": 1,
    "trip_distance": 2.5,
    "pu_location_id": None,
    "do_location_id": None,
    "pickup_longitude": -73.99,
    "pickup_latitude": 40.75,
    "dropoff_longitude": -73.97,
    "dropoff_latitude": 40.76,
    "rate_code": 1,
    "store_and_fwd_flag": "N",
    "payment_type": 1,
    "fare_amount": 12.0,
    "extra": 0.5,
    "mta_tax": 0.5,
    "improvement_surcharge": 0.3,
    "tip_amount": 2.0,
    "tolls_amount": 0.0,
    "total_amount": 15.3,
}


def trips(*changes: dict[str, object]) -> pd.DataFrame:
    """A canonical frame: one row per dict of changes to a good trip."""
    rows = [{**GOOD, **change} for change in changes]
    frame = pd.DataFrame(rows, columns=CANONICAL_COLUMNS)
    for name in ("pickup_datetime", "dropoff_datetime"):
        frame[name] = pd.to_datetime(frame[name])
    return frame.astype(CANONICAL_DTYPES)


def test_each_rule_drops_its_rows_and_the_report_counts_them() -> None:
    frame = trips(
        {},
        {"pickup_datetime": None},
        {"dropoff_datetime": None},
        {"dropoff_datetime": "2015-01-15 19:05:00"},  # zero duration
        {"dropoff_datetime": "2015-01-15 18:00:00"},  # negative duration
        {"dropoff_datetime": "2015-01-16 19:05:00"},  # a day-long trip
        {"trip_distance": 0.0},
        {"trip_distance": -1.0},
        {"trip_distance": 150.0},
        {"trip_distance": np.nan},
        {"fare_amount": -12.0},  # a refund
        {"fare_amount": 0.0},
        {"fare_amount": 900.0},
        {"fare_amount": np.nan},
        {"pickup_longitude": 0.0, "pickup_latitude": 0.0},  # kept: coordinates not required
    )

    cleaned, report = clean_trips(frame)

    assert report.dropped == {
        "missing_time": 2,
        "non_positive_duration": 2,
        "duration_over_3h": 1,
        "distance_out_of_range": 4,
        "fare_out_of_range": 4,
    }
    assert list(report.dropped) == [rule.name for rule in RULES]
    assert (report.rows_in, report.rows_out) == (15, 2)
    assert len(cleaned) == 2
    assert cleaned.index.equals(pd.RangeIndex(2))
    assert list(cleaned.columns) == CANONICAL_COLUMNS
    assert cleaned.dtypes.equals(frame.dtypes)


def test_a_row_is_counted_by_the_first_rule_it_breaks() -> None:
    frame = trips({}, {"pickup_datetime": None, "trip_distance": 0.0, "fare_amount": -1.0})

    _, report = clean_trips(frame)

    assert report.dropped["missing_time"] == 1
    assert sum(report.dropped.values()) == 1


def test_limits_are_inclusive() -> None:
    frame = trips(
        {"dropoff_datetime": "2015-01-15 22:05:00"},  # exactly 3 hours
        {"trip_distance": 100.0},
        {"fare_amount": 500.0},
        {"trip_distance": 0.01, "fare_amount": 0.01},
    )

    cleaned, report = clean_trips(frame)

    assert report.rows_out == 4
    pd.testing.assert_frame_equal(cleaned, frame)


def test_cleaning_leaves_the_input_frame_alone() -> None:
    frame = trips({}, {"fare_amount": -5.0}).set_axis([7, 9])
    before = frame.copy()

    cleaned, _ = clean_trips(frame)

    pd.testing.assert_frame_equal(frame, before)
    assert cleaned["fare_amount"].tolist() == [12.0]


def test_coordinates_outside_nyc_are_dropped_when_required() -> None:
    frame = trips(
        {},
        {"pickup_longitude": 0.0, "pickup_latitude": 0.0},
        {"dropoff_longitude": 0.0, "dropoff_latitude": 0.0},
        {"pickup_latitude": 42.5},  # upstate
        {"dropoff_longitude": -75.0},  # New Jersey, west of the box
        {"pickup_longitude": np.nan},
        {"fare_amount": 0.0, "pickup_latitude": 0.0},  # dropped by the fare rule first
        {"pickup_latitude": 40.45, "dropoff_longitude": -73.65},  # on the edge: kept
    )

    cleaned, report = clean_trips(frame, require_coordinates=True)

    assert list(report.dropped) == [rule.name for rule in RULES + COORDINATE_RULES]
    assert report.dropped["outside_nyc"] == 5
    assert report.dropped["fare_out_of_range"] == 1
    assert report.rows_out == 2
    assert cleaned["pickup_latitude"].tolist() == [40.75, 40.45]


def test_required_coordinates_on_data_without_any() -> None:
    frame = trips({}, {}).assign(
        pickup_longitude=np.nan, pickup_latitude=np.nan, dropoff_longitude=np.nan, dropoff_latitude=np.nan
    )

    with pytest.raises(DataError) as caught:
        clean_trips(frame, require_coordinates=True, source="yellow_tripdata_2023-01.parquet")

    message = str(caught.value)
    assert "yellow_tripdata_2023-01.parquet" in message
    assert "no pickup/dropoff coordinates" in message
    assert "zone ids" in message and "clustering" in message
    assert "Azure Open Datasets" in message and "2016 or earlier" in message
    assert clean_trips(frame)[1].rows_out == 2  # without the requirement the rows are fine


def test_all_rows_dropped_names_source_rows_and_rule_counts() -> None:
    frame = trips({"fare_amount": -1.0}, {"fare_amount": -2.0}, {"trip_distance": 0.0})

    with pytest.raises(DataError) as caught:
        clean_trips(frame, source="refunds.csv")

    message = str(caught.value)
    assert "refunds.csv" in message
    assert "all 3 rows" in message
    assert "fare_out_of_range: 2" in message and "distance_out_of_range: 1" in message


def test_empty_frame_raises() -> None:
    with pytest.raises(DataError, match="all 0 rows"):
        clean_trips(trips({}).iloc[:0])


def test_frame_without_canonical_columns_raises() -> None:
    with pytest.raises(DataError, match="lacks columns.*fare_amount"):
        clean_trips(trips({}).drop(columns=["fare_amount"]))


def test_report_text() -> None:
    _, report = clean_trips(trips({}, {}, {"fare_amount": -1.0}, {"trip_distance": 0.0}))

    assert report.dropped["fare_out_of_range"] == 1 and sum(report.dropped.values()) == 2
    text = str(report)
    assert "Kept 2 of 4 rows (50.0%)" in text
    assert re.search(r"fare_out_of_range\s+1 dropped", text)


def test_the_report_lists_the_rules_only_coordinate_data_passes_through() -> None:
    """The fare models' report also counts what the KMeans step's data loses: one report, every rule."""
    frame = trips({}, {}, {"pickup_latitude": 0.0}, {"dropoff_longitude": -75.0}, {"fare_amount": -1.0})

    cleaned, report = clean_trips(frame)
    kmeans_rows, kmeans_report = clean_trips(frame, require_coordinates=True)

    assert len(cleaned) == report.rows_out == 4  # the coordinate rule is counted, not applied
    assert report.coordinates_only == {"outside_nyc": 2}
    assert kmeans_report.coordinates_only == {} and kmeans_report.dropped["outside_nyc"] == 2
    assert len(kmeans_rows) == report.rows_out - report.coordinates_only["outside_nyc"]
    assert data_version(cleaned) != data_version(kmeans_rows)
    text = str(report)
    assert re.search(r"fare_out_of_range\s+1 dropped", text)
    assert re.search(
        r"KMeans \(it clusters coordinates\) also drops, leaving 2 rows:\n\s+outside_nyc\s+2 dropped", text
    )
    assert [rule.name for rule in RULES + COORDINATE_RULES] == [
        line.split()[0] for line in text.splitlines() if line.endswith(" dropped")
    ]


def test_report_of_nothing() -> None:
    report = CleaningReport(rows_in=0, rows_out=0)
    assert report.dropped == {} and report.coordinates_only == {}
    assert "Kept 0 of 0 rows" in str(report)


def test_data_version_is_stable_and_ignores_the_index() -> None:
    frame = trips({}, {"fare_amount": 7.5})

    version = data_version(frame)

    assert re.fullmatch(r"sha256:[0-9a-f]{64}", version)
    assert data_version(frame) == version
    assert data_version(frame.copy().set_axis([100, 200])) == version
    assert data_version(frame.assign(note="ignored")) == version
    cleaned, _ = clean_trips(frame)
    assert data_version(cleaned) == version


def test_data_version_changes_with_content() -> None:
    frame = trips({}, {"fare_amount": 7.5})
    version = data_version(frame)

    assert data_version(frame.assign(fare_amount=[12.0, 7.6])) != version
    assert data_version(frame.iloc[::-1]) != version
    assert data_version(frame.iloc[:1]) != version
    assert data_version(frame.assign(store_and_fwd_flag=pd.array(["N", "Y"], dtype="string"))) != version
    assert data_version(frame.assign(pu_location_id=pd.array([1, None], dtype="Int64"))) != version


def test_data_version_is_the_same_in_a_fresh_interpreter(tmp_path: Path) -> None:
    frame = trips({}, {"fare_amount": 7.5, "store_and_fwd_flag": None})
    path = tmp_path / "frame.pkl"
    frame.to_pickle(path)
    code = (
        "import pandas as pd; from labhelpers.data.cleaning import data_version; "
        f"print(data_version(pd.read_pickle({str(path)!r})))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "123"}

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)

    assert result.stdout.strip() == data_version(frame)


def test_data_version_needs_the_canonical_columns() -> None:
    with pytest.raises(DataError, match="lacks columns"):
        data_version(pd.DataFrame({"fare_amount": [1.0]}))
