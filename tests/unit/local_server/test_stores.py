"""A damaged database or an unusable artifact folder stops `start` with one message, before any server runs.

Each refusal happens before the server is spawned, so no MLflow server is started here; each test also
checks that nothing in the state folder was changed (what is registered is never lost).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from labhelpers.foundation.errors import ServerError
from labhelpers.local_server import control as local_server
from labhelpers.local_server import state


def _sound_database(path: Path) -> bytes:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE registered_models (name TEXT PRIMARY KEY)")
        db.execute("INSERT INTO registered_models VALUES ('taxi-fare-linear-regression')")
    return path.read_bytes()


def _start_refused(folder: Path, free_port) -> str:
    with pytest.raises(ServerError) as raised:
        local_server.start(free_port(), folder, timeout=5)
    assert not (folder / "server.pid").exists() and not (folder / "server.log").exists()  # never spawned
    return str(raised.value)


def test_a_sound_database_and_folder_pass(tmp_path: Path) -> None:
    paths = state.state_paths(tmp_path)
    _sound_database(paths.db)
    paths.artifacts.mkdir()
    state.check_stores(paths)  # raises on any problem
    assert state.database_problem(paths.db) is None
    assert state.database_problem(tmp_path / "not-created-yet.db") is None


def test_a_file_that_is_not_a_database_is_named_with_the_way_out(tmp_path: Path, free_port) -> None:
    damaged = b"this is not an SQLite database\n" * 100
    (tmp_path / "mlflow.db").write_bytes(damaged)

    message = _start_refused(tmp_path, free_port)

    assert f"{tmp_path / 'mlflow.db'} is damaged" in message
    assert "not a database" in message
    assert f"mv {tmp_path / 'mlflow.db'} {tmp_path / 'mlflow.db'}.damaged" in message
    assert (tmp_path / "mlflow.db").read_bytes() == damaged


def test_a_database_with_damaged_pages_is_refused_and_left_alone(tmp_path: Path, free_port) -> None:
    sound = _sound_database(tmp_path / "mlflow.db")
    page = 4096 if len(sound) > 4096 else len(sound) // 2
    damaged = sound[:page] + b"\xff" * (len(sound) - page)  # every page after the first overwritten
    (tmp_path / "mlflow.db").write_bytes(damaged)

    message = _start_refused(tmp_path, free_port)

    assert "is damaged" in message and "restore it from a backup" in message
    assert (tmp_path / "mlflow.db").read_bytes() == damaged


def test_an_artifact_folder_that_is_a_file_is_named_with_the_way_out(tmp_path: Path, free_port) -> None:
    (tmp_path / "artifacts").write_text("a file where the artifact folder belongs")

    message = _start_refused(tmp_path, free_port)

    assert f"{tmp_path / 'artifacts'} of the local server is not a folder" in message
    assert f"mv {tmp_path / 'artifacts'} {tmp_path / 'artifacts'}.aside" in message
    assert (tmp_path / "artifacts").read_text() == "a file where the artifact folder belongs"


def test_an_unreadable_artifact_folder_is_named_with_the_way_out(
    tmp_path: Path, free_port, monkeypatch: pytest.MonkeyPatch
) -> None:
    artifacts = tmp_path / "artifacts"
    (artifacts / "1" / "model").mkdir(parents=True)
    (artifacts / "1" / "model" / "MLmodel").write_text("flavors: {}\n")
    # Tests run as root, for whom permissions block nothing: simulate the denial the user would get.
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != artifacts and real_access(path, mode))

    message = _start_refused(tmp_path, free_port)

    assert f"{artifacts} in the artifact folder of the local server cannot be read and written" in message
    assert f"chmod -R u+rwX {artifacts}" in message
    assert (artifacts / "1" / "model" / "MLmodel").read_text() == "flavors: {}\n"


@pytest.mark.parametrize("blocked", ["1", "1/model", "1/model/MLmodel"])
def test_an_unusable_folder_or_file_inside_the_artifacts_is_named(
    tmp_path: Path, free_port, monkeypatch: pytest.MonkeyPatch, blocked: str
) -> None:
    artifacts = tmp_path / "artifacts"
    (artifacts / "1" / "model").mkdir(parents=True)
    (artifacts / "1" / "model" / "MLmodel").write_text("flavors: {}\n")
    (artifacts / "2").mkdir()
    real_access = os.access
    denied = artifacts / blocked  # what a root-owned leftover of `sudo make server` is to a learner
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != denied and real_access(path, mode))

    message = _start_refused(tmp_path, free_port)

    assert message.startswith(f"{denied} in the artifact folder of the local server cannot be read")
    assert (artifacts / "1" / "model" / "MLmodel").read_text() == "flavors: {}\n"


def test_a_startup_failure_shows_the_log_tail_unless_the_log_names_a_known_cause(tmp_path: Path) -> None:
    paths = state.state_paths(tmp_path)
    paths.log.write_text("".join(f"line {n}\n" for n in range(100)) + "RuntimeError: something new\n")

    message = state.startup_failure(paths, "The MLflow server on port 5 exited during startup")

    assert message.startswith(
        f"The MLflow server on port 5 exited during startup. Last lines of {paths.log}:"
    )
    first_kept = 100 - (state.LOG_TAIL_LINES - 1)  # the tail ends with the RuntimeError line
    assert message.endswith("RuntimeError: something new")
    assert f"line {first_kept}\n" in message and f"line {first_kept - 1}\n" not in message

    paths.log.write_text(
        "Traceback (most recent call last):\n  ...\nmlflow.exceptions.MlflowException: Detected out-of-date "
        "database schema (found version 1b5f0d9ad7c1, but expected 9a1b2c3d4e5f). Take a backup...\n"
    )
    message = state.startup_failure(paths, "The MLflow server on port 5 exited during startup")
    assert message.startswith(
        f"The local registry database {paths.db} has schema 1b5f0d9ad7c1, but this MLflow"
    )
    assert "expects 9a1b2c3d4e5f" in message and "mlflow db upgrade" in message and "Traceback" not in message
