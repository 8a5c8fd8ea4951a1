"""A seeded generator of NYC yellow-taxi trips in the Azure Open Datasets schema.

The repository cannot download the real data, so it ships a sample made here. The generator follows the 2016
TLC fare rules and the city's geography, and it adds the dirt real files hold (zero coordinates, zero
distances, refunds with negative amounts, day-long "trips"), so the cleaning step has real work to do.

2016 rules used (TLC "Taxicab Rate of Fare"):
- standard meter (rate code 1): $2.50 on entry, then $0.50 per 1/5 mile above ~12 mph or $0.50 per minute in
  slow traffic;
- JFK <-> Manhattan flat fare $52 (rate code 2), with a $4.50 weekday 4-8 pm surcharge instead of the $1;
- Newark (rate code 3): the metered fare plus a $17.50 surcharge;
- negotiated fare (rate code 5);
- extra: $0.50 overnight (8 pm-6 am), $1.00 weekday peak (4-8 pm); MTA tax $0.50; improvement surcharge $0.30.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

AZURE_YELLOW_COLUMNS = [
    "vendorID",
    "tpepPickupDateTime",
    "tpepDropoffDateTime",
    "passengerCount",
    "tripDistance",
    "puLocationId",
    "doLocationId",
    "startLon",
    "startLat",
    "endLon",
    "endLat",
    "rateCodeId",
    "storeAndFwdFlag",
    "paymentType",
    "fareAmount",
    "extra",
    "mtaTax",
    "improvementSurcharge",
    "tipAmount",
    "tollsAmount",
    "totalAmount",
]

SAMPLE_ROWS = 30_000
SAMPLE_SEED = 2016

MANHATTAN = {"lat": (40.70, 40.80), "lon": (-74.02, -73.93)}
JFK = (40.641, -73.778)
LAGUARDIA = (40.777, -73.874)
NEWARK = (40.6895, -74.1745)
OUTER_BOROUGHS = {"lat": (40.57, 40.90), "lon": (-74.05, -73.75)}

# Trip kinds and their shares of all trips.
KINDS = ("manhattan", "jfk", "laguardia", "outer", "newark", "negotiated")
KIND_SHARES = (0.72, 0.06, 0.06, 0.14, 0.01, 0.01)
# Shares of dirty rows, by kind of dirt.
DIRT_SHARES = {"zero_coordinates": 0.012, "zero_distance": 0.010, "refund": 0.004, "day_long": 0.002}

MILES_PER_DEGREE_LAT = 69.0
MILES_PER_DEGREE_LON = 52.4  # at 40.7 N


def _uniform_box(rng: np.random.Generator, box: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    (lat_low, lat_high), (lon_low, lon_high) = box["lat"], box["lon"]
    return rng.uniform(lat_low, lat_high, n), rng.uniform(lon_low, lon_high, n)


def _near(
    rng: np.random.Generator, point: tuple[float, float], n: int, spread: float = 0.004
) -> tuple[np.ndarray, np.ndarray]:
    return point[0] + rng.normal(0, spread, n), point[1] + rng.normal(0, spread, n)


def _endpoints(rng: np.random.Generator, kind: np.ndarray) -> tuple[np.ndarray, ...]:
    """Pickup and dropoff coordinates for each trip kind."""
    n = len(kind)
    p_lat, p_lon = _uniform_box(rng, MANHATTAN, n)
    # Manhattan trips: a short hop, mostly along the avenues (north-south).
    hop = rng.lognormal(mean=0.3, sigma=0.6, size=n) / MILES_PER_DEGREE_LAT
    angle = rng.uniform(0, 2 * np.pi, n)
    d_lat = np.clip(p_lat + hop * np.cos(angle) * 1.5, 40.70, 40.88)
    d_lon = np.clip(p_lon + hop * np.sin(angle) * 0.6, -74.02, -73.91)
    for name, point in (("jfk", JFK), ("laguardia", LAGUARDIA), ("newark", NEWARK)):
        mask = kind == name
        lat, lon = _near(rng, point, mask.sum())
        to_airport = rng.random(mask.sum()) < 0.5  # half the trips start at the airport
        d_lat[mask] = np.where(to_airport, lat, d_lat[mask])
        d_lon[mask] = np.where(to_airport, lon, d_lon[mask])
        p_lat[mask] = np.where(to_airport, p_lat[mask], lat)
        p_lon[mask] = np.where(to_airport, p_lon[mask], lon)
    outer = np.isin(kind, ("outer", "negotiated"))
    o_lat, o_lon = _uniform_box(rng, OUTER_BOROUGHS, outer.sum())
    d_lat[outer], d_lon[outer] = o_lat, o_lon
    return p_lat, p_lon, d_lat, d_lon


def _times(rng: np.random.Generator, n: int, start: str, end: str) -> pd.DatetimeIndex:
    """Pickup times: uniform days, with the daily rhythm of taxi demand (quiet at 5 am, busy at 7 pm)."""
    days = pd.date_range(start, end, freq="D", inclusive="left")
    hourly = np.array(
        [5, 3, 2, 1.5, 1, 1, 2.5, 4.5, 5.5, 5.5, 5, 5, 5.5, 5.5, 5.5, 5, 5, 6, 7, 7, 6.5, 6.5, 6, 5.5]
    )
    hour = rng.choice(24, size=n, p=hourly / hourly.sum())
    seconds = rng.integers(0, 3600, n)
    day = days.values[rng.integers(0, len(days), n)]
    return pd.DatetimeIndex(day + (hour * 3600 + seconds).astype("timedelta64[s]"))


def _speed_mph(rng: np.random.Generator, pickup: pd.DatetimeIndex, kind: np.ndarray) -> np.ndarray:
    hour = pickup.hour.values
    rush = ((hour >= 8) & (hour < 10)) | ((hour >= 16) & (hour < 20))
    night = (hour >= 22) | (hour < 6)
    base = np.where(rush, 8.5, np.where(night, 17.0, 11.5))
    base = np.where(kind == "manhattan", base, base * 1.6)  # highways to the airports and boroughs
    return np.clip(base * rng.lognormal(0, 0.2, len(kind)), 3.0, 45.0)


def _meter(distance: np.ndarray, minutes: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """The standard meter: $2.50, then $0.50 per 1/5 mile moving or per minute in slow traffic."""
    slow_share = np.clip((14.0 - speed) / 14.0, 0.0, 0.9)
    slow_minutes = minutes * slow_share
    moving_miles = np.maximum(distance - slow_minutes * 4.0 / 60.0, 0.0)
    return 2.50 + 0.50 * np.floor(moving_miles * 5) + 0.50 * np.floor(slow_minutes)


def _fares(
    rng: np.random.Generator,
    kind: np.ndarray,
    distance: np.ndarray,
    minutes: np.ndarray,
    speed: np.ndarray,
    pickup: pd.DatetimeIndex,
    p_lat: np.ndarray,
    d_lat: np.ndarray,
) -> dict[str, np.ndarray]:
    """Fare, extra, tolls, payment type and tip of each trip under the 2016 rules."""
    n = len(kind)
    hour, weekday = pickup.hour.values, pickup.dayofweek.values < 5
    # JFK trips run to or from Manhattan here (the other end is drawn in the Manhattan box): flat fare.
    jfk_flat = (kind == "jfk") & (np.maximum(p_lat, d_lat) >= MANHATTAN["lat"][0])
    rate = np.select([jfk_flat, kind == "newark", kind == "negotiated"], [2, 3, 5], default=1)
    fare = _meter(distance, minutes, speed)
    fare = np.where(rate == 2, 52.0, fare)
    fare = np.where(rate == 3, fare + 17.50, fare)
    fare = np.where(rate == 5, np.round(rng.uniform(20, 120, n) / 5) * 5, fare)
    peak = weekday & (hour >= 16) & (hour < 20)
    night = (hour >= 20) | (hour < 6)
    extra = np.select([peak & (rate == 2), peak, night], [4.50, 1.00, 0.50], default=0.0)
    airport_or_outer = np.isin(kind, ("jfk", "laguardia", "newark", "outer"))
    tolls = np.where(airport_or_outer & (rng.random(n) < 0.3), 5.54, 0.0)
    tolls = np.where(rate == 3, 15.0, tolls)
    payment = np.where(rng.random(n) < 0.65, 1, np.where(rng.random(n) < 0.97, 2, 3))
    tip = np.where(payment == 1, np.round(fare * rng.choice([0.0, 0.15, 0.2, 0.25, 0.3], n), 2), 0.0)
    return {"rate": rate, "fare": fare, "extra": extra, "tolls": tolls, "payment": payment, "tip": tip}


def _add_dirt(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Make a share of rows dirty in the ways real TLC files are (in place)."""
    n = len(frame)
    pick = rng.permutation(n)
    cuts = np.cumsum([int(round(share * n)) for share in DIRT_SHARES.values()])
    zero_xy, zero_dist, refund, day_long = np.split(pick[: cuts[-1]], cuts[:-1])
    frame.loc[zero_xy, ["startLon", "startLat"]] = 0.0
    frame.loc[zero_xy[::2], ["endLon", "endLat"]] = 0.0
    frame.loc[zero_dist, "tripDistance"] = 0.0
    money = AZURE_YELLOW_COLUMNS[AZURE_YELLOW_COLUMNS.index("fareAmount") :]
    frame.loc[refund, money] = -frame.loc[refund, money].abs()
    frame.loc[day_long, "tpepDropoffDateTime"] += pd.to_timedelta(rng.integers(20, 26, len(day_long)), "h")


