"""Convert a frame in any known source schema to the canonical columns and dtypes (:func:`to_canonical`).

Text is parsed once per distinct value, and every column is checked: a value that is not a number or a date
raises :class:`~labhelpers.foundation.errors.DataError` naming the column, the count and the first bad value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import pandas as pd

from labhelpers.data.schemas import CANONICAL_DTYPES, detect_schema
from labhelpers.foundation.errors import DataError

# Older files spell codes as text (Azure yellow 2009-14: "CMT", "CSH", "Credit"); matched on the first two
# letters, unknown text becomes NA.
_CODE_PREFIXES = {
    "vendor_id": {"CM": 1, "VT": 2},
    "payment_type": {"CR": 1, "CA": 2, "CS": 2, "NO": 3, "DI": 4, "UN": 5, "VO": 6},
}


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
    return build_canonical(raw.__getitem__, mapping, len(raw), source), schema


def build_canonical(
    get: Callable[[str], pd.Series], mapping: Mapping[str, str], rows: int, source: str
) -> pd.DataFrame:
    """Assemble the canonical frame one column at a time (``get`` may free each source column).

    Public to ``data.load``, which reads parquet and CSV chunks column by column through it.

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
