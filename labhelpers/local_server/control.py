"""Start, stop and inspect the lab's local MLflow tracking server (SQLite database + local artifact folder).

The server runs detached in its own session, so it outlives the notebook or script that started it. Its
state folder (``$LAB_MLFLOW_HOME``, default ``<project>/.mlflow``) holds everything it owns::

    mlflow.db     the SQLite backend and registry store
    artifacts/    logged artifacts, served through the server (``mlflow-artifacts:/``)
    server.pid    the pid of the process group leader (``python -m labhelpers.local_server.serve``)
    server.json   pid, its creation time, port, uri, started_at and the store locations
    server.log    the server's stdout and stderr since it was last started (server.log.1: the run before)

POSIX only (Linux, macOS, WSL): it relies on sessions and process groups. The process-group helpers live in
:mod:`labhelpers.processes.groups`, the state folder's files in :mod:`labhelpers.local_server.state`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests

from labhelpers.foundation import config
from labhelpers.foundation.errors import ServerError
from labhelpers.local_server.serve import mlflow_server_folder
from labhelpers.local_server.state import LOG_TAIL_LINES as LOG_TAIL_LINES
from labhelpers.local_server.state import (
    Paths,
    check_stores,
    forget,
    locked,
    running_record,
    startup_failure,
    state_paths,
)
from labhelpers.processes.groups import SPAWNED, created_at, group_alive, terminate_group, wait_until

#: Worker processes, deliberately one (``mlflow server --workers`` defaults to 4 uvicorn processes).
#: Every worker opens its own connections to the one SQLite file, and SQLite lets one writer in at a time:
#: concurrent registrations from several processes then queue on the file lock and fail with "database is
#: locked" once MLflow's 20 s busy timeout runs out. A single uvicorn process still serves requests
#: concurrently (MLflow's Flask app runs in a thread pool) and is ample for one learner.
WORKERS = 1
#: A real API call: /health and /version answer before the stores are usable and skip host validation.
PROBE_PATH = "/api/2.0/mlflow/registered-models/search"
_STOP_HINT = "Stop it with `make stop` (or `python -m labhelpers server stop`)"

StateDir = str | os.PathLike | None


@dataclass(frozen=True)
class ServerInfo:
    """A running local server, as returned by :func:`start`."""

    pid: int
    port: int
    uri: str
    state_dir: Path
    log_path: Path
    started_at: str
    already_running: bool = False


@dataclass(frozen=True)
class ServerStatus:
    """What :func:`status` found: our process (``running``) and whether the port answers API calls."""

    running: bool
    pid: int | None
    port: int
    uri: str
    state_dir: Path
    log_path: Path
    answering: bool


def _resolve(port: int | None, state_dir: StateDir) -> tuple[int, Paths]:
    if os.name == "nt":
        raise ServerError(
            "labhelpers.local_server.control needs Linux, macOS or WSL (it uses POSIX process groups)."
        )
    port = config.server_port() if port is None else int(port)
    if not 0 < port < 65536:
        raise ServerError(f"Port {port} is not a valid TCP port; use e.g. `{config.PORT_ENV}=5001`.")
    root = Path(state_dir).expanduser() if state_dir is not None else config.state_dir()
    return port, state_paths(root.resolve())


def _uri(port: int) -> str:
    return f"http://{config.HOST}:{port}"


def _answers(port: int, timeout: float = 2.0) -> bool:
    """True when an MLflow server on the port answers a real API call with JSON."""
    with requests.Session() as session:
        session.trust_env = False  # never send 127.0.0.1 through an HTTP(S)_PROXY from the environment
        try:
            response = session.get(_uri(port) + PROBE_PATH, params={"max_results": 1}, timeout=timeout)
            return response.status_code == 200 and isinstance(response.json(), dict)
        except (requests.RequestException, ValueError):
            return False


def _port_taken(port: int) -> bool:
    """True when something listens on the port or it cannot be bound (as uvicorn would bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((config.HOST, port)) == 0:
            return True
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.HOST, port))
        except OSError:
            return True
    return False


