"""How the classroom's MLflow server is started: gunicorn over TLS, and the host names it answers to."""

from __future__ import annotations

import shlex

import pytest

from labhelpers.classroom import stack, tls
from labhelpers.classroom.folder import THREADS

SECRET = {"postgres": "pg-password", "flask": "flask-key", "kek": "kek-passphrase"}


def _started_with(tmp_path, host: str = "127.0.0.1", cert_name: str = "cert.pem"):
    """The command line and environment ``classroom start`` would give MLflow on ``host``."""
    s = stack.settings(tmp_path, host, 5201, 5202)
    pair = tls.Certificate(tmp_path / cert_name, tmp_path / "key.pem", True)
    command, env = stack.mlflow_command(s, pair, SECRET, tmp_path / "basic_auth.ini")
    return pair, command, env


def test_gunicorn_serves_tls_with_threaded_workers_that_keep_connections(tmp_path):
    pair, command, _ = _started_with(tmp_path, cert_name="my cert.pem")
    assert command[command.index("--app-name") + 1] == "lab-classroom"
    options = shlex.split(command[command.index("--gunicorn-opts") + 1])  # MLflow splits them the same way

    assert options[options.index("--certfile") + 1] == str(pair.cert)  # a space in the path survives
    assert options[options.index("--keyfile") + 1] == str(pair.key)
    assert options[options.index("--worker-class") + 1] == "gthread"
    assert int(options[options.index("--threads") + 1]) >= 2
    assert int(options[options.index("--keep-alive") + 1]) > 0


def test_passwords_go_through_the_environment_never_the_command_line(tmp_path):
    _, command, env = _started_with(tmp_path)
    assert not any(secret in word for word in command for secret in SECRET.values())
    assert SECRET["postgres"] in env["MLFLOW_BACKEND_STORE_URI"]
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"] == SECRET["flask"]
    # gateway secrets are encrypted with the classroom's generated passphrase, never MLflow's shared default
    assert env["MLFLOW_CRYPTO_KEK_PASSPHRASE"] == SECRET["kek"]


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "10.1.2.3", "192.168.4.20", "localhost", "::"])
def test_local_and_private_addresses_need_no_allowed_hosts(tmp_path, host, monkeypatch):
    monkeypatch.delenv("MLFLOW_SERVER_ALLOWED_HOSTS", raising=False)
    _, _, env = _started_with(tmp_path, host)
    assert "MLFLOW_SERVER_ALLOWED_HOSTS" not in env


def test_a_public_name_is_named_in_the_allowed_hosts_beside_this_machine(tmp_path):
    _, _, env = _started_with(tmp_path, "classroom.example.org")
    allowed = env["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert {"classroom.example.org", "classroom.example.org:*", "127.0.0.1:*", "localhost:*"} <= set(allowed)


def test_each_worker_thread_keeps_its_own_pooled_postgresql_connection(tmp_path, monkeypatch):
    """SQLAlchemy's default pool (5) under 8 threads opened and closed a PostgreSQL connection per request."""
    monkeypatch.delenv("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", raising=False)
    _, _, env = _started_with(tmp_path)
    assert int(env["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"]) >= THREADS
