"""The classroom server: PostgreSQL plus an MLflow server with accounts (MLflow's ``basic-auth``) over TLS.

Its folder (``$LAB_CLASSROOM_HOME``, default ``<project>/.classroom``) holds everything it owns, so state
survives a stop and a machine restart; ``start`` brings back what a crash or reboot left::

    roster.txt         the learners (copied from the roster given to start)
    credentials.json   instructor and learner passwords (mode 0600: the instructor's eyes only)
    secrets.json       the PostgreSQL password and the Flask secret key (mode 0600)
    basic_auth.ini     MLflow's auth configuration (mode 0600: it holds the admin password)
    tls-cert.pem, tls-key.pem   a generated self-signed pair (unless the instructor supplies one)
    postgres/          the PostgreSQL cluster (data/, postgres.log)
    artifacts/         model files, served by MLflow itself (``mlflow-artifacts:/``)
    mlflow.pid, classroom.json, mlflow.log   the running MLflow server

Every input is checked before anything is written: a bad roster, a port in use or missing PostgreSQL
binaries change nothing.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from labhelpers.classroom import postgres, tls
from labhelpers.classroom.auth_app import APP_NAME, write_auth_config
from labhelpers.classroom.folder import (
    THREADS,
    Settings,
    locked,
    make_private,
    read_record,
    record_path,
    secrets_of,
)
from labhelpers.classroom.folder import home as home  # re-exported: the CLI and tests use server.home
from labhelpers.classroom.folder import settings as settings
from labhelpers.classroom.roster import (
    CREDENTIALS_FILE,
    INSTRUCTOR,
    check_new_learners,
    ensure_credentials,
    read_roster,
)
from labhelpers.files.artifacts import write_text_atomically
from labhelpers.foundation.errors import ServerError
from labhelpers.processes.groups import SPAWNED, group_alive, terminate_group, wait_until


def _port_in_use(host: str, port: int) -> bool:
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _check_ports(s: Settings, pg_running: bool) -> None:
    if not 0 < s.port < 65536 or not 0 < s.pg_port < 65536 or s.port == s.pg_port:
        raise ServerError(f"Ports {s.port} (MLflow) and {s.pg_port} (PostgreSQL) must be two valid ports.")
    if _port_in_use(s.host, s.port):
        raise ServerError(
            f"Port {s.port} on {s.host} is in use; choose another with --port. Nothing changed."
        )
    if not pg_running and _port_in_use("127.0.0.1", s.pg_port):
        raise ServerError(
            f"Port {s.pg_port} on 127.0.0.1 (PostgreSQL) is in use; choose another with --pg-port. "
            "Nothing changed."
        )


def mlflow_pid(root: Path) -> int | None:
    """The pid of this classroom's live MLflow server (its process group leader), or None."""
    try:
        pid = int((root / "mlflow.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if group_alive(pid) else None


def _allowed_hosts(host: str) -> dict[str, str]:
    """MLflow's Host-header check (DNS rebinding): its defaults admit localhost and private addresses; a
    public name must be named. Through the environment: under gunicorn MLflow refuses ``--allowed-hosts``."""
    import ipaddress

    try:
        if ipaddress.ip_address(host).is_private or ipaddress.ip_address(host).is_unspecified:
            return {}
    except ValueError:
        if host == "localhost":
            return {}
    return {"MLFLOW_SERVER_ALLOWED_HOSTS": f"{host},{host}:*,localhost,localhost:*,127.0.0.1,127.0.0.1:*"}


def _gunicorn_options(cert: tls.Certificate) -> str:
    """gunicorn serving MLflow's Flask app over TLS, threaded workers that keep connections open.

    Not uvicorn, MLflow's default: with more than one worker, uvicorn 0.54 binds the listening socket itself
    and its connections lose TCP_NODELAY (Kludex/uvicorn#3149), so every request after a connection's first
    waited about 40 ms for the client's delayed ACK; and the basic-auth app runs on Flask either way, below
    FastAPI's middleware and a WSGI bridge that cost CPU on every request. Measured on 2 cores, 10 learners
    registering twice at once: 55 s under uvicorn, 31 s under gunicorn with the same two workers.
    """
    import shlex

    return " ".join(
        [
            f"--certfile {shlex.quote(str(cert.cert))} --keyfile {shlex.quote(str(cert.key))}",
            f"--worker-class gthread --threads {THREADS} --keep-alive 30",
            "--timeout 120 --graceful-timeout 10",  # a worker busy 120 s is stuck: gunicorn replaces it
        ]
    )


def _initialise_stores(tracking_uri: str, auth_uri: str, artifacts: Path) -> None:
    """Create or migrate both databases once, before several workers would race to do it."""
    import logging
    import warnings

    store_log = logging.getLogger("mlflow.store.db.utils")
    level = store_log.level
    store_log.setLevel(logging.WARNING)  # "Creating initial MLflow database tables..." is not news here
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SQLAlchemy and starlette deprecation notices, not ours
            from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore as AuthStore
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(tracking_uri, artifacts.as_uri())
            AuthStore().init_db(auth_uri)
    finally:
        store_log.setLevel(level)


def mlflow_command(
    s: Settings, cert: tls.Certificate, secret: dict, ini: Path
) -> tuple[list[str], dict[str, str]]:
    """How MLflow starts: gunicorn, basic-auth over TLS, PostgreSQL stores, passwords only in the environment.

    Args:
        s: The classroom's settings.
        cert: The TLS certificate and key.
        secret: The classroom's secrets (``postgres``, ``flask``).
        ini: The basic-auth configuration file.
    """
    cluster_uri = postgres.Cluster(s.root / "postgres", s.pg_port, Path(), None).uri(secret["postgres"])
    artifacts = s.root / "artifacts"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--artifacts-destination", str(artifacts), "--serve-artifacts",
        "--host", s.host, "--port", str(s.port), "--workers", str(s.workers),
        "--app-name", APP_NAME,  # basic-auth plus the learner policy (labhelpers.classroom.auth_app)
        "--gunicorn-opts", _gunicorn_options(cert),
    ]  # fmt: skip
    env = {
        **os.environ,
        # passwords through the environment, never the command line that `ps` shows to every user
        "MLFLOW_BACKEND_STORE_URI": cluster_uri,
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_FLASK_SERVER_SECRET_KEY": secret["flask"],
        # stored secrets (the AI gateway's) encrypted with the classroom's passphrase, not MLflow's default
        "MLFLOW_CRYPTO_KEK_PASSPHRASE": secret["kek"],
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        # One pooled PostgreSQL connection per worker thread: SQLAlchemy's default pool (5) is smaller than
        # the threads, and each connection beyond it is opened for one request and closed again (a
        # PostgreSQL backend started and a scram-sha-256 sign-in on every such request).
        "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": str(THREADS),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONUNBUFFERED": "1",
        # the choice of gunicorn is deliberate (see _gunicorn_options): not a warning for the log
        "PYTHONWARNINGS": "ignore:We recommend using uvicorn:FutureWarning",
        **_allowed_hosts(s.host),
    }
    return command, env


def _spawn_mlflow(s: Settings, cert: tls.Certificate, secret: dict, ini: Path) -> int:
    command, env = mlflow_command(s, cert, secret, ini)
    (s.root / "artifacts").mkdir(mode=0o700, exist_ok=True)
    log = s.root / "mlflow.log"
    if log.exists():  # the previous run's log may explain why that server died
        log.replace(s.root / "mlflow.log.1")
    with os.fdopen(os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=handle, stderr=subprocess.STDOUT, cwd=s.root, env=env,
            start_new_session=True,
        )  # fmt: skip
    SPAWNED[process.pid] = process
    (s.root / "mlflow.pid").write_text(f"{process.pid}\n")
    return process.pid


def _answers(s: Settings, cert: str | Path, password: str) -> bool:
    """True when MLflow answers the instructor's signed-in API call over TLS."""
    import requests

    try:
        answer = requests.get(
            f"{s.uri}/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=(INSTRUCTOR, password),
            verify=str(cert),
            timeout=5,
        )
    except requests.RequestException:
        return False
    return answer.status_code == 200


def _wait_ready(s: Settings, cert: Path, password: str, pid: int, timeout: float) -> None:
    answered = wait_until(lambda: not group_alive(pid) or _answers(s, cert, password), timeout, 0.5)
    if answered and group_alive(pid):
        return
    problem = "did not answer in time" if group_alive(pid) else "exited during startup"
    stop_mlflow(s.root)
    log = s.root / "mlflow.log"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    raise ServerError(f"The classroom MLflow server {problem}. Last lines of {log}:\n{tail}")


def stop_mlflow(root: Path, timeout: float = 20) -> bool:
    """Stop this classroom's MLflow server (whole process group); False when none ran."""
    pid = mlflow_pid(root)
    if pid is not None:
        terminate_group(pid, timeout)
    (root / "mlflow.pid").unlink(missing_ok=True)
    return pid is not None


def _check_inputs(s: Settings, roster: str | os.PathLike | None) -> tuple[list[str], postgres.Cluster]:
    """Everything that can be refused, checked before the first write."""
    if roster is not None:
        learners = read_roster(roster)
    elif (s.root / "roster.txt").is_file():
        learners = read_roster(s.root / "roster.txt")
    else:
        raise ServerError("No roster yet: give --roster FILE (one learner name per line).")
    check_new_learners(s.root / CREDENTIALS_FILE, learners)
    cluster = postgres.cluster(s.root / "postgres", s.pg_port)  # binaries and service account
    if mlflow_pid(s.root) is None:
        _check_ports(s, pg_running=postgres.postmaster_pid(cluster) is not None)
    return learners, cluster


def start(
    s: Settings,
    roster: str | os.PathLike | None = None,
    *,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    timeout: float = 180,
) -> dict:
    """Start (or resume) PostgreSQL and the MLflow server, then create accounts and namespaces.

    Args:
        s: Folder, address and ports.
        roster: Roster file; default the roster of the previous start.
        tls_cert: The instructor's PEM certificate (with ``tls_key``); default a generated one.
        tls_key: Its unencrypted PEM key.
        timeout: Seconds to wait for the MLflow server to answer.

    Returns:
        The record written to ``classroom.json`` (plus ``already_running``).

    Raises:
        ServerError: A refused input (nothing changed) or a server that did not come up.
    """
    from labhelpers.classroom.accounts import sync_accounts

    learners, cluster = _check_inputs(s, roster)
    if tls_cert is not None or tls_key is not None:
        tls.ensure(s.root, s.host, tls_cert, tls_key)  # refuse a bad pair before writing anything
    s.root.mkdir(parents=True, exist_ok=True)
    make_private(s.root, cluster.run_as)
    with locked(s.root):
        if roster is not None:
            shutil.copyfile(roster, s.root / "roster.txt")
            (s.root / "roster.txt").chmod(0o600)
        credentials = ensure_credentials(s.root / CREDENTIALS_FILE, learners)
        secret = secrets_of(s.root)
        cert = tls.ensure(s.root, s.host, tls_cert, tls_key)
        postgres.initialise(cluster, secret["postgres"])
        pg_pid = postgres.start(cluster)
        postgres.ensure_databases(cluster, secret["postgres"])
        pid = mlflow_pid(s.root)
        already = pid is not None
        if pid is None:
            tracking, auth = cluster.uri(secret["postgres"]), cluster.uri(secret["postgres"], "mlflow_auth")
            ini = write_auth_config(s.root, auth, credentials.instructor)
            _initialise_stores(tracking, auth, s.root / "artifacts")
            pid = _spawn_mlflow(s, cert, secret, ini)
        _wait_ready(s, cert.cert, credentials.instructor, pid, timeout)
        record = {
            "host": s.host, "port": s.port, "pg_port": s.pg_port, "workers": s.workers, "uri": s.uri,
            "cert": str(cert.cert), "mlflow_pid": pid, "postgres_pid": pg_pid,
            "started_at": read_record(s.root).get("started_at") if already else
            datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }  # fmt: skip
        write_text_atomically(record_path(s.root), json.dumps(record, indent=2) + "\n", mode=0o600)
        sync_accounts(s.uri, cert.cert, credentials, learners)
    return {**record, "already_running": already}


def stop(root: Path) -> tuple[bool, bool]:
    """Stop MLflow, then PostgreSQL; returns whether each was running. State stays for the next start."""
    record = read_record(root)
    with locked(root):
        mlflow_stopped = stop_mlflow(root)
        cluster_stopped = False
        if (root / "postgres" / "data").is_dir():
            cluster = postgres.cluster(root / "postgres", int(record.get("pg_port", 0)) or 1)
            cluster_stopped = postgres.stop(cluster)
    return mlflow_stopped, cluster_stopped


@dataclass(frozen=True)
class Status:
    """What :func:`status` found."""

    root: Path
    uri: str
    mlflow_pid: int | None
    postgres_pid: int | None
    answering: bool
    learners: int


def status(s: Settings) -> Status:
    """Whether MLflow and PostgreSQL run, and whether MLflow answers the instructor's signed-in request."""
    from labhelpers.classroom.roster import load_credentials

    pid = mlflow_pid(s.root)
    cluster_pid = postgres.postmaster_pid(postgres.Cluster(s.root / "postgres", s.pg_port, Path(), None))
    credentials = load_credentials(s.root / CREDENTIALS_FILE)
    cert = read_record(s.root).get("cert", "")
    answering = pid is not None and credentials is not None and _answers(s, cert, credentials.instructor)
    learners = len(credentials.learners) if credentials else 0
    return Status(s.root, s.uri, pid, cluster_pid, answering, learners)
