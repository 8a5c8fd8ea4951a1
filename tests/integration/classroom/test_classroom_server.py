"""The classroom server for real: PostgreSQL, MLflow basic-auth, TLS, accounts and namespaces, refusals."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import requests

SEARCH = "/api/2.0/mlflow/registered-models/search"


def _get(record, path, auth=None, **params):
    return requests.get(record["uri"] + path, params=params, auth=auth, verify=record["cert"], timeout=30)


def test_the_server_answers_over_tls_to_signed_in_users_only(classroom):
    s, record, credentials = classroom
    assert record["uri"].startswith("https://")
    assert _get(record, SEARCH, ("learner-1", credentials.password("learner-1"))).status_code == 200
    assert _get(record, SEARCH, ("learner-1", "not-the-password")).status_code == 401
    assert _get(record, SEARCH).status_code == 401
    with pytest.raises(requests.exceptions.SSLError):  # an untrusted certificate is not waved through
        requests.get(record["uri"] + SEARCH, timeout=30)
    with pytest.raises(requests.RequestException):  # no plain-HTTP door beside the TLS one
        requests.get(record["uri"].replace("https://", "http://") + SEARCH, timeout=30)


def test_status_reports_both_servers(classroom):
    from labhelpers.classroom import stack
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials

    s, record, credentials = classroom
    found = stack.status(stack.settings(s.root))
    assert found.answering and found.mlflow_pid == record["mlflow_pid"] and found.postgres_pid
    # read anew: another test of the session may have added a learner since the server started
    assert (
        found.learners
        == len(getattr(load_credentials(s.root / CREDENTIALS_FILE), "learners", ()))
        >= len(credentials.learners)
    )


def test_learners_read_every_model_and_change_only_their_own(classroom):
    s, record, credentials = classroom
    me = ("learner-1", credentials.password("learner-1"))
    own, other = "taxi-trip-kmeans-learner-1", "taxi-trip-kmeans-learner-2"
    tag = {"key": "note", "value": "mine"}
    post = "/api/2.0/mlflow/registered-models/set-tag"
    kwargs = {"auth": me, "verify": record["cert"], "timeout": 30}
    assert requests.post(record["uri"] + post, json={"name": own, **tag}, **kwargs).status_code == 200
    assert requests.post(record["uri"] + post, json={"name": other, **tag}, **kwargs).status_code == 403
    assert _get(record, "/api/2.0/mlflow/registered-models/get", me, name=other).status_code == 200
    # nor can a learner take names outside their namespace first, or make accounts
    squat = requests.post(record["uri"] + "/api/2.0/mlflow/users/create",
                          json={"username": "mallory", "password": "x" * 12}, **kwargs)  # fmt: skip
    assert squat.status_code == 403
    taken = requests.post(record["uri"] + "/api/2.0/mlflow/registered-models/create",
                          json={"name": "taxi-fare-ridge-regression-learner-3"}, **kwargs)  # fmt: skip
    assert taken.status_code != 200


def test_a_second_start_resumes_and_adds_new_learners_with_their_own_password(classroom, tmp_path):
    from labhelpers.classroom import stack
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials

    s, record, credentials = classroom
    roster = tmp_path / "roster.txt"
    roster.write_text((s.root / "roster.txt").read_text() + "late-joiner\n")
    again = stack.start(s, roster)
    assert again["already_running"] and again["mlflow_pid"] == record["mlflow_pid"]
    now = load_credentials(s.root / CREDENTIALS_FILE)
    assert now is not None
    assert {k: now.learners[k] for k in credentials.learners} == credentials.learners
    late = ("late-joiner", now.password("late-joiner"))
    assert _get(record, SEARCH, late).status_code == 200
    found = _get(record, "/api/2.0/mlflow/registered-models/get", late, name="taxi-trip-kmeans-late-joiner")
    assert found.json()["registered_model"]["name"] == "taxi-trip-kmeans-late-joiner"


def _refused_start(folder, free_port, roster_text, port=None):
    from labhelpers.classroom import stack
    from labhelpers.foundation.errors import LabError

    roster = folder.parent / f"{folder.name}-roster.txt"
    roster.write_text(roster_text)
    s = stack.settings(folder, "127.0.0.1", port or free_port(), free_port())
    with pytest.raises(LabError) as refused:
        stack.start(s, roster, timeout=30)
    assert not folder.exists()  # nothing was written
    return str(refused.value)


def test_bad_rosters_busy_ports_and_missing_binaries_are_refused_changing_nothing(
    classroom, classroom_root, tmp_path, free_port, monkeypatch
):
    s, record, _ = classroom
    spot = classroom_root / "refused"
    assert "already on line 1" in _refused_start(spot, free_port, "ann\nann\n")
    assert "line 1" in _refused_start(spot, free_port, "Ann Smith\n")
    assert f"Port {record['port']} on 127.0.0.1 is in use" in _refused_start(
        spot, free_port, "ann\n", port=record["port"]
    )
    if os.geteuid() == 0:  # PostgreSQL's account must reach the folder; pytest's own are 0700
        assert "cannot enter" in _refused_start(tmp_path / "private", free_port, "ann\n")
    monkeypatch.setenv("LAB_PG_BIN", str(tmp_path / "no-postgres-here"))
    assert "apt-get install -y postgresql" in _refused_start(spot, free_port, "ann\n")


def test_the_export_block_is_all_a_learner_needs(classroom, tmp_path):
    s, record, credentials = classroom
    cli = [sys.executable, "-m", "labhelpers", "classroom", "export", "learner-2", "--state-dir", str(s.root)]
    block = subprocess.run(cli, capture_output=True, text=True, check=True).stdout
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "LAB_LEARNER"))}
    for line in block.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        clean[name] = value
    script = (
        "from labhelpers import use_tracking, comparison_table\n"
        "from labhelpers.azure.ml.connect import connect\n"
        "print(use_tracking())\n"
        "print(connect('env').tracking_uri)\n"  # the notebooks' backend = "env"
        "print(sorted(comparison_table()['name'].unique()) if len(comparison_table()) else 'no versions')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=clean, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [record["uri"], record["uri"]]
    assert clean["LAB_LEARNER"] == "learner-2"
    assert clean["MLFLOW_TRACKING_PASSWORD"] == credentials.learners["learner-2"]
