"""Names nobody could have taken, and a classroom folder only the instructor reads."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from labhelpers.classroom import stack
from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials
from labhelpers.foundation.errors import LabError
from tests.adversarial.support import API, refused


def test_a_learner_added_later_finds_every_course_name_of_theirs_free(classroom, accounts, alice, tmp_path):
    s, _, _ = classroom
    # before carol joins, alice tries to take carol's names: refused (test_attacks), so none exists
    refused(
        alice.post(f"{API}/registered-models/create", {"name": "taxi-fare-by-hand-carol"}), by_policy=True
    )
    roster = tmp_path / "roster.txt"
    roster.write_text((s.root / "roster.txt").read_text() + "carol\n")
    stack.start(s, roster)
    carol = accounts("carol")
    names = (
        "taxi-fare-linear-regression-carol",
        "taxi-fare-ridge-regression-carol",
        "taxi-trip-kmeans-carol",
    )
    for name in (*names, "taxi-fare-by-hand-carol"):
        model = carol.ok("GET", f"{API}/registered-models/get", params={"name": name})["registered_model"]
        assert {t["key"]: t["value"] for t in model.get("tags", [])}["learner"] == "carol"
        carol.ok(
            "POST", f"{API}/registered-models/set-tag", json={"name": name, "key": "mine", "value": "yes"}
        )
    for name in ("taxi-model-registry-carol", "taxi-by-hand-carol"):
        found = carol.ok("GET", f"{API}/experiments/get-by-name", params={"experiment_name": name})
        carol.ok("POST", f"{API}/runs/create", json={"experiment_id": found["experiment"]["experiment_id"]})


def test_a_learner_whose_names_would_overlap_another_learners_is_refused(classroom, tmp_path):
    s, _, _ = classroom
    before = (s.root / CREDENTIALS_FILE).read_text()
    roster = tmp_path / "roster.txt"
    roster.write_text((s.root / "roster.txt").read_text() + "team-bob\n")  # its names end in '-bob' too
    with pytest.raises(LabError, match="'team-bob' ends in '-bob'"):
        stack.start(s, roster)
    assert (s.root / CREDENTIALS_FILE).read_text() == before  # nothing changed
    credentials = load_credentials(s.root / CREDENTIALS_FILE)
    assert credentials is not None and "team-bob" not in credentials.learners


def test_a_learner_creates_names_of_their_own_beyond_the_course(alice, instructor):
    made = alice.ok("POST", f"{API}/registered-models/create", json={"name": "my-experiment-model-alice"})
    assert made["registered_model"]["name"] == "my-experiment-model-alice"
    alice.ok("POST", f"{API}/registered-models/rename",
             json={"name": "my-experiment-model-alice", "new_name": "renamed-alice"})  # fmt: skip
    assert instructor.get(f"{API}/registered-models/get", name="renamed-alice").status_code == 200


def _readable_by(user: str, path) -> bool:
    return (
        subprocess.run(["runuser", "-u", user, "--", "cat", str(path)], capture_output=True).returncode == 0
    )


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("runuser") is None, reason="needs root to act as others"
)
def test_the_classroom_folder_is_the_instructors_alone(classroom):
    s, _, _ = classroom
    mode = s.root.stat().st_mode & 0o777
    assert mode in (0o700, 0o710), oct(mode)  # 0710: PostgreSQL's account passes through to its cluster
    private = ("credentials.json", "secrets.json", "basic_auth.ini", "tls-key.pem", "classroom.json")
    for name in ("roster.txt", "mlflow.log", *private):
        assert (s.root / name).stat().st_mode & 0o077 == 0, name
        for someone in ("nobody", "postgres"):
            assert not _readable_by(someone, s.root / name), f"{someone} reads {name}"
    assert (s.root / "artifacts").stat().st_mode & 0o077 == 0
    assert not _readable_by("postgres", s.root / "roster.txt")


def test_mlflow_encrypts_stored_secrets_with_the_classrooms_own_passphrase(classroom):
    s, record, _ = classroom

    kek = json.loads((s.root / "secrets.json").read_text())["kek"]
    assert len(kek) >= 32
    environment = (f"/proc/{stack.mlflow_pid(s.root)}/environ", "rb")  # the server now running
    with open(*environment) as handle:
        variables = dict(item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item)
    assert variables[b"MLFLOW_CRYPTO_KEK_PASSPHRASE"].decode() == kek
