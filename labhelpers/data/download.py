"""Download a data file once into the cache (:func:`download`), named by a digest of its URL."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlparse

import requests
from tqdm import tqdm

from labhelpers.core import config
from labhelpers.core.errors import DataError

SUFFIXES = (".csv.gz", ".csv", ".parquet")


def _suffix(name: str) -> str | None:
    return next((suffix for suffix in SUFFIXES if name.lower().endswith(suffix)), None)


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
        cache_dir: Cache folder (default :func:`labhelpers.core.config.cache_dir`).
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
