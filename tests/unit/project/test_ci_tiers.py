"""CI refuses what it did not test: under CI=true a tier this machine cannot run fails with one line.

On a developer's machine (CI unset) the same tier is skipped with its reason. Both halves are checked: the
decision the tests take (the ``tier_unavailable`` fixture), a pytest run without chromium on PATH, and
``.ci/run``'s install steps without chromium and with an ``apt-get`` that fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PYTEST_FAILED, PYTEST_SKIPPED = pytest.fail.Exception, pytest.skip.Exception


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_under_ci_a_tier_that_cannot_run_fails_with_its_reason(tier_unavailable, value):
    with pytest.raises(PYTEST_FAILED) as failed:
        tier_unavailable("no chromium on PATH", environ={"CI": value})
    assert str(failed.value) == "CI=true and this tier cannot run: no chromium on PATH"
    assert failed.value.pytrace is False  # one line, no traceback


@pytest.mark.parametrize("environ", [{}, {"CI": ""}, {"CI": "false"}, {"CI": "0"}])
def test_on_a_developers_machine_it_is_skipped_with_its_reason(tier_unavailable, environ):
    with pytest.raises(PYTEST_SKIPPED) as skipped:
        tier_unavailable("no chromium on PATH", environ=environ)
    assert str(skipped.value) == "no chromium on PATH"


def _bin_without_chromium(tmp_path: Path, *tools: str, **scripts: str) -> str:
    """A PATH of links to ``tools`` and small ``scripts``: no chromium, no apt-get unless given."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in tools:
        found = shutil.which(tool)
        assert found is not None, f"{tool} is not on PATH"
        (folder / tool).symlink_to(found)
    for name, body in scripts.items():
        (folder / name.replace("_", "-")).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name.replace("_", "-")).chmod(0o755)
    return str(folder)


def test_a_browser_test_without_chromium_fails_under_ci_with_one_line(tmp_path):
    path = _bin_without_chromium(tmp_path)
    test = "tests/notebooks/test_browser.py::test_mlflow_ui_lists_the_three_registered_models"
    environment = {**os.environ, "CI": "true", "PATH": path}
    command = [sys.executable, "-m", "pytest", test, "-p", "no:cacheprovider", "-q", "--no-header"]
    ran = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    reason = "CI=true and this tier cannot run: no chromium on PATH"
    assert [line for line in ran.stdout.splitlines() if reason in line and "ERROR" in line], ran.stdout
    assert "Traceback" not in ran.stdout


def _ci_run(path: str, ci: str | None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "CI"} | {"PATH": path}
    if ci is not None:
        environment["CI"] = ci
    return subprocess.run(
        ["/bin/bash", str(ROOT / ".ci" / "run")], env=environment, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("machine", "line"),
    [
        # not root: no apt-get is tried
        ({"id": "echo 1000"}, "no chromium on PATH (Debian's package, installed as root with apt-get)"),
        (
            {"id": "echo 0", "apt_get": "exit 100"},
            "chromium could not be installed (apt-get install chromium failed)",
        ),
    ],
    ids=["chromium-missing", "apt-get-fails"],
)  # fmt: skip
def test_ci_run_stops_with_one_line_when_the_browser_tier_cannot_run(tmp_path, machine, line):
    ran = _ci_run(_bin_without_chromium(tmp_path, "dirname", **machine), "true")
    assert ran.returncode == 1
    assert ran.stderr.splitlines() == [f"CI=true: {line}: the browser tier cannot run"]


def test_ci_run_without_ci_reports_the_missing_tier_and_carries_on(tmp_path):
    # no root, PostgreSQL "present" (a pg_ctl on PATH), then `make` is missing: it got past both checks
    path = _bin_without_chromium(tmp_path, "dirname", id="echo 1000", pg_ctl="exit 0")
    ran = _ci_run(path, None)
    assert "no chromium on PATH (Debian's package, installed as root with apt-get): " in ran.stdout
    assert "make: command not found" in ran.stderr or "make: not found" in ran.stderr, ran.stderr