def _info(record: dict, paths: Paths, already_running: bool) -> ServerInfo:
    port = int(record["port"])
    return ServerInfo(
        pid=record["pid"],
        port=port,
        uri=_uri(port),
        state_dir=paths.root,
        log_path=paths.log,
        started_at=record.get("started_at", "unknown"),
        already_running=already_running,
    )


def _command(port: int, paths: Paths) -> list[str]:
    """The server's command: MLflow's app under uvicorn in one process (:mod:`.serve`), or ``mlflow server``
    for an MLflow without the FastAPI app (MLflow 2)."""
    stores = ["--backend-store-uri", f"sqlite:///{paths.db.as_posix()}",  # absolute: sqlite:////abs/mlflow.db
              "--artifacts-destination", str(paths.artifacts)]  # fmt: skip
    address = ["--host", config.HOST, "--port", str(port), "--workers", str(WORKERS)]
    if fastapi_app_installed():
        return [sys.executable, "-m", "labhelpers.local_server.serve", *stores, *address]
    return [sys.executable, "-m", "mlflow", "server", *stores, "--serve-artifacts", *address]


def fastapi_app_installed() -> bool:
    """Whether this Python's MLflow serves its tracking server as a FastAPI app (MLflow 3), found without
    importing MLflow."""
    folder = mlflow_server_folder()
    return folder is not None and (folder / "fastapi_app.py").is_file()


