"""How the classroom's MLflow server is started: gunicorn over TLS, and the host names it answers to."""

from __future__ import annotations

import shlex

import pytest

from labhelpers.classroom import server, tls


def test_gunicorn_serves_tls_with_threaded_workers_that_keep_connections(tmp_path):
    pair = tls.Certificate(tmp_path / "my cert.pem", tmp_path / "key.pem", True)
    options = shlex.split(server._gunicorn_options(pair))  # MLflow splits --gunicorn-opts the same way

    assert options[options.index("--certfile") + 1] == str(pair.cert)  # a space in the path survives
    assert options[options.index("--keyfile") + 1] == str(pair.key)
    assert options[options.index("--worker-class") + 1] == "gthread"
    assert int(options[options.index("--threads") + 1]) >= 2
    assert int(options[options.index("--keep-alive") + 1]) > 0


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "10.1.2.3", "192.168.4.20", "localhost", "::"])
def test_local_and_private_addresses_need_no_allowed_hosts(host):
    assert server._allowed_hosts(host) == {}


def test_a_public_name_is_named_in_the_allowed_hosts_beside_this_machine():
    allowed = server._allowed_hosts("classroom.example.org")["MLFLOW_SERVER_ALLOWED_HOSTS"].split(",")
    assert {"classroom.example.org", "classroom.example.org:*", "127.0.0.1:*", "localhost:*"} <= set(allowed)


def test_each_worker_thread_keeps_its_own_pooled_postgresql_connection(tmp_path, monkeypatch):
    """SQLAlchemy's default pool (5) under 8 threads opened and closed a PostgreSQL connection per request."""
    from labhelpers.classroom.folder import THREADS

    started = {}

    class Spawned:
        pid = 2**22 + 1  # above any pid_max default: names no process of this machine

    def popen(command, **kwargs):
        started.update(kwargs["env"])
        return Spawned()

    monkeypatch.setattr(server.subprocess, "Popen", popen)
    monkeypatch.setattr(server, "_SPAWNED", {})  # the fake process is not recorded as a spawned child
    monkeypatch.delenv("MLFLOW_SQLALCHEMYSTORE_POOL_SIZE", raising=False)
    s = server.settings(tmp_path, "127.0.0.1", 5201, 5202)
    pair = tls.Certificate(tmp_path / "cert.pem", tmp_path / "key.pem", True)
    server._spawn_mlflow(s, pair, {"postgres": "pw", "flask": "key"}, tmp_path / "basic_auth.ini")

    assert int(started["MLFLOW_SQLALCHEMYSTORE_POOL_SIZE"]) >= THREADS
    assert (tmp_path / "mlflow.pid").read_text().strip() == str(Spawned.pid)
