"""Project paths, names and defaults. Importing this module reads nothing and writes nothing."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
SAMPLE_DATA = DATA_DIR / "nyc_taxi_sample.csv"

#: The git-ignored folder that holds the local server's database, artifacts, pid and log files.
STATE_DIR_ENV = "LAB_MLFLOW_HOME"
#: The local server's port.
PORT_ENV = "LAB_MLFLOW_PORT"
DEFAULT_PORT = 5000
HOST = "127.0.0.1"

#: Downloaded data files are cached here (keyed by URL digest).
CACHE_DIR_ENV = "LAB_DATA_CACHE"

#: Seconds a data URL's server may take to connect or to send the next block.
DOWNLOAD_TIMEOUT_ENV = "LAB_DOWNLOAD_TIMEOUT"
DEFAULT_DOWNLOAD_TIMEOUT = 30.0

RANDOM_SEED = 42

LINEAR_MODEL_NAME = "taxi-fare-linear-regression"
RIDGE_MODEL_NAME = "taxi-fare-ridge-regression"
KMEANS_MODEL_NAME = "taxi-trip-kmeans"
MODEL_NAMES = (LINEAR_MODEL_NAME, RIDGE_MODEL_NAME, KMEANS_MODEL_NAME)


def state_dir() -> Path:
    """Folder for the local server's state (``$LAB_MLFLOW_HOME`` or ``<project>/.mlflow``)."""
    return Path(os.environ.get(STATE_DIR_ENV) or PROJECT_ROOT / ".mlflow").resolve()


def server_port() -> int:
    """Port of the local MLflow server (``$LAB_MLFLOW_PORT``, default 5000)."""
    raw = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    try:
        port = int(raw)
    except ValueError:
        from labhelpers.core.errors import ServerError

        raise ServerError(f"{PORT_ENV}={raw!r} is not a port number; set it to e.g. 5000.") from None
    return port


def local_tracking_uri() -> str:
    """The embedded default tracking URI: the local server on 127.0.0.1."""
    return f"http://{HOST}:{server_port()}"


def cache_dir() -> Path:
    """Download cache (``$LAB_DATA_CACHE`` or ``<project>/.cache/data``)."""
    return Path(os.environ.get(CACHE_DIR_ENV) or PROJECT_ROOT / ".cache" / "data").resolve()


def download_timeout() -> float:
    """Seconds to wait for a data URL (``$LAB_DOWNLOAD_TIMEOUT``, default 30)."""
    raw = os.environ.get(DOWNLOAD_TIMEOUT_ENV)
    try:
        return float(raw) if raw else DEFAULT_DOWNLOAD_TIMEOUT
    except ValueError:
        from labhelpers.core.errors import DataError

        raise DataError(f"{DOWNLOAD_TIMEOUT_ENV}={raw!r} is not a number of seconds; e.g. 30.") from None
