"""The NYC taxi source schemas: the canonical columns, each schema's names for them, and how a file's schema
is recognised from its column names (:func:`detect_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from labhelpers.foundation.errors import SchemaError

# One row per canonical column, in canonical order: name, dtype, then the column's name in each source schema.
_COLUMN_TABLE = """
canonical              dtype           azure_yellow          azure_green           tlc
vendor_id              Int64           vendorID              vendorID              VendorID
pickup_datetime        datetime64[ns]  tpepPickupDateTime    lpepPickupDatetime    tpep_pickup_datetime
dropoff_datetime       datetime64[ns]  tpepDropoffDateTime   lpepDropoffDatetime   tpep_dropoff_datetime
passenger_count        Int64           passengerCount        passengerCount        passenger_count
trip_distance          float64         tripDistance          tripDistance          trip_distance
pu_location_id         Int64           puLocationId          puLocationId          PULocationID
do_location_id         Int64           doLocationId          doLocationId          DOLocationID
pickup_longitude       float64         startLon              pickupLongitude       pickup_longitude
pickup_latitude        float64         startLat              pickupLatitude        pickup_latitude
dropoff_longitude      float64         endLon                dropoffLongitude      dropoff_longitude
dropoff_latitude       float64         endLat                dropoffLatitude       dropoff_latitude
rate_code              Int64           rateCodeId            rateCodeID            RatecodeID
store_and_fwd_flag     string          storeAndFwdFlag       storeAndFwdFlag       store_and_fwd_flag
payment_type           Int64           paymentType           paymentType           payment_type
fare_amount            float64         fareAmount            fareAmount            fare_amount
extra                  float64         extra                 extra                 extra
mta_tax                float64         mtaTax                mtaTax                mta_tax
improvement_surcharge  float64         improvementSurcharge  improvementSurcharge  improvement_surcharge
tip_amount             float64         tipAmount             tipAmount             tip_amount
tolls_amount           float64         tollsAmount           tollsAmount           tolls_amount
total_amount           float64         totalAmount           totalAmount           total_amount
"""
# Other spellings in TLC files: green (lpep_*), 2014 CSVs (pickup_datetime), 2009 CSVs (Trip_*, *_Amt,
# Start_Lon), BigQuery exports (imp_surcharge, pickup_location_id).
_TLC_ALIASES = {
    "vendor_id": ("vendor_id", "vendor_name"),
    "pickup_datetime": ("lpep_pickup_datetime", "pickup_datetime", "Trip_Pickup_DateTime"),
    "dropoff_datetime": ("lpep_dropoff_datetime", "dropoff_datetime", "Trip_Dropoff_DateTime"),
    "pu_location_id": ("pickup_location_id",),
    "do_location_id": ("dropoff_location_id",),
    "pickup_longitude": ("Start_Lon",),
    "pickup_latitude": ("Start_Lat",),
    "dropoff_longitude": ("End_Lon",),
    "dropoff_latitude": ("End_Lat",),
    "rate_code": ("rate_code",),
    "store_and_fwd_flag": ("store_and_forward",),
    "fare_amount": ("Fare_Amt",),
    "extra": ("surcharge",),
    "improvement_surcharge": ("imp_surcharge",),
    "tip_amount": ("Tip_Amt",),
    "tolls_amount": ("Tolls_Amt",),
    "total_amount": ("Total_Amt",),
}
_ROWS = [line.split() for line in _COLUMN_TABLE.strip().splitlines()]

#: Canonical column -> dtype, in canonical order.
CANONICAL_DTYPES: dict[str, str] = {row[0]: row[1] for row in _ROWS[1:]}
CANONICAL_COLUMNS: list[str] = list(CANONICAL_DTYPES)
#: Schema name -> canonical column -> accepted source names (the first is shown in messages).
SCHEMAS: dict[str, dict[str, tuple[str, ...]]] = {
    schema: {
        row[0]: (row[i], *(_TLC_ALIASES.get(row[0], ()) if schema == "tlc" else ())) for row in _ROWS[1:]
    }
    for i, schema in enumerate(_ROWS[0][2:], start=2)
}
#: A file must carry these to be recognised as a schema.
REQUIRED_COLUMNS = ("pickup_datetime", "dropoff_datetime", "trip_distance", "fare_amount")


def detect_schema(columns: list[str] | pd.Index, source: str = "data") -> tuple[str, dict[str, str]]:
    """Recognise a file's schema from its column names.

    Args:
        columns: The column names as found in the file.
        source: What to call the file in messages.

    Returns:
        The schema name and a mapping canonical column -> column name as found.

    Raises:
        SchemaError: No schema's required columns are all present.
    """
    lookup = {str(name).strip().lower(): str(name) for name in reversed(list(columns))}  # first name wins
    found = {schema: _match(spec, lookup) for schema, spec in SCHEMAS.items()}
    complete = [name for name in SCHEMAS if all(col in found[name] for col in REQUIRED_COLUMNS)]
    if complete:
        best = max(complete, key=lambda name: len(found[name]))
        return best, found[best]
    closest = max(
        SCHEMAS, key=lambda name: (sum(c in found[name] for c in REQUIRED_COLUMNS), len(found[name]))
    )
    missing = [" or ".join(SCHEMAS[closest][c]) for c in REQUIRED_COLUMNS if c not in found[closest]]
    shown = [str(name) for name in columns][:40]
    raise SchemaError(
        f"{source}: the columns match none of the known NYC taxi schemas ({', '.join(SCHEMAS)}). "
        f"Closest is {closest!r}, which is missing: {', '.join(missing)}. Columns found: {shown}. "
        "Use a yellow or green taxi trip file from Azure Open Datasets or the NYC TLC trip-record site, "
        "or rename your columns to the expected names."
    )


def _match(spec: Mapping[str, tuple[str, ...]], lookup: Mapping[str, str]) -> dict[str, str]:
    """Canonical column -> name as found, for the columns of ``spec`` present in ``lookup``."""
    matched = {}
    for canonical, aliases in spec.items():
        hit = next((lookup[alias.lower()] for alias in aliases if alias.lower() in lookup), None)
        if hit is not None:
            matched[canonical] = hit
    return matched
