"""The classroom UI asks for a login and shows the learner's models once signed in (headless chromium).

A browser on a learner's machine would show the login prompt; headless chromium cannot type into it, so the
test signs in the way a prompt does, with HTTP basic credentials for the page's origin (``user:password@`` in
the address), and trusts the classroom's certificate the way a learner's browser would after accepting it.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-proxy-server",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors", "--virtual-time-budget=20000",
]  # fmt: skip


def _dom(address: str, profile) -> str:
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", address]
    return subprocess.run(command, capture_output=True, text=True, timeout=180).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: install Debian's (apt-get install chromium)")
def test_the_ui_asks_for_a_login_and_then_lists_the_learners_models(classroom, tmp_path):
    from labhelpers.classroom.rehearsal import learner_uri

    _, record, credentials = classroom
    anonymous = _dom(f"{record['uri']}/#/models", tmp_path / "anonymous")
    assert "taxi-trip-kmeans-learner-1" not in anonymous
    signed_in = learner_uri(record["uri"], "learner-1", credentials.password("learner-1"))
    names = ["taxi-fare-linear-regression-learner-1", "taxi-trip-kmeans-learner-1"]
    dom = ""
    for _ in range(2):  # a loaded machine can run out of virtual time before the API answers
        dom = _dom(f"{signed_in}/#/models", tmp_path / "learner")
        if all(f'href="#/models/{name}"' in dom for name in names):
            break
    assert "<title>Models - MLflow</title>" in dom
    for name in names:
        assert f'href="#/models/{name}"' in dom
