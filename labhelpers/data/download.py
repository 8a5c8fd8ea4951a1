"""Download a data file once into the cache (:func:`download`), named by a digest of its URL.

pooch does the caching: it reuses a cached file (re-downloading it when a known SHA-256 no longer matches),
streams into a temporary file that gets the final name only when complete, and retries a failed attempt.
The HTTP part stays here, as pooch's downloader protocol allows, for three reasons pooch's own
``HTTPDownloader`` does not cover: errors a learner can act on (the URL, the status, the way out), no retry
where a retry cannot help (a 404, a server that never answers, a file whose digest is wrong), and a digest
computed while streaming so a mismatch names both values.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import re
from pathlib import Path
from urllib.parse import urlparse

import requests
from tqdm import tqdm

from labhelpers.foundation import config
from labhelpers.foundation.errors import DataError

SUFFIXES = (".csv.gz", ".csv", ".parquet")
#: Further attempts after a transient failure (connection refused or reset, a transfer cut short, HTTP 5xx);
#: pooch waits 1 s, then 2 s between them.
RETRIES = 2
_HEX = re.compile(r"[0-9a-f]{64}")


def data_suffix(name: str) -> str | None:
    """The data suffix ``name`` ends with (one of :data:`SUFFIXES`, any case), or None; public to ``load``."""
    return next((suffix for suffix in SUFFIXES if name.lower().endswith(suffix)), None)


def expected_digest(sha256: str | None) -> str | None:
    """A SHA-256 as given (``sha256:`` prefix, any case) in lower-case hex, or None; public to ``load``.

    Raises:
        DataError: ``sha256`` is not 64 hex digits.
    """
    if sha256 is None:
        return None
    digest = sha256.strip().lower().removeprefix("sha256:")
    if not _HEX.fullmatch(digest):
        raise DataError(
            f"sha256={sha256!r} is not a SHA-256 digest; give the 64 hex digits (or leave it out)."
        )
    return digest


class Downloader:
    """pooch's downloader protocol: stream ``url`` into pooch's temporary file, or raise a clear error.

    Transient failures are raised as ``requests`` exceptions, which pooch retries; the rest as
    :class:`DataError`, which pooch passes straight through.
    """

    def __init__(self, timeout: float, progress: bool, sha256: str | None) -> None:
        self.timeout, self.progress, self.sha256 = timeout, progress, sha256

    def __call__(self, url: str, output_file: str, pooch: object, check_only: bool = False) -> None:
        try:
            with requests.get(url, stream=True, timeout=(self.timeout, self.timeout)) as response:
                _refuse_status(url, response)
                digest = self.write_body(url, response, output_file)
        except requests.Timeout:
            raise DataError(self._unanswered(url, "timed out")) from None
        except requests.ConnectionError as error:
            # requests reports a read that timed out mid-transfer as a ConnectionError: no retry either
            if "timed out" in str(error).lower():
                raise DataError(self._unanswered(url, "timed out")) from None
            raise
        if self.sha256 is not None and digest != self.sha256:
            raise DataError(
                f"{url}: the downloaded file's SHA-256 is {digest}, but sha256={self.sha256} was expected. "
                "Nothing was cached. The file on the server changed or arrived damaged: check the URL, or "
                "pass the new digest if you trust the new file."
            )

    def write_body(self, url: str, response: requests.Response, output_file: str) -> str:
        """Stream the body of ``response`` into ``output_file`` (with a progress bar); return its SHA-256.

        The one place bytes reach the disk, so a test can make it fail as a full disk would.
        """
        digest = hashlib.sha256()
        total = int(response.headers.get("Content-Length") or 0) or None
        name = Path(urlparse(url).path).name
        with open(output_file, "wb") as handle, tqdm(
            total=total, unit="B", unit_scale=True, desc=name, disable=not self.progress
        ) as bar:  # fmt: skip
            for chunk in response.iter_content(chunk_size=1 << 20):
                handle.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        return digest.hexdigest()

    def _unanswered(self, url: str, reason: str) -> str:
        return (
            f"{url} did not answer within {self.timeout:g} s ({reason}). Check the URL and your network, "
            "or download the file yourself and pass its local path."
        )


def _refuse_status(url: str, response: requests.Response) -> None:
    """A 5xx may pass (pooch retries it); any other error status ends the download with its reason."""
    if response.status_code >= 500:
        response.raise_for_status()
    if response.status_code >= 400:
        raise DataError(
            f"{url}: the server answered HTTP {response.status_code} {response.reason}. Check the URL "
            "(year, month, yellow/green), or download the file in a browser and pass its local path."
        )


def _fetch(url: str, folder: Path, name: str, downloader: Downloader) -> Path:
    import pooch

    cache = pooch.create(
        path=folder,
        base_url="",
        registry={name: downloader.sha256},
        urls={name: url},
        retry_if_failed=RETRIES,
    )
    logger = pooch.get_logger()
    level = logger.level
    # pooch's INFO lines name the cache's digest file name, not the data file: the progress bar says it better
    logger.setLevel(logging.WARNING)
    try:
        return Path(cache.fetch(name, downloader=downloader))
    except requests.ConnectionError:
        raise DataError(
            f"{url} did not answer within {downloader.timeout:g} s (connection failed, {1 + RETRIES} "
            "attempts). Check the URL and your network, or download the file yourself and pass its local "
            "path."
        ) from None
    except requests.RequestException as error:
        raise DataError(
            f"{url}: the download failed ({error}) after {1 + RETRIES} attempts; try again."
        ) from None
    except OSError as error:  # after RequestException, which is an OSError too
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise DataError(
            f"{url}: the disk holding the download cache {folder} is full; nothing was kept. Free some "
            f"space, or point {config.CACHE_DIR_ENV} at a folder on another disk, then try again."
        ) from None
    finally:
        logger.setLevel(level)


def download(
    url: str,
    *,
    cache_dir: str | Path | None = None,
    timeout: float = 30.0,
    progress: bool = True,
    sha256: str | None = None,
) -> Path:
    """Download a data file once into the cache and return its local path.

    Args:
        url: An ``https://`` or ``http://`` URL ending in .csv, .csv.gz or .parquet.
        cache_dir: Cache folder (default :func:`labhelpers.foundation.config.cache_dir`, ``$LAB_DATA_CACHE``).
        timeout: Seconds to wait for the connection and for each read.
        progress: Show a progress bar.
        sha256: The file's known SHA-256 (hex, optionally ``sha256:``-prefixed). The download is refused
            when it differs, and a cached copy that no longer matches is downloaded again.

    Returns:
        The cached file, named by a digest of the URL plus its suffix; reused without network next time.

    Raises:
        DataError: Unsupported suffix, an HTTP error status, a timeout, a failed connection (after
            retries), a broken transfer (after retries) or a SHA-256 other than ``sha256``.
    """
    suffix = data_suffix(urlparse(url).path)
    if suffix is None:
        raise DataError(f"{url}: the URL does not end in .csv, .csv.gz or .parquet; pass a data file's URL.")
    folder = Path(cache_dir) if cache_dir is not None else config.cache_dir()
    name = f"{hashlib.sha256(url.encode()).hexdigest()[:24]}{suffix}"
    return _fetch(url, folder, name, Downloader(timeout, progress, expected_digest(sha256)))