def generate_trips(
    n_rows: int = SAMPLE_ROWS,
    seed: int = SAMPLE_SEED,
    start: str = "2016-01-01",
    end: str = "2016-07-01",
    dirty: bool = True,
) -> pd.DataFrame:
    """Generate yellow-taxi trips in the Azure Open Datasets schema.

    Args:
        n_rows: Number of trips.
        seed: Seed of the random generator; the same seed gives the same rows.
        start: First pickup day (inclusive).
        end: Last pickup day (exclusive).
        dirty: Add the dirty rows real files hold.

    Returns:
        A frame with the columns of ``AZURE_YELLOW_COLUMNS``.
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(KINDS, size=n_rows, p=KIND_SHARES)
    p_lat, p_lon, d_lat, d_lon = _endpoints(rng, kind)
    straight = np.hypot((d_lat - p_lat) * MILES_PER_DEGREE_LAT, (d_lon - p_lon) * MILES_PER_DEGREE_LON)
    distance = np.round(np.maximum(straight * rng.uniform(1.15, 1.45, n_rows), 0.1), 2)
    pickup = _times(rng, n_rows, start, end)
    speed = _speed_mph(rng, pickup, kind)
    minutes = distance / speed * 60 + rng.uniform(0.5, 3.0, n_rows)  # pulling over, paying
    dropoff = pickup + pd.to_timedelta(np.round(minutes * 60), "s")
    f = _fares(rng, kind, distance, minutes, speed, pickup, p_lat, d_lat)
    total = f["fare"] + f["extra"] + 0.50 + 0.30 + f["tip"] + f["tolls"]
    frame = pd.DataFrame(
        {
            "vendorID": rng.choice([1, 2], n_rows, p=[0.47, 0.53]),
            "tpepPickupDateTime": pickup,
            "tpepDropoffDateTime": dropoff,
            "passengerCount": rng.choice([1, 2, 3, 4, 5, 6], n_rows, p=[0.7, 0.14, 0.04, 0.02, 0.06, 0.04]),
            "tripDistance": distance,
            # Azure's 2016 H1 yellow rows carry coordinates; zone ids only start in July 2016.
            "puLocationId": pd.array([pd.NA] * n_rows, dtype="Int64"),
            "doLocationId": pd.array([pd.NA] * n_rows, dtype="Int64"),
            "startLon": np.round(p_lon, 6),
            "startLat": np.round(p_lat, 6),
            "endLon": np.round(d_lon, 6),
            "endLat": np.round(d_lat, 6),
            "rateCodeId": f["rate"],
            "storeAndFwdFlag": np.where(rng.random(n_rows) < 0.01, "Y", "N"),
            "paymentType": f["payment"],
            "fareAmount": np.round(f["fare"], 2),
            "extra": f["extra"],
            "mtaTax": 0.50,
            "improvementSurcharge": 0.30,
            "tipAmount": f["tip"],
            "tollsAmount": f["tolls"],
            "totalAmount": np.round(total, 2),
        },
        columns=AZURE_YELLOW_COLUMNS,
    )
    if dirty:
        _add_dirt(rng, frame)
    return frame.sort_values("tpepPickupDateTime", kind="stable", ignore_index=True)


def write_sample(path: str | Path, n_rows: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED, **kwargs: Any) -> Path:
    """Generate trips and write them as CSV (``.csv``) or parquet (``.parquet``).

    Args:
        path: Output file; its suffix chooses the format.
        n_rows: Number of trips.
        seed: Generator seed.
        **kwargs: Passed to :func:`generate_trips`.

    Returns:
        The path written.
    """
    path = Path(path)
    frame = generate_trips(n_rows, seed, **kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, date_format="%Y-%m-%d %H:%M:%S")
    return path
