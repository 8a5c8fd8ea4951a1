"""The local MLflow server: start, reuse, refuse a taken port, report, stop (children too), and the CLI.

Server starts cost seconds each, so read-only tests share one module-scoped server and only the lifecycle
and failure tests start their own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from labhelpers.foundation import config
from labhelpers.foundation.errors import ServerError
from labhelpers.local_server import control as local_server
from labhelpers.processes.groups import wait_until
from labhelpers.tracking import connection as tracking

API_PROBE = "/api/2.0/mlflow/registered-models/search?max_results=1"


def _dump(db: Path) -> list[str]:
    """The database's content as SQL statements (its header's change counter aside)."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return list(connection.iterdump())


def _dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def _cli(*args: str, port: int, state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, config.PORT_ENV: str(port), config.STATE_DIR_ENV: str(state)}
    return subprocess.run(
        [sys.executable, "-m", "labhelpers", "server", *args],
        cwd=config.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory, free_port) -> Iterator[local_server.ServerInfo]:
    """One server shared by the tests that only read from it (or write under unique names)."""
    state, port = tmp_path_factory.mktemp("state"), free_port()
    try:
        yield local_server.start(port, state)
    finally:
        local_server.stop(port, state)


def test_start_answers_a_real_api_call_and_keeps_state_in_its_folder(
    running: local_server.ServerInfo,
) -> None:
    response = requests.get(running.uri + API_PROBE, timeout=5)
    assert response.status_code == 200 and isinstance(response.json(), dict)
    assert running.uri == f"http://127.0.0.1:{running.port}" and not running.already_running
    record = json.loads((running.state_dir / "server.json").read_text())
    assert record["pid"] == running.pid == int((running.state_dir / "server.pid").read_text())
    db = Path(record["backend_store_uri"].removeprefix("sqlite:///"))
    artifacts = Path(record["artifacts_destination"])
    for path in (db, artifacts):
        assert path.is_absolute() and path.parent == running.state_dir and path.exists()
    assert record["backend_store_uri"].startswith("sqlite:////")


