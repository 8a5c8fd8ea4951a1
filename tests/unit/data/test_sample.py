"""The seeded sample generator follows the 2016 fare rules and NYC geography, with real dirt."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from labhelpers.data.sample import AZURE_YELLOW_COLUMNS, JFK, generate_trips, write_sample


@pytest.fixture(scope="module")
def trips() -> pd.DataFrame:
    return generate_trips(8000, seed=7, dirty=False)


def test_same_seed_same_rows_other_seed_other_rows():
    a, b, c = generate_trips(500, seed=1), generate_trips(500, seed=1), generate_trips(500, seed=2)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


def test_columns_are_the_azure_open_datasets_yellow_schema(trips):
    assert list(trips.columns) == AZURE_YELLOW_COLUMNS


def test_flat_fares_and_fixed_charges(trips):
    assert (trips.loc[trips.rateCodeId == 2, "fareAmount"] == 52.0).all()
    assert set(trips.rateCodeId.unique()) == {1, 2, 3, 5}
    assert (trips.mtaTax == 0.5).all() and (trips.improvementSurcharge == 0.3).all()


def test_standard_meter_starts_at_2_50_and_moves_in_50_cent_steps(trips):
    metered = trips.loc[trips.rateCodeId == 1, "fareAmount"]
    assert metered.min() >= 2.5
    assert np.allclose((metered - 2.5) % 0.5, 0)


def test_extras_follow_night_and_weekday_peak_rules(trips):
    standard = trips[trips.rateCodeId == 1]
    hour = standard.tpepPickupDateTime.dt.hour
    weekday = standard.tpepPickupDateTime.dt.dayofweek < 5
    peak = weekday & hour.between(16, 19)
    night = (hour >= 20) | (hour < 6)
    assert (standard.loc[peak, "extra"] == 1.0).all()
    assert (standard.loc[night & ~peak, "extra"] == 0.5).all()
    assert (standard.loc[~night & ~peak, "extra"] == 0.0).all()


def test_total_is_the_sum_of_its_parts(trips):
    parts = ["fareAmount", "extra", "mtaTax", "improvementSurcharge", "tipAmount", "tollsAmount"]
    assert np.allclose(trips[parts].sum(axis=1), trips.totalAmount, atol=0.011)


def test_geography_manhattan_mostly_and_airports(trips):
    in_manhattan = trips.startLat.between(40.70, 40.80) & trips.startLon.between(-74.02, -73.93)
    assert in_manhattan.mean() > 0.6
    near_jfk = (abs(trips.startLat - JFK[0]) < 0.02) | (abs(trips.endLat - JFK[0]) < 0.02)
    assert near_jfk.mean() > 0.03


def test_dirty_rows_are_there_to_be_cleaned():
    dirty = generate_trips(5000, seed=3)
    duration = dirty.tpepDropoffDateTime - dirty.tpepPickupDateTime
    assert (dirty.startLon == 0).sum() > 0
    assert (dirty.tripDistance == 0).sum() > 0
    assert (dirty.fareAmount < 0).sum() > 0
    assert (duration > pd.Timedelta(hours=12)).sum() > 0


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_sample_round_trips(tmp_path, suffix):
    path = write_sample(tmp_path / f"trips{suffix}", n_rows=200, seed=5)
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    assert len(back) == 200 and list(back.columns) == AZURE_YELLOW_COLUMNS
