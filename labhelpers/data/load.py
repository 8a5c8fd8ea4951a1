"""Load NYC taxi trip files (CSV or parquet, local or by URL) into one canonical frame.

Three source schemas are recognised by their column names (case-insensitive, surrounding spaces ignored):
Azure Open Datasets yellow (``azure_yellow``) and green (``azure_green``) taxi files, and the NYC TLC's own
trip-record files (``tlc``, yellow or green, parquet or the older CSVs with coordinates). Every loader returns
the columns of :data:`CANONICAL_COLUMNS` with the dtypes of :data:`CANONICAL_DTYPES`.

The schema tables live in :mod:`labhelpers.data.schemas`, the conversion in
:mod:`labhelpers.data.canonical` and URL downloads in :mod:`labhelpers.data.download`; their public
names are importable from here too.
"""

from __future__ import annotations

import contextlib
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from labhelpers.data.canonical import build_canonical
from labhelpers.data.canonical import to_canonical as to_canonical
from labhelpers.data.download import SUFFIXES as SUFFIXES
from labhelpers.data.download import data_suffix, download, expected_digest
from labhelpers.data.schemas import CANONICAL_COLUMNS, detect_schema
from labhelpers.data.schemas import CANONICAL_DTYPES as CANONICAL_DTYPES
from labhelpers.data.schemas import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from labhelpers.data.schemas import SCHEMAS as SCHEMAS
from labhelpers.files.artifacts import sha256_file
from labhelpers.foundation import config
from labhelpers.foundation.errors import DataError

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


def _check_file(path: Path, label: str) -> str:
    """Return the file's suffix after checking it exists, is a file, has a known type and holds bytes."""
    if not path.exists():
        raise DataError(f"{label}: no such file. Check the path (relative paths start at {Path.cwd()}).")
    if path.is_dir():
        raise DataError(
            f"{label} is a folder, not a file; pass one .csv, .csv.gz or .parquet file inside it."
        )
    suffix = data_suffix(path.name)
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

        return build_canonical(get, mapping, parquet.metadata.num_rows, label), schema
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
            warnings.simplefilter("ignore", pd.errors.DtypeWarning)  # build_canonical checks mixed columns
            start = 0
            for raw in chunks:
                rows = len(raw)
                single = start == 0 and rows < CSV_CHUNK_ROWS
                where = label if single else f"{label} rows {start + 1:,}-{start + rows:,}"
                parts.append(build_canonical(raw.pop, mapping, rows, where))
                start += rows
    except pd.errors.EmptyDataError:
        raise DataError(f"{label} holds no data; download it again or pick another file.") from None
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{label} could not be read as CSV ({exc}); download it again.") from None
    return _concat(parts), schema


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Join canonical chunks column by column, so only one column is ever held twice."""
    if len(parts) <= 1:
        return parts[0] if parts else build_canonical(lambda name: pd.Series(), {}, 0, "")
    columns = {
        name: pd.concat([part.pop(name) for part in parts], ignore_index=True) for name in CANONICAL_COLUMNS
    }
    return pd.DataFrame(columns, copy=False)


def load_trips(
    source: str | Path,
    *,
    cache_dir: str | Path | None = None,
    timeout: float | None = None,
    progress: bool = True,
    sha256: str | None = None,
) -> TripData:
    """Load a NYC taxi trip file into the canonical frame.

    Args:
        source: A local .csv, .csv.gz or .parquet file, or an ``https://`` / ``http://`` URL of one.
        cache_dir: Where URLs are cached (default :func:`labhelpers.foundation.config.cache_dir`).
        timeout: Seconds to wait for a URL's server (default ``$LAB_DOWNLOAD_TIMEOUT`` or 30).
        progress: Show a download progress bar.
        sha256: The file's known SHA-256 (hex); a URL whose download differs is refused (see
            :func:`labhelpers.data.download.download`), and so is a local file that differs.

    Returns:
        The canonical frame with the schema recognised, the file read and its digest.

    Raises:
        SchemaError: The columns match no known schema.
        DataError: The file or URL is missing, unreadable, empty, or holds non-numeric numbers or bad dates.
    """
    text = str(source)
    if text.lower().startswith(("http://", "https://")):
        wait = config.download_timeout() if timeout is None else timeout
        path = download(text, cache_dir=cache_dir, timeout=wait, progress=progress, sha256=sha256)
        label = f"{path} (the cached download of {text}; delete it to download again)"
    else:
        path = Path(text).expanduser()
        label = str(path)
    suffix = _check_file(path, label)
    digest = sha256_file(path)
    expected = expected_digest(sha256)
    if expected is not None and digest != expected:
        raise DataError(
            f"{label}: its SHA-256 is {digest}, but sha256={expected} was expected; use the right file."
        )
    reader = _read_parquet if suffix == ".parquet" else _read_csv
    frame, schema = reader(path, label)
    if frame.empty:
        raise DataError(f"{label} has column headers but no rows; download it again or pick another file.")
    return TripData(frame, schema, text, path, digest, len(frame))
