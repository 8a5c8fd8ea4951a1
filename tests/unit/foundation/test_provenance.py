"""Lineage records the commit and dirty flag of the code, or says it does not know."""

from __future__ import annotations

import subprocess

from labhelpers.foundation.provenance import GIT_COMMIT_ENV, git_info


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


def _course_copy(tmp_path):
    """A throwaway checkout shaped like the course: code, data and a notebook, all committed."""
    import nbformat

    (tmp_path / "labhelpers").mkdir()
    (tmp_path / "labhelpers" / "fares.py").write_text("BASE_FARE = 2.5\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "trips.csv").write_text("fare\n2.5\n")
    (tmp_path / "notebooks").mkdir()
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Fares"), nbformat.v4.new_code_cell("print(2.5 + 0.5)")]
    )
    nbformat.write(notebook, tmp_path / "notebooks" / "01_fares.ipynb")
    (tmp_path / ".gitignore").write_text("outputs/\nbuild/\n.mlflow/\n")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-qm", "course")
    return tmp_path / "notebooks" / "01_fares.ipynb"


def test_a_notebook_executed_in_place_is_not_a_change(tmp_path, monkeypatch):
    import nbclient
    import nbformat

    monkeypatch.delenv(GIT_COMMIT_ENV, raising=False)
    path = _course_copy(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    nbformat.write(notebook, path)  # what JupyterLab's autosave does after Run All
    assert "3.0" in path.read_text()  # the output really is in the tracked file
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "model.skops").write_bytes(b"x")
    assert git_info(tmp_path)["git_dirty"] == "false"


def test_changed_code_or_data_is_a_change(tmp_path, monkeypatch):
    monkeypatch.delenv(GIT_COMMIT_ENV, raising=False)
    _course_copy(tmp_path)
    for file in (tmp_path / "labhelpers" / "fares.py", tmp_path / "data" / "trips.csv"):
        committed = file.read_text()
        file.write_text(committed.replace("2.5", "3.0"))
        assert git_info(tmp_path)["git_dirty"] == "true", file
        file.write_text(committed)
        assert git_info(tmp_path)["git_dirty"] == "false", file


def test_a_learners_edits_in_a_course_notebook_are_exercise_work(tmp_path, monkeypatch):
    import nbformat

    monkeypatch.delenv(GIT_COMMIT_ENV, raising=False)
    path = _course_copy(tmp_path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source = "answer = 3.0  # my exercise"
    notebook.cells[1].outputs = [nbformat.v4.new_output("stream", text="3.0\n")]
    nbformat.write(notebook, path)
    _git(tmp_path, "add", ".")  # staged too
    assert git_info(tmp_path)["git_dirty"] == "false"
    (tmp_path / "labhelpers" / "fares.py").write_text("BASE_FARE = 3.0\n")
    assert git_info(tmp_path)["git_dirty"] == "true"
