"""Lineage records the commit and dirty flag of the code, or says it does not know."""

from __future__ import annotations

import subprocess

from labhelpers.core.provenance import GIT_COMMIT_ENV, git_info


def _git(cwd, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd, check=True, capture_output=True
    )


def test_clean_then_dirty_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv(GIT_COMMIT_ENV, raising=False)
    _git(tmp_path, "init", "-q")
    (tmp_path / "f.txt").write_text("1")
    _git(tmp_path, "add", "f.txt")
    _git(tmp_path, "commit", "-qm", "one")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert git_info(tmp_path) == {"git_commit": head.strip(), "git_dirty": "false"}
    (tmp_path / "f.txt").write_text("2")
    assert git_info(tmp_path)["git_dirty"] == "true"


def test_no_checkout_is_unknown(tmp_path, monkeypatch):
    monkeypatch.delenv(GIT_COMMIT_ENV, raising=False)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert git_info(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}


def test_environment_override_for_uploaded_snapshots(monkeypatch, tmp_path):
    monkeypatch.setenv(GIT_COMMIT_ENV, "abc123")
    assert git_info(tmp_path)["git_commit"] == "abc123"
