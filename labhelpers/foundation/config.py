"""Project paths, names and defaults. Importing this module reads nothing and writes nothing."""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = PROJECT_ROOT / "data"
SAMPLE_DATA = DATA_DIR / "nyc_taxi_sample.csv"
#: The deployment configuration the course pins production in (endpoint, deployments, scoring script).
DEPLOYMENT_DIR = PROJECT_ROOT / "ML" / "deployment"
#: The request file for ``az ml online-endpoint invoke`` and the local inference server (``input_data``).
SAMPLE_REQUEST = DEPLOYMENT_DIR / "sample-request.json"

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
        from labhelpers.foundation.errors import ServerError

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
        from labhelpers.foundation.errors import DataError

        raise DataError(f"{DOWNLOAD_TIMEOUT_ENV}={raw!r} is not a number of seconds; e.g. 30.") from None


#: Online endpoint names must be unique in an Azure region (3-32 characters: a letter, then letters, digits
#: or hyphens), so every endpoint name the lab uses is built here, from a base and a suffix.
ENDPOINT_BASE = "taxi-fare"
ENDPOINT_SUFFIX_ENV = "LAB_ENDPOINT_SUFFIX"
_ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{2,31}$")


def endpoint_suffix(learner: str | None = None) -> str:
    """The suffix that makes endpoint names unique: ``$LAB_ENDPOINT_SUFFIX``, else the learner, else one per
    user and machine.

    The last is a short digest of the login name and host name: compute instances all log in as
    ``azureuser``, but each has its own host name. A learner name is unique in its cohort already.
    """
    chosen = os.environ.get(ENDPOINT_SUFFIX_ENV, "").strip().lower()
    if chosen or learner:
        return chosen or str(learner)
    import hashlib

    return hashlib.sha256(f"{login_name()}@{socket.gethostname()}".encode()).hexdigest()[:8]


def login_name(default: str = "unknown") -> str:
    """The login name this process runs under, or ``default`` where the system has none.

    ``getpass.getuser`` reads ``LOGNAME``, ``USER``, ``LNAME`` and ``USERNAME``, then the password database.
    A container run under a bare uid has neither: Python 3.10-3.12 raise ``KeyError`` (no such uid in the
    database), 3.13 ``OSError``, and a system without the ``pwd`` module ``ImportError``. Nothing else is
    caught: any other error is a bug to see, not a missing name.
    """
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):
        return default


def endpoint_name(learner: str | None = None) -> str:
    """The lab's online endpoint name, ``taxi-fare-<suffix>`` (see :func:`endpoint_suffix`).

    Raises:
        LabError: The suffix makes a name Azure ML would refuse.
    """
    name = f"{ENDPOINT_BASE}-{endpoint_suffix(learner)}"
    if not _ENDPOINT_NAME.match(name):
        from labhelpers.foundation.errors import LabError

        raise LabError(
            f"Endpoint name {name!r} is not valid on Azure ML (3-32 characters, a letter first, then "
            f"letters, digits or hyphens); set {ENDPOINT_SUFFIX_ENV} to a short suffix of letters and digits."
        )
    return name


def free_port() -> int:
    """A TCP port on :data:`HOST` that nothing listens on at the moment of the call (the system picks it)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
