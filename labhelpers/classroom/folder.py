"""The classroom folder: where it is, what the last start recorded, its secrets, and who signs in.

Kept apart from :mod:`labhelpers.classroom.stack` (which starts and stops processes) so that progress and
reset can find the classroom and sign in as the instructor without touching any process.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labhelpers.classroom.roster import CREDENTIALS_FILE, INSTRUCTOR, read_roster
from labhelpers.files.artifacts import write_text_atomically
from labhelpers.foundation import config
from labhelpers.foundation.errors import ServerError

if TYPE_CHECKING:
    from mlflow import MlflowClient

HOME_ENV = "LAB_CLASSROOM_HOME"
DEFAULT_PORT = 5443
DEFAULT_PG_PORT = 5433
#: Worker processes: one more than the cores (3 on 2 cores), each with THREADS threads. Requests are CPU
#: work in Python (basic-auth's permission look-ups, SQLAlchemy), which one process would serialise under
#: the GIL. More than one worker needs the shared Flask secret. Measured on 2 cores, 10 learners registering
#: twice at once: 42 s with one worker, 31 s with two, 28 s with three.
WORKERS = min(4, (os.cpu_count() or 1) + 1)
THREADS = 8


@dataclass(frozen=True)
class Settings:
    """Where and how the classroom server runs (the record ``classroom.json`` keeps between starts)."""

    root: Path
    host: str
    port: int
    pg_port: int
    workers: int = WORKERS

    @property
    def connect_host(self) -> str:
        """The address clients on this machine use (a wildcard address names no machine)."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host

    @property
    def uri(self) -> str:
        return f"https://{self.connect_host}:{self.port}"


def home(state_dir: str | os.PathLike | None = None) -> Path:
    """The classroom folder: the argument, else ``$LAB_CLASSROOM_HOME``, else ``<project>/.classroom``."""
    chosen = state_dir or os.environ.get(HOME_ENV) or config.PROJECT_ROOT / ".classroom"
    return Path(chosen).expanduser().resolve()


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Serialise start/stop/reset on one classroom folder (two terminals starting it at once).

    An exclusive lock on ``classroom.lock`` (filelock's ``FileLock``: released when the block ends, and by the
    system when the process dies); a second holder waits.
    """
    from filelock import FileLock

    with FileLock(root / "classroom.lock"):
        yield


def make_private(root: Path, service_account: str | None) -> None:
    """The classroom folder for the instructor's eyes only: 0700, or 0710 with the group of PostgreSQL's
    service account when PostgreSQL runs as another account (it must pass through to its cluster, and may list
    nothing). The files learners must not read (roster, logs, record, artifacts) are the instructor's alone.

    Args:
        root: The classroom folder (it exists).
        service_account: The account PostgreSQL runs as, or None when it runs as this process's user.
    """
    if service_account:
        import pwd

        os.chown(root, -1, pwd.getpwnam(service_account).pw_gid)
        root.chmod(0o710)
    else:
        root.chmod(0o700)
    for name in ("roster.txt", "mlflow.log", "mlflow.log.1", "classroom.json"):
        if (root / name).exists():
            (root / name).chmod(0o600)
    if (root / "artifacts").is_dir():
        (root / "artifacts").chmod(0o700)


def record_path(root: Path) -> Path:
    return root / "classroom.json"


def read_record(root: Path) -> dict:
    """What the last start recorded (host, ports, certificate, pid...), or ``{}``."""
    try:
        return json.loads(record_path(root).read_text())
    except (OSError, ValueError):
        return {}


def secrets_of(root: Path) -> dict:
    """The classroom's generated secrets (``secrets.json``, mode 0600), each made once and kept.

    ``postgres``: the database password; ``flask``: the Flask secret key every worker shares; ``kek``: the
    passphrase MLflow encrypts stored secrets with (``MLFLOW_CRYPTO_KEK_PASSPHRASE``; unset, MLflow falls
    back to a default that every MLflow install shares). A file from before a key existed gains it.
    """
    path = root / "secrets.json"
    try:
        stored = json.loads(path.read_text())
    except FileNotFoundError:
        stored = {}
    values = {
        "postgres": secrets.token_urlsafe(24),
        "flask": secrets.token_hex(32),
        "kek": secrets.token_urlsafe(32),
        **stored,
    }
    if values != stored:
        write_text_atomically(path, json.dumps(values) + "\n", mode=0o600)
    return values


def settings(
    state_dir: str | os.PathLike | None = None,
    host: str | None = None,
    port: int | None = None,
    pg_port: int | None = None,
    workers: int | None = None,
) -> Settings:
    """Settings from the arguments, else what the previous start recorded, else the defaults.

    Defaults: 127.0.0.1 (this machine only; give ``--host 0.0.0.0`` to teach over the network), port 5443
    for MLflow and 5433 for PostgreSQL (127.0.0.1 only, whatever the host).
    """
    root = home(state_dir)
    record = read_record(root)
    return Settings(
        root=root,
        host=host or record.get("host") or "127.0.0.1",
        port=int(port or record.get("port") or DEFAULT_PORT),
        pg_port=int(pg_port or record.get("pg_port") or DEFAULT_PG_PORT),
        workers=int(workers or record.get("workers") or WORKERS),
    )


def roster_learners(state_dir: str | os.PathLike | None = None) -> list[str]:
    """The learners of the classroom's roster.

    Raises:
        ServerError: The classroom has no roster yet (and no learner was named).
    """
    path = home(state_dir) / "roster.txt"
    if not path.is_file():
        raise ServerError(f"No roster in {path.parent}: name learners with --learner, or start a classroom.")
    return read_roster(path)


def instructor_client(
    state_dir: str | os.PathLike | None = None, tracking_uri: str | None = None
) -> MlflowClient:
    """An ``MlflowClient`` for the registry the instructor looks after.

    The tracking URI given, else ``$MLFLOW_TRACKING_URI`` (with the credentials the environment holds, e.g.
    an Azure ML workspace), else this machine's classroom server signed in as the instructor: then this
    process's environment gets the instructor's credentials and the certificate to trust.

    Raises:
        ServerError: Neither a URI nor a started classroom exists.
    """
    from mlflow import MlflowClient

    from labhelpers.classroom.roster import load_credentials
    from labhelpers.tracking.connection import SERVER_CERT_ENV, configure_client_timeouts

    configure_client_timeouts()
    uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        root = home(state_dir)
        record, credentials = read_record(root), load_credentials(root / CREDENTIALS_FILE)
        if not record or credentials is None:
            raise ServerError(f"No tracking URI and no classroom in {root}: set MLFLOW_TRACKING_URI.")
        uri = record["uri"]
        os.environ.update(
            {
                "MLFLOW_TRACKING_USERNAME": INSTRUCTOR,
                "MLFLOW_TRACKING_PASSWORD": credentials.instructor,
                SERVER_CERT_ENV: record["cert"],
            }
        )
    return MlflowClient(uri, uri)