def test_artifacts_logged_through_the_server_land_in_the_state_folder(
    running: local_server.ServerInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    monkeypatch.setenv(tracking.TRACKING_URI_ENV, "placeholder")  # restored after use_tracking sets it
    monkeypatch.delenv(tracking.TRACKING_URI_ENV)
    try:
        assert tracking.use_tracking(running.uri) == running.uri
        mlflow.set_experiment(f"test-artifacts-{uuid.uuid4().hex[:8]}")
        with mlflow.start_run():
            mlflow.log_text("hello", "note.txt")
    finally:
        mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it (MLflow's hint omits it)
        mlflow.set_registry_uri(None)  # type: ignore[arg-type]  # None resets it
    assert [path.read_text() for path in (running.state_dir / "artifacts").rglob("note.txt")] == ["hello"]


def test_concurrent_registrations_get_distinct_versions(running: local_server.ServerInfo) -> None:
    from mlflow import MlflowClient

    client, name = MlflowClient(running.uri, running.uri), f"test-concurrent-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    run_id = client.create_run(client.create_experiment(name)).info.run_id

    def register(_: int) -> str:
        return client.create_model_version(name, f"runs:/{run_id}/model", run_id=run_id).version

    with ThreadPoolExecutor(max_workers=8) as pool:
        versions = sorted(int(version) for version in pool.map(register, range(16)))
    assert versions == list(range(1, 17))


def test_start_again_returns_the_running_server(running: local_server.ServerInfo) -> None:
    again = local_server.start(running.port, running.state_dir)
    assert (again.pid, again.started_at, again.already_running) == (running.pid, running.started_at, True)


def test_status_of_a_running_server(running: local_server.ServerInfo) -> None:
    found = local_server.status(running.port, running.state_dir)
    assert (found.running, found.answering, found.pid, found.uri) == (True, True, running.pid, running.uri)
    assert found.log_path == running.state_dir / "server.log" and found.log_path.exists()


def test_same_state_folder_on_another_port_is_refused(running: local_server.ServerInfo, free_port) -> None:
    with pytest.raises(ServerError, match=f"already runs on port {running.port}"):
        local_server.start(free_port(), running.state_dir)


def test_port_held_by_another_mlflow_server_is_refused(
    running: local_server.ServerInfo, tmp_path: Path
) -> None:
    with pytest.raises(ServerError, match=rf"Port {running.port} .*\(another MLflow server"):
        local_server.start(running.port, tmp_path)
    assert not (tmp_path / "server.pid").exists()


def test_port_held_by_a_plain_socket_is_refused(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind((config.HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        with pytest.raises(ServerError) as raised:
            local_server.start(port, tmp_path)
    message = str(raised.value)
    assert f"Port {port}" in message and "in use by something else" in message
    assert "LAB_MLFLOW_PORT=5001 make run" in message
    assert not (tmp_path / "server.pid").exists()


def test_nothing_running_status_and_stop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], free_port
) -> None:
    port = free_port()
    found = local_server.status(port, tmp_path / "never-started")
    assert (found.running, found.answering, found.pid) == (False, False, None)
    assert local_server.stop(port, tmp_path / "never-started") is False
    assert "No local MLflow server was running" in capsys.readouterr().out
    assert not (tmp_path / "never-started").exists()


def test_stale_pid_file_is_cleaned_up(tmp_path: Path, free_port) -> None:
    port = free_port()
    for check in (
        lambda: local_server.status(port, tmp_path).running,
        lambda: local_server.stop(port, tmp_path),
    ):
        (tmp_path / "server.pid").write_text(f"{_dead_pid()}\n")
        (tmp_path / "server.json").write_text(json.dumps({"port": port}))
        assert check() is False
        assert not (tmp_path / "server.pid").exists() and not (tmp_path / "server.json").exists()


def test_startup_timeout_kills_the_server_and_shows_the_log(tmp_path: Path, free_port) -> None:
    with pytest.raises(ServerError, match=r"did not answer within 1 s\. Last lines of .*server\.log"):
        local_server.start(free_port(), tmp_path, timeout=1.0)
    assert not (tmp_path / "server.pid").exists()


def test_a_database_from_another_mlflow_version_gets_one_message_and_is_left_as_it_was(
    tmp_path: Path, free_port, seeded_state
) -> None:
    port = free_port()
    seeded_state(tmp_path)  # a complete registry database, as a first start leaves it...
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db, db:
        db.execute("UPDATE alembic_version SET version_num = '0000deadbeef'")  # ...of another MLflow version
    before = _dump(tmp_path / "mlflow.db")

    with pytest.raises(ServerError) as raised:
        local_server.start(
            port, tmp_path, timeout=180
        )  # generous, like the session server: machines can be loaded

    message = str(raised.value)
    assert f"{tmp_path / 'mlflow.db'} has schema 0000deadbeef, but this MLflow expects" in message
    assert f"mlflow db upgrade sqlite:///{tmp_path / 'mlflow.db'}" in message
    assert "Traceback" not in message and "\n" not in message
    assert _dump(tmp_path / "mlflow.db") == before  # every table and row as it was
    assert not (tmp_path / "server.pid").exists()


def test_a_schema_unknown_to_this_mlflow_gets_one_message(tmp_path: Path, free_port) -> None:
    # Only a revision table, of a revision this MLflow never had: MLflow itself stops at "Can't locate".
    with contextlib.closing(sqlite3.connect(tmp_path / "mlflow.db")) as db, db:
        db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        db.execute("INSERT INTO alembic_version VALUES ('0000deadbeef')")

    with pytest.raises(ServerError) as raised:
        local_server.start(free_port(), tmp_path)

    message = str(raised.value)
    assert f"{tmp_path / 'mlflow.db'} has schema 0000deadbeef, which this MLflow does not know" in message
    assert f"mv {tmp_path / 'mlflow.db'} {tmp_path / 'mlflow.db'}.other" in message
    assert "Traceback" not in message and "\n" not in message


def test_cli_names_a_damaged_database_and_the_way_out_in_one_message(tmp_path: Path, free_port) -> None:
    damaged = b"this is not an SQLite database\n" * 100
    (tmp_path / "mlflow.db").write_bytes(damaged)

    result = _cli("start", port=free_port(), state=tmp_path)

    assert result.returncode == ServerError.exit_code
    assert "Traceback" not in result.stderr and "sqlalchemy" not in result.stderr.lower()
    assert str(tmp_path / "mlflow.db") in result.stderr and "is damaged" in result.stderr
    assert result.stderr.count("\n") == 1  # one message, one line
    assert (tmp_path / "mlflow.db").read_bytes() == damaged  # left as it was: nothing lost
    assert not (tmp_path / "server.pid").exists()


def test_cli_lifecycle_from_stale_pid_to_stopped(tmp_path: Path, free_port, port_free, process_group) -> None:
    port, state = free_port(), tmp_path / "state"
    state.mkdir()
    (state / "server.pid").write_text(f"{_dead_pid()}\n")
    try:
        started = _cli("start", port=port, state=state)
        assert started.returncode == 0, started.stderr
        assert f"MLflow UI: http://127.0.0.1:{port}" in started.stdout
        assert _cli("status", port=port, state=state).returncode == 0
        pgid = int((state / "server.pid").read_text())
        assert [p.pid for p in process_group(pgid)] == [pgid]  # one process: serve.py
        assert local_server.stop(port, state) is True  # stopped from another process than the starter
        assert port_free(port) and process_group(pgid) == []  # gone, not still exiting
        stopped = _cli("status", port=port, state=state)
        assert stopped.returncode == 1 and "not running" in stopped.stdout
        again = _cli("stop", port=port, state=state)
        assert again.returncode == 0 and "No local MLflow server was running" in again.stdout

        assert _cli("start", port=port, state=state).returncode == 0  # a restart, on the existing database
        pgid = int((state / "server.pid").read_text())
        os.kill(pgid, signal.SIGKILL)  # the server dies hard: nothing removes its pid file
        assert wait_until(lambda: not process_group(pgid), 20)
        assert not local_server.status(port, state).running  # the stale pid file is found out...
        assert not (state / "server.pid").exists()  # ...and removed
        stopped = _cli("stop", port=port, state=state)
        assert stopped.returncode == 0 and "No local MLflow server was running" in stopped.stdout
        assert port_free(port)
    finally:
        local_server.stop(port, state)


def test_cli_reports_lab_errors_without_traceback(tmp_path: Path) -> None:
    with socket.socket() as listener:
        listener.bind((config.HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        result = _cli("start", port=port, state=tmp_path)
    assert result.returncode == ServerError.exit_code
    assert "in use by something else" in result.stderr and "Traceback" not in result.stderr


def _clauses(sql: str | None) -> list[str]:
    """A CREATE statement's lines without their trailing commas, sorted: the order in which a migration
    lists a table's constraints varies between processes (it iterates a set)."""
    return sorted(line.strip().rstrip(",") for line in (sql or "").splitlines())


def _schema_and_seed(db: Path) -> tuple[list, list, list]:
    """What a database holds before anything is logged: tables and indexes, schema revision, experiments."""
    with contextlib.closing(sqlite3.connect(db)) as connection:
        return (
            sorted(
                (kind, name, _clauses(sql))
                for kind, name, sql in connection.execute("SELECT type, name, sql FROM sqlite_master")
            ),
            connection.execute("SELECT version_num FROM alembic_version").fetchall(),
            connection.execute(
                "SELECT experiment_id, name, artifact_location, lifecycle_stage FROM experiments"
                " WHERE experiment_id = 0"
            ).fetchall(),
        )


def test_the_tests_template_database_is_what_a_first_start_creates(
    running: local_server.ServerInfo, seeded_state, tmp_path: Path
) -> None:
    # The other tiers' servers start on a copy of one migrated database (tests/conftest.py, seeded_state).
    template = seeded_state(tmp_path) / "mlflow.db"
    assert _schema_and_seed(template) == _schema_and_seed(running.state_dir / "mlflow.db")
