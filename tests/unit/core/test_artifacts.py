"""Training outputs only look complete when they are, and manifests detect tampering."""

from __future__ import annotations

import json

import pytest

from labhelpers.core.artifacts import (
    MANIFEST,
    atomic_output_dir,
    finite_number,
    read_manifest,
    sha256_file,
    write_json,
    write_manifest,
)
from labhelpers.core.errors import TrainingError


def test_success_renames_into_place_with_manifest(tmp_path):
    target = tmp_path / "out"
    with atomic_output_dir(target) as folder:
        (folder / "model").mkdir()
        (folder / "model" / "model.joblib").write_bytes(b"abc")
        write_manifest(folder, "test")
    manifest = read_manifest(target)
    assert manifest["artifacts"] == {"model/model.joblib": sha256_file(target / "model" / "model.joblib")}
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failure_leaves_nothing_that_looks_complete(tmp_path):
    target = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_output_dir(target) as folder:
        (folder / "half.joblib").write_bytes(b"x")
        raise RuntimeError("training died")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_empty_folder_receives_files_manifest_last(tmp_path):
    target = tmp_path / "mount"
    target.mkdir()
    with atomic_output_dir(target) as folder:
        (folder / "a.txt").write_text("a")
        write_manifest(folder, "test")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt", MANIFEST]


def test_folder_holding_a_run_is_refused_and_kept(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    write_json(target / MANIFEST, {"step": "earlier"})
    with pytest.raises(TrainingError, match="already holds a training run"), atomic_output_dir(target):
        pass
    assert json.loads((target / MANIFEST).read_text()) == {"step": "earlier"}


def test_non_empty_folder_and_file_target_are_refused(tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not empty"), atomic_output_dir(tmp_path / "busy"):
        pass
    (tmp_path / "file").write_text("x")
    with pytest.raises(TrainingError, match="is a file"), atomic_output_dir(tmp_path / "file"):
        pass


def test_missing_or_broken_manifest_is_named(tmp_path):
    with pytest.raises(TrainingError, match="manifest.json is missing"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text("{broken")
    with pytest.raises(TrainingError, match="not valid JSON"):
        read_manifest(tmp_path)


def test_write_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        write_json(tmp_path / "m.json", {"rmse": float("nan")})


@pytest.mark.parametrize(
    ("value", "ok"),
    [(1, True), (0.5, True), (float("nan"), False), (float("inf"), False), (True, False), ("1", False)],
)
def test_finite_number(value, ok):
    assert finite_number(value) is ok
