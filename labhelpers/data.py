"""Load NYC taxi trip files (CSV or parquet, local or by URL) into one canonical frame.

Three source schemas are recognised by their column names (case-insensitive, surrounding spaces ignored):
Azure Open Datasets yellow (``azure_yellow``) and green (``azure_green``) taxi files, and the NYC TLC's own
trip-record files (``tlc``, yellow or green, parquet or the older CSVs with coordinates). Every loader returns
the columns of :data:`CANONICAL_COLUMNS` with the dtypes of :data:`CANONICAL_DTYPES`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import warnings
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import requests
from tqdm import tqdm

from labhelpers import config
from labhelpers.artifacts import sha256_file
from labhelpers.errors import DataError, SchemaError

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
# Older files spell codes as text (Azure yellow 2009-14: "CMT", "CSH", "Credit"); matched on the first two
# letters, unknown text becomes NA.
_CODE_PREFIXES = {
    "vendor_id": {"CM": 1, "VT": 2},
    "payment_type": {"CR": 1, "CA": 2, "CS": 2, "NO": 3, "DI": 4, "UN": 5, "VO": 6},
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
SUFFIXES = (".csv.gz", ".csv", ".parquet")
#: CSVs are parsed this many rows at a time, to bound the memory their text takes.
CSV_CHUNK_ROWS = 1_000_000


@dataclass(frozen=True, eq=False)
class TripData:
    """One loaded trip file.

    Attributes:
        frame: The canonical frame (:data:`CANONICAL_COLUMNS`), one row per trip as read, not yet cleaned.
        schema: The source schema recognised: ``azure_yellow``, ``azure_green`` or ``tlc``.
        source: The path or URL as given.
        path: The local file actually read (the cached download for a URL).
        sha256: Hex digest of the file's bytes.
        rows_read: Number of rows in the file.
    """

    frame: pd.DataFrame = field(repr=False)
    schema: str
    source: str
    path: Path
    sha256: str
    rows_read: int


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


def to_canonical(raw: pd.DataFrame, *, source: str = "data") -> tuple[pd.DataFrame, str]:
    """Map a frame in any known source schema to the canonical columns and dtypes.

    Args:
        raw: A frame as read from a source file (not modified).
        source: What to call it in messages.

    Returns:
        The canonical frame and the schema name.

    Raises:
        SchemaError: The columns match no known schema.
        DataError: A column holds values that are not numbers or dates.
    """
    schema, mapping = detect_schema(raw.columns, source)
    return _build(raw.__getitem__, mapping, len(raw), source), schema


def _build(
    get: Callable[[str], pd.Series], mapping: Mapping[str, str], rows: int, source: str
) -> pd.DataFrame:
    """Assemble the canonical frame one column at a time (``get`` may free each source column).

    Every converted column is an array, so the source's index (chunks of a CSV count on) never realigns rows.
    """
    out: dict[str, object] = {}
    for name, dtype in CANONICAL_DTYPES.items():
        raw_name = mapping.get(name)
        if raw_name is None:
            out[name] = _all_missing(dtype, rows)
            continue
        values = get(raw_name)
        label = f"{raw_name!r} ({name})" if raw_name != name else repr(name)
        if dtype == "Int64":
            out[name] = _to_int(values, label, source, _CODE_PREFIXES.get(name))
        elif dtype == "float64":
            out[name] = _to_float(values, label, source)
        elif dtype == "string":
            out[name] = values.astype("string").array
        else:
            out[name] = _to_datetime(values, label, source).to_numpy()
    return pd.DataFrame(out, index=pd.RangeIndex(rows), copy=False)


def _all_missing(dtype: str, rows: int) -> object:
    if dtype == "Int64":
        return pd.arrays.IntegerArray(np.zeros(rows, dtype="int64"), np.ones(rows, dtype=bool))
    if dtype == "string":
        return pd.array([pd.NA] * rows, dtype="string")
    return np.full(rows, np.nan if dtype == "float64" else np.datetime64("NaT"), dtype=dtype)


def _bad_values(source: str, label: str, bad: np.ndarray, values: pd.Series, expected: str) -> DataError:
    first = values.iloc[int(np.argmax(bad))]
    first = first.item() if isinstance(first, np.generic) else first  # 2.5, not np.float64(2.5)
    return DataError(
        f"{source}: column {label} holds {int(bad.sum()):,} value(s) that are not {expected} "
        f"(first: {first!r}). Fix or remove those rows, or check that this is a NYC taxi trip file."
    )


def _parse_text(
    values: pd.Series, label: str, source: str, labels: Mapping[str, int] | None
) -> tuple[np.ndarray, np.ndarray]:
    """Parse text once per distinct value: returns one number per category and each row's category code.

    With ``labels`` (a code column such as payment_type), known text labels become their codes and unknown
    text becomes NaN instead of an error. Code -1 marks a missing value.
    """
    cat = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    text = pd.Series(cat.cat.categories.astype(str)).str.strip()
    numbers = pd.to_numeric(text.str.removeprefix("$"), errors="coerce")
    if labels:
        numbers = numbers.fillna(text.str.upper().str[:2].map(labels))
    invalid = (numbers.isna() & (text != "")).to_numpy()
    codes = cat.cat.codes.to_numpy()
    if invalid.any() and not labels:
        raise _bad_values(source, label, np.isin(codes, np.flatnonzero(invalid)), values, "numbers")
    return numbers.to_numpy(dtype="float64", na_value=np.nan), codes


def _to_float(values: pd.Series, label: str, source: str) -> np.ndarray:
    """Numbers as float64, NaN for missing."""
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.to_numpy(dtype="float64", na_value=np.nan)
    numbers, codes = _parse_text(values, label, source, None)
    return np.append(numbers, np.nan)[codes]  # code -1 picks the trailing NaN


def _to_int(
    values: pd.Series, label: str, source: str, labels: Mapping[str, int] | None = None
) -> pd.arrays.IntegerArray:
    """Whole numbers as Int64; text is checked per distinct value, numbers per row."""
    if pd.api.types.is_integer_dtype(values.dtype):
        return pd.array(values, dtype="Int64")
    codes = None
    if pd.api.types.is_numeric_dtype(values.dtype):
        numbers = values.to_numpy(dtype="float64", na_value=np.nan)
    else:
        numbers, codes = _parse_text(values, label, source, labels)
    missing = np.isnan(numbers)
    with np.errstate(invalid="ignore"):
        bad = ~missing & ((np.abs(numbers) > 2**53) | (numbers != np.trunc(numbers)))
    if bad.any():
        bad_rows = bad if codes is None else np.isin(codes, np.flatnonzero(bad))
        raise _bad_values(source, label, bad_rows, values, "whole numbers")
    whole = np.where(missing, 0, numbers).astype("int64")
    if codes is not None:  # from one value per category to one per row
        whole, missing = np.append(whole, 0)[codes], np.append(missing, True)[codes]
    return pd.arrays.IntegerArray(whole, missing)


def _to_datetime(values: pd.Series, label: str, source: str) -> pd.Series:
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    if not pd.api.types.is_datetime64_dtype(values.dtype):
        present = values.notna().to_numpy()
        if pd.api.types.is_numeric_dtype(values.dtype):  # an empty CSV column reads as all-NaN floats
            if present.any():
                raise _bad_values(source, label, present, values, "dates and times")
            return pd.Series(np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]"))
        parsed = pd.to_datetime(values, format="ISO8601", errors="coerce")
        retry = present & parsed.isna().to_numpy()
        if retry.any():  # e.g. "1/15/2015 7:05:39 PM"; only the rows ISO 8601 could not read
            parsed[retry] = pd.to_datetime(values[retry], format="mixed", errors="coerce")
        bad = present & parsed.isna().to_numpy()
        if bad.any():
            raise _bad_values(source, label, bad, values, "dates and times")
        values = parsed
    if values.dtype == "datetime64[ns]":
        return values
    try:
        return values.astype("datetime64[ns]")
    except (pd.errors.OutOfBoundsDatetime, OverflowError):
        raise DataError(
            f"{source}: column {label} holds dates outside 1677-2262; fix or drop them."
        ) from None


def _suffix(name: str) -> str | None:
    return next((suffix for suffix in SUFFIXES if name.lower().endswith(suffix)), None)


def _check_file(path: Path, label: str) -> str:
    """Return the file's suffix after checking it exists, is a file, has a known type and holds bytes."""
    if not path.exists():
        raise DataError(f"{label}: no such file. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise DataError(
            f"{label} is a folder, not a file; pass one .csv, .csv.gz or .parquet file inside it."
        )
    suffix = _suffix(path.name)
    if suffix is None:
        raise DataError(
            f"{label}: unsupported file type {path.suffix or '(none)'!r}; use a .csv, .csv.gz or .parquet "
            "file."
        )
    if path.stat().st_size == 0:
        raise DataError(f"{label} is empty (0 bytes); download it again or pick another file.")
    return suffix


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _read_parquet(path: Path, label: str) -> tuple[pd.DataFrame, str]:
    try:
        names = pq.ParquetFile(path).schema_arrow
        schema, mapping = detect_schema(names.names, label)
        # text columns come back dictionary-encoded: pandas gets Categoricals, not millions of str objects
        text = [name for name in mapping.values() if _is_text(names.field(name).type)]
        parquet = pq.ParquetFile(path, read_dictionary=text)

        def get(name: str) -> pd.Series:
            column = parquet.read(columns=[name]).column(0)
            if pa.types.is_timestamp(column.type) and column.type.unit != "ns":
                with contextlib.suppress(pa.ArrowInvalid):  # out of range: _to_datetime says so
                    column = column.cast(pa.timestamp("ns", column.type.tz))  # much faster than pandas
            return column.to_pandas(date_as_object=False)

        return _build(get, mapping, parquet.metadata.num_rows, label), schema
    except (pa.ArrowException, OSError) as exc:
        raise DataError(
            f"{label} could not be read as parquet ({exc}); the file may be damaged or "
            "incomplete: download it again."
        ) from None


