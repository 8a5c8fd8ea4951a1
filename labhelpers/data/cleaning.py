"""Drop implausible trips from a canonical frame, and fingerprint the data actually used.

The rules live in :data:`RULES` (and :data:`COORDINATE_RULES`), applied in order; each counts only the rows
it dropped itself, so the :class:`CleaningReport` reads like a funnel. The coordinate rules apply only to data
that needs coordinates (the KMeans step clusters them), so the fare models and KMeans train on two different
sets of rows, with two ``data_version`` digests; the report of the other rules counts what the coordinate
rules would drop too, so that one report lists every rule either model's data passed through.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from labhelpers.data.load import CANONICAL_COLUMNS
from labhelpers.foundation.errors import DataError

MAX_DURATION = pd.Timedelta(hours=3)
MAX_DISTANCE_MILES = 100.0
MAX_FARE = 500.0
#: NYC bounding box (latitude, longitude); zero coordinates fall outside it.
NYC_LATITUDE = (40.45, 41.00)
NYC_LONGITUDE = (-74.30, -73.65)
_HASH_CHUNK_ROWS = 1_000_000
_COORDINATES = ("pickup_longitude", "pickup_latitude", "dropoff_longitude", "dropoff_latitude")


@dataclass(frozen=True)
class Rule:
    """One cleaning rule.

    Attributes:
        name: Short key used in the report.
        description: What the rule drops, in words.
        drops: Returns a boolean array, True for the rows to drop.
    """

    name: str
    description: str
    drops: Callable[[pd.DataFrame], np.ndarray]


def _duration(frame: pd.DataFrame) -> pd.Series:
    return frame["dropoff_datetime"] - frame["pickup_datetime"]


def _outside(values: pd.Series, bounds: tuple[float, float]) -> np.ndarray:
    """True where a value is missing or outside ``[low, high]``."""
    return ~values.between(*bounds).to_numpy()


def _outside_nyc(frame: pd.DataFrame) -> np.ndarray:
    return (
        _outside(frame["pickup_latitude"], NYC_LATITUDE)
        | _outside(frame["pickup_longitude"], NYC_LONGITUDE)
        | _outside(frame["dropoff_latitude"], NYC_LATITUDE)
        | _outside(frame["dropoff_longitude"], NYC_LONGITUDE)
    )


#: The rules every frame goes through, in order.
RULES: list[Rule] = [
    Rule(
        "missing_time",
        "pickup or dropoff time missing",
        lambda f: (f["pickup_datetime"].isna() | f["dropoff_datetime"].isna()).to_numpy(),
    ),
    Rule(
        "non_positive_duration",
        "dropoff not after pickup",
        lambda f: (_duration(f) <= pd.Timedelta(0)).to_numpy(),
    ),
    Rule("duration_over_3h", "trip longer than 3 hours", lambda f: (_duration(f) > MAX_DURATION).to_numpy()),
    Rule(
        "distance_out_of_range",
        f"distance missing, <= 0 or > {MAX_DISTANCE_MILES:g} miles",
        lambda f: ~((f["trip_distance"] > 0) & (f["trip_distance"] <= MAX_DISTANCE_MILES)).to_numpy(),
    ),
    Rule(
        "fare_out_of_range",
        f"fare missing, <= 0 (refunds, disputes) or > {MAX_FARE:g}",
        lambda f: ~((f["fare_amount"] > 0) & (f["fare_amount"] <= MAX_FARE)).to_numpy(),
    ),
]
#: Extra rules with ``require_coordinates=True``.
COORDINATE_RULES: list[Rule] = [
    Rule("outside_nyc", "pickup or dropoff missing or outside the NYC bounding box", _outside_nyc),
]


@dataclass
class CleaningReport:
    """What :func:`clean_trips` dropped.

    Attributes:
        rows_in: Rows before cleaning.
        rows_out: Rows kept.
        dropped: Rule name -> rows that rule dropped, in the order applied.
        coordinates_only: Coordinate rule name -> rows it drops from the kept rows, where it was not applied
            (``require_coordinates=False``): what data that needs coordinates loses on top (empty when the
            coordinate rules were applied, since ``dropped`` then holds them).
    """

    rows_in: int
    rows_out: int
    dropped: dict[str, int] = field(default_factory=dict)
    coordinates_only: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        kept = self.rows_out / self.rows_in if self.rows_in else 0.0
        lines = [f"Kept {self.rows_out:,} of {self.rows_in:,} rows ({kept:.1%})."]
        width = max((len(name) for name in {**self.dropped, **self.coordinates_only}), default=0)
        lines += [f"  {name:<{width}}  {count:>12,} dropped" for name, count in self.dropped.items()]
        if self.coordinates_only:
            left = self.rows_out - sum(self.coordinates_only.values())
            lines.append(f"KMeans (it clusters coordinates) also drops, leaving {left:,} rows:")
            lines += [
                f"  {name:<{width}}  {count:>12,} dropped" for name, count in self.coordinates_only.items()
            ]
        return "\n".join(lines)


def _check_coordinates(frame: pd.DataFrame, source: str) -> None:
    if all(frame[name].isna().all() for name in _COORDINATES):
        raise DataError(
            f"{source} carries no pickup/dropoff coordinates (TLC files since mid-2016 only carry zone ids), "
            "and clustering needs them. Use an Azure Open Datasets yellow or green taxi file, or a TLC file "
            "from 2016 or earlier."
        )


def _count_rules(frame: pd.DataFrame, keep: np.ndarray, rules: list[Rule]) -> dict[str, int]:
    """Apply ``rules`` in order to the rows ``keep`` marks (updated in place): rule name -> rows dropped."""
    dropped: dict[str, int] = {}
    for rule in rules:
        drop = np.asarray(rule.drops(frame), dtype=bool) & keep
        dropped[rule.name] = int(drop.sum())
        keep &= ~drop
    return dropped


def clean_trips(
    frame: pd.DataFrame, *, require_coordinates: bool = False, source: str = "data"
) -> tuple[pd.DataFrame, CleaningReport]:
    """Drop implausible trips, rule by rule.

    Args:
        frame: A canonical frame (see :func:`labhelpers.data.load.load_trips`); not modified.
        require_coordinates: Also drop trips whose pickup or dropoff lies outside the NYC bounding box
            (needed for clustering on coordinates).
        source: What to call the data in messages, e.g. the file name.

    Returns:
        The kept rows (with a fresh 0..n-1 index) and the report of what each rule dropped; without
        ``require_coordinates`` the report also counts what the coordinate rules would drop from the kept rows
        (:attr:`CleaningReport.coordinates_only`), which are not dropped here.

    Raises:
        DataError: The frame lacks canonical columns, carries no coordinates while they are required, or
            no row survives the rules.
    """
    missing = [name for name in CANONICAL_COLUMNS if name not in frame.columns]
    if missing:
        raise DataError(f"{source}: the frame lacks columns {missing}; pass the frame from load_trips().")
    if require_coordinates:
        _check_coordinates(frame, source)
    rules = RULES + COORDINATE_RULES if require_coordinates else RULES
    keep = np.ones(len(frame), dtype=bool)
    dropped = _count_rules(frame, keep, rules)
    spared = {} if require_coordinates else _count_rules(frame, keep.copy(), COORDINATE_RULES)
    report = CleaningReport(
        rows_in=len(frame), rows_out=int(keep.sum()), dropped=dropped, coordinates_only=spared
    )
    if report.rows_out == 0:
        counts = ", ".join(f"{name}: {count:,}" for name, count in dropped.items())
        raise DataError(
            f"{source}: no rows left after cleaning; all {report.rows_in:,} rows were dropped ({counts}). "
            "Check that the file holds real trips (times, distances in miles, fares in dollars)."
        )
    cleaned = frame[keep]
    cleaned.index = pd.RangeIndex(len(cleaned))
    return cleaned, report


def data_version(frame: pd.DataFrame) -> str:
    """A content digest of the canonical columns: equal data -> equal version, whatever the index.

    Args:
        frame: A canonical frame (extra columns are ignored).

    Returns:
        ``"sha256:"`` followed by 64 hex digits.

    Raises:
        DataError: The frame lacks canonical columns.
    """
    missing = [name for name in CANONICAL_COLUMNS if name not in frame.columns]
    if missing:
        raise DataError(
            f"The frame lacks columns {missing}; pass a frame from load_trips() or clean_trips()."
        )
    digest = hashlib.sha256(f"rows={len(frame)}".encode())
    for name in CANONICAL_COLUMNS:
        digest.update(f";{name}:{frame[name].dtype}".encode())
    for start in range(0, len(frame), _HASH_CHUNK_ROWS):  # chunks bound the temporary arrays
        part = frame.iloc[start : start + _HASH_CHUNK_ROWS]
        combined = np.zeros(len(part), dtype=np.uint64)
        for name in CANONICAL_COLUMNS:
            hashed = pd.util.hash_pandas_object(part[name], index=False).to_numpy()
            # xor, then multiply by an odd constant: a change in any cell changes the row's value
            combined = (combined ^ hashed) * np.uint64(0x100000001B3)
        digest.update(combined.tobytes())  # 8 bytes per row, not per cell: a 10M-row month takes seconds
    return "sha256:" + digest.hexdigest()
