"""One classroom server for the session: PostgreSQL + MLflow basic-auth over TLS, on free ports.

Its folder is made outside pytest's temporary tree: PostgreSQL runs as an unprivileged account when the tests
run as root, and that account cannot enter pytest's 0700 folders.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

#: The small cohort of `make test` (the benchmark runs 30).
LEARNERS = [f"learner-{n}" for n in range(1, 9)]
SPARE = ["spare-a", "spare-b"]  # accounts the load test leaves alone (progress, reset)
COURSEWORK = "coursework"  # the account that runs the course notebooks (test_course_as_learner.py)


def _needs_postgres(tier_unavailable):
    from labhelpers.classroom import postgres
    from labhelpers.core.errors import ServerError

    try:
        postgres.find_binaries()
        postgres.service_user()
    except ServerError as missing:
        tier_unavailable(f"no usable PostgreSQL here: {missing}")


@pytest.fixture(scope="session")
def classroom_root():
    """A fresh folder every account can traverse (removed after the session)."""
    root = Path(tempfile.mkdtemp(prefix="lab-classroom-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def classroom(classroom_root, free_port, tier_unavailable):
    """The started classroom: ``(settings, record, credentials)``; stopped at the end of the session."""
    _needs_postgres(tier_unavailable)
    from labhelpers.classroom import server
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials

    roster = classroom_root / "roster-input.txt"
    roster.write_text("# the test cohort\n" + "\n".join([*LEARNERS, *SPARE, COURSEWORK]) + "\n")
    s = server.settings(classroom_root / "state", "127.0.0.1", free_port(), free_port())
    record = server.start(s, roster, timeout=240)
    yield s, record, load_credentials(s.root / CREDENTIALS_FILE)
    server.stop(s.root)


@pytest.fixture
def as_learner(classroom, monkeypatch):
    """``as_learner(name)`` exports that account's credentials and certificate for this test."""
    from labhelpers.server.tracking import configure_client_timeouts

    s, record, credentials = classroom
    configure_client_timeouts()

    def sign_in(user: str) -> str:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", record["uri"])
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", credentials.password(user))
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", record["cert"])
        return record["uri"]

    yield sign_in
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def cohort():
    """The learners the load test drives (the spare accounts stay untouched)."""
    return list(LEARNERS)


@pytest.fixture(scope="session")
def spare():
    """Accounts no load touches."""
    return list(SPARE)


@pytest.fixture(scope="session")
def coursework():
    """The account that runs the course notebooks; no load touches it."""
    return COURSEWORK


@pytest.fixture(scope="session")
def validation_csv(tmp_path_factory):
    """A small generated month the promotion gates score (generated once, not per promotion)."""
    from labhelpers.data.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("validation") / "trips.csv", n_rows=3000, seed=29)


@pytest.fixture
def no_signed_in_user(classroom, monkeypatch):
    """No credentials in the environment (each simulated learner brings its own), the certificate trusted."""
    _, record, _ = classroom
    for name in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_URI",
        "LAB_LEARNER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", record["cert"])
    return record