def _read_csv(path: Path, label: str) -> tuple[pd.DataFrame, str]:
    """Read a CSV in chunks, each turned into compact canonical columns before the next is parsed."""
    parts: list[pd.DataFrame] = []
    try:
        header = pd.read_csv(path, nrows=0, index_col=False).columns
        schema, mapping = detect_schema(header, label)
        flag = mapping.get("store_and_fwd_flag")
        # index_col=False: some TLC CSVs end each row with extra commas that would shift the columns
        chunks = pd.read_csv(
            path,
            usecols=list(mapping.values()),
            index_col=False,
            dtype={flag: "category"} if flag else None,
            chunksize=CSV_CHUNK_ROWS,
        )
        with chunks, warnings.catch_warnings():
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # mixed columns are checked in _build
            start = 0
            for raw in chunks:
                rows = len(raw)
                single = start == 0 and rows < CSV_CHUNK_ROWS
                where = label if single else f"{label} rows {start + 1:,}-{start + rows:,}"
                parts.append(_build(raw.pop, mapping, rows, where))
                start += rows
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} holds no data; download it again or pick another file.") from None
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{label} could not be read as CSV ({exc}); download it again.") from None
    return _concat(parts), schema


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Join canonical chunks column by column, so only one column is ever held twice."""
    if len(parts) <= 1:
        return parts[0] if parts else _build(lambda name: pd.Series(), {}, 0, "")
    columns = {
        name: pd.concat([part.pop(name) for part in parts], ignore_index=True) for name in CANONICAL_COLUMNS
    }
    return pd.DataFrame(columns, copy=False)


def _stream(url: str, handle: BinaryIO, timeout: float, progress: bool) -> None:
    try:
        with requests.get(url, stream=True, timeout=(timeout, timeout)) as response:
            if response.status_code >= 400:
                raise DataError(
                    f"{url}: the server answered HTTP {response.status_code} {response.reason}. Check "
                    "the URL (year, month, yellow/green), or download the file in a browser and pass its "
                    "local path."
                )
            total = int(response.headers.get("Content-Length") or 0) or None
            name = Path(urlparse(url).path).name
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress) as bar:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    handle.write(chunk)
                    bar.update(len(chunk))
    except (requests.Timeout, requests.ConnectionError) as exc:
        reason = "timed out" if "timed out" in str(exc).lower() else "connection failed"
        raise DataError(
            f"{url} did not answer within {timeout:g} s ({reason}). Check the URL and your network, "
            "or download the file yourself and pass its local path."
        ) from None
    except requests.RequestException as exc:
        raise DataError(f"{url}: the download failed ({exc}); try again.") from None


def download(
    url: str, *, cache_dir: str | Path | None = None, timeout: float = 30.0, progress: bool = True
) -> Path:
    """Download a data file once into the cache and return its local path.

    Args:
        url: An ``https://`` or ``http://`` URL ending in .csv, .csv.gz or .parquet.
        cache_dir: Cache folder (default :func:`labhelpers.config.cache_dir`).
        timeout: Seconds to wait for the connection and for each read.
        progress: Show a progress bar.

    Returns:
        The cached file, named by a digest of the URL plus its suffix; reused without network next time.

    Raises:
        DataError: Unsupported suffix, an HTTP error status, a timeout or a failed connection.
    """
    suffix = _suffix(urlparse(url).path)
    if suffix is None:
        raise DataError(f"{url}: the URL does not end in .csv, .csv.gz or .parquet; pass a data file's URL.")
    folder = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    target = folder / f"{hashlib.sha256(url.encode()).hexdigest()[:24]}{suffix}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f"{target.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as stream:
            _stream(url, stream, timeout, progress)
        os.replace(temp_name, target)  # only a complete download gets the final name
    finally:
        Path(temp_name).unlink(missing_ok=True)
    return target


def load_trips(
    source: str | Path,
    *,
    cache_dir: str | Path | None = None,
    timeout: float | None = None,
    progress: bool = True,
) -> TripData:
    """Load a NYC taxi trip file into the canonical frame.

    Args:
        source: A local .csv, .csv.gz or .parquet file, or an ``https://`` / ``http://`` URL of one.
        cache_dir: Where URLs are cached (default :func:`labhelpers.config.cache_dir`).
        timeout: Seconds to wait for a URL's server (default ``$LAB_DOWNLOAD_TIMEOUT`` or 30).
        progress: Show a download progress bar.

    Returns:
        The canonical frame with the schema recognised, the file read and its digest.

    Raises:
        SchemaError: The columns match no known schema.
        DataError: The file or URL is missing, unreadable, empty, or holds non-numeric numbers or bad dates.
    """
    text = str(source)
    if text.lower().startswith(("http://", "https://")):
        wait = config.download_timeout() if timeout is None else timeout
        path = download(text, cache_dir=cache_dir, timeout=wait, progress=progress)
        label = f"{path} (the cached download of {text}; delete it to download again)"
    else:
        path = Path(text).expanduser()
        label = str(path)
    suffix = _check_file(path, label)
    reader = _read_parquet if suffix == ".parquet" else _read_csv
    frame, schema = reader(path, label)
    if frame.empty:
        raise DataError(f"{label} has column headers but no rows; download it again or pick another file.")
    return TripData(frame, schema, text, path, sha256_file(path), len(frame))