def _spawn(port: int, paths: Paths) -> dict:
    """Launch the server detached (own session, so it survives the caller) and write its pid files."""
    paths.artifacts.mkdir(parents=True, exist_ok=True)
    if paths.log.exists():  # keep the previous run's log: it may explain why that server died
        paths.log.replace(paths.root / "server.log.1")
    # No GenAI job runner: it adds eight huey processes that a model-registry lab never uses.
    # A pool larger than the server's thread pool (40): MLflow's default (5 + 10 overflow) let concurrent
    # registrations queue 30 s for a connection and fail ("QueuePool limit ... reached"). SQLite
    # connections are cheap, and SQLite's own 20 s busy timeout orders the writers.
    env = {
        **os.environ,
        "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "10",
        "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "50",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "PYTHONUNBUFFERED": "1",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    with open(paths.log, "w") as log:
        process = subprocess.Popen(
            _command(port, paths),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=paths.root,  # anything the server resolves relatively lands in the state folder
            env=env,
            start_new_session=True,
        )
    SPAWNED[process.pid] = process
    record = {
        "pid": process.pid,
        "created": created_at(process.pid),  # tells our process from a later one reusing the pid
        "port": port,
        "uri": _uri(port),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "backend_store_uri": f"sqlite:///{paths.db.as_posix()}",
        "artifacts_destination": str(paths.artifacts),
    }
    paths.pid.write_text(f"{process.pid}\n")
    paths.record.write_text(json.dumps(record, indent=2) + "\n")
    return record


def _wait_ready(record: dict, paths: Paths, timeout: float) -> None:
    """Wait for a real API answer; on death or timeout, kill the group and raise with the log tail."""
    pid, port, created = record["pid"], int(record["port"]), record.get("created")
    wait_until(lambda: not group_alive(pid, created) or _answers(port), timeout, interval=0.25)
    alive = group_alive(pid, created)
    if alive and _answers(port):
        return
    problem = f"did not answer within {timeout:.0f} s" if alive else "exited during startup"
    with contextlib.suppress(ServerError):
        terminate_group(pid, 5.0, created)
    forget(paths)
    raise ServerError(startup_failure(paths, f"The MLflow server on port {port} {problem}"))


def _refuse_taken_port(port: int, paths: Paths) -> None:
    if not _port_taken(port):
        return
    holder = "another MLflow server" if _answers(port, timeout=1.0) else "another process"
    raise ServerError(
        f"Port {port} on {config.HOST} is in use by something else ({holder}, not the lab server "
        f"from {paths.root}). Pick another port, e.g. `{config.PORT_ENV}=5001 make run`, or stop "
        f"whatever holds port {port}."
    )


def start(port: int | None = None, state_dir: StateDir = None, *, timeout: float = 90.0) -> ServerInfo:
    """Start the local MLflow server in the background, or return the one already running.

    Args:
        port: Port on 127.0.0.1; default ``$LAB_MLFLOW_PORT`` or 5000.
        state_dir: Folder for database, artifacts, pid and log files; default ``$LAB_MLFLOW_HOME`` or
            ``<project>/.mlflow``.
        timeout: Seconds to wait for the server to answer a real API call.

    Returns:
        The running server; ``already_running`` is True when an earlier start() had started it (a
        server of this folder that never answers within ``timeout`` is stopped and reported instead).

    Raises:
        ServerError: The port is held by something else, this state folder's server runs on another
            port, its database is damaged or its artifact folder unusable (nothing is changed), or the
            server died or did not answer in time (the message holds the log's last lines).
    """
    port, paths = _resolve(port, state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    with locked(paths):
        record = _refuse_to_start(port, paths)
        if record is not None:
            _wait_ready(record, paths, timeout)
            return _info(record, paths, already_running=True)
        record = _spawn(port, paths)
        _wait_ready(record, paths, timeout)
    return _info(record, paths, already_running=False)


def check_start(port: int | None = None, state_dir: StateDir = None) -> None:
    """Raise at once what :func:`start` would raise before spawning a server (within a second).

    ``course run --start-server`` starts the server beside notebook 01's training; this check lets a port
    held by something else stop the run before the training, not after it.

    Raises:
        ServerError: As :func:`start`, for the port, the state folder's other server or its stores.
    """
    port, paths = _resolve(port, state_dir)
    paths.root.mkdir(parents=True, exist_ok=True)
    with locked(paths):
        _refuse_to_start(port, paths)


def _refuse_to_start(port: int, paths: Paths) -> dict | None:
    """The checks before a start: this folder's running server (its record), None when none runs.

    Raises:
        ServerError: That server runs on another port; or none runs and the stores are unusable or the
            port is held by something else.
    """
    record = running_record(paths)
    if record is not None:
        if int(record.get("port", -1)) != port:
            raise ServerError(
                f"The lab server for {paths.root} already runs on port {record.get('port')} "
                f"(pid {record['pid']}), not {port}. {_STOP_HINT} first, or use that port."
            )
        return record
    check_stores(paths)
    _refuse_taken_port(port, paths)
    return None


def stop(port: int | None = None, state_dir: StateDir = None, *, timeout: float = 20.0) -> bool:
    """Stop the server started from this state folder, children included, and print what happened.

    Args:
        port: Only used to report on the port when nothing runs; the server is found through the state
            folder's pid file (one server per state folder), whatever port it uses.
        state_dir: The state folder given to :func:`start`; default ``$LAB_MLFLOW_HOME`` or ``.mlflow``.
        timeout: Seconds to wait after SIGTERM before sending SIGKILL.

    Returns:
        True when a server was stopped, False when none was running.
    """
    port, paths = _resolve(port, state_dir)
    record = None
    if paths.root.is_dir():
        with locked(paths):
            record = running_record(paths)
            if record is not None:
                terminate_group(record["pid"], timeout, record.get("created"))
                forget(paths)
    if record is None:
        other = f" Port {port} is held by another process, left alone." if _port_taken(port) else ""
        print(f"No local MLflow server was running from {paths.root}.{other}")
        return False
    print(f"Stopped the local MLflow server (pid {record['pid']}, port {record.get('port')}).")
    return True


def status(port: int | None = None, state_dir: StateDir = None) -> ServerStatus:
    """Report whether this state folder's server runs and whether its port answers API calls.

    Args:
        port: Port to report on when no server runs; a running server reports the port it uses.
        state_dir: The state folder given to :func:`start`; default ``$LAB_MLFLOW_HOME`` or ``.mlflow``.

    Returns:
        The status; a stale pid file found on the way is removed.
    """
    port, paths = _resolve(port, state_dir)
    record = running_record(paths) if paths.root.is_dir() else None
    if record is not None:
        port = int(record.get("port", port))
    return ServerStatus(
        running=record is not None,
        pid=record["pid"] if record else None,
        port=port,
        uri=_uri(port),
        state_dir=paths.root,
        log_path=paths.log,
        answering=_answers(port),
    )
