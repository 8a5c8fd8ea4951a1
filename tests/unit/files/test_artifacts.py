"""Training outputs only look complete when they are, and manifests detect tampering."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from labhelpers.files.artifacts import (
    MANIFEST,
    atomic_output_dir,
    finite_number,
    read_manifest,
    sha256_file,
    write_json,
    write_manifest,
    write_text_atomically,
)
from labhelpers.foundation.errors import TrainingError


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


def _disk_fills_up_under(folder_name: str, monkeypatch):
    """Path.write_text writes half, then fails with ENOSPC, for files inside any folder named like this."""
    real_write_text = Path.write_text

    def write_text(self, data, *args, **kwargs):
        if not any(part.startswith(folder_name) for part in self.parts):
            return real_write_text(self, data, *args, **kwargs)
        real_write_text(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", write_text)


def test_a_full_disk_gives_one_message_and_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    earlier = tmp_path / "earlier"
    with atomic_output_dir(earlier) as folder:
        write_json(folder / "metrics.json", {"rmse": 1.0})
        write_manifest(folder, "test")
    kept = {p.name: p.read_bytes() for p in earlier.iterdir()}
    _disk_fills_up_under(".partial-", monkeypatch)

    with pytest.raises(TrainingError) as raised, atomic_output_dir(tmp_path / "out") as folder:
        write_json(folder / "metrics.json", {"rmse": 1.0})

    message = str(raised.value)
    assert f"The disk holding {tmp_path / 'out'} is full" in message
    assert "metrics.json" in message and "another disk" in message and "df -h" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]  # no partial folder, no target
    assert {p.name: p.read_bytes() for p in earlier.iterdir()} == kept  # the earlier run is untouched


def test_a_full_disk_in_an_existing_empty_folder_leaves_it_empty(tmp_path, monkeypatch):
    target = tmp_path / "mount"
    target.mkdir()
    _disk_fills_up_under(".partial-", monkeypatch)

    with pytest.raises(TrainingError, match="is full"), atomic_output_dir(target) as folder:
        (folder / "model.bin").write_bytes(b"model")
        write_manifest(folder, "test")

    assert list(target.iterdir()) == []


def test_other_os_errors_keep_their_own_type(tmp_path):
    with pytest.raises(PermissionError), atomic_output_dir(tmp_path / "out"):
        raise PermissionError(errno.EACCES, "Permission denied", "somewhere")
    assert list(tmp_path.iterdir()) == []


def test_an_atomic_write_keeps_the_mode_and_a_failed_one_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "pins.yml"
    target.write_text("old\n")
    target.chmod(0o640)
    assert write_text_atomically(target, "new\n").read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o640

    def refuse(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("labhelpers.files.artifacts.os.replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_text_atomically(target, "half\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pins.yml"]  # no temporary file left behind


def test_a_private_atomic_write_is_never_readable_by_others(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def watch(source, destination):
        seen.append(os.stat(source).st_mode & 0o777)  # the temporary file, just before it takes the place
        real_replace(source, destination)

    monkeypatch.setattr("labhelpers.files.artifacts.os.replace", watch)
    written = write_text_atomically(tmp_path / "credentials.json", "{}", mode=0o600)
    assert seen == [0o600] and written.stat().st_mode & 0o777 == 0o600
