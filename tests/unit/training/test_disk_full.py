"""A training step whose disk fills up says so once, and leaves no half-written run behind."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from labhelpers.foundation.errors import TrainingError
from labhelpers.training.steps import run_supervised


def test_a_full_disk_during_a_training_step_names_the_folder_and_keeps_the_earlier_run(
    sample_csv, tmp_path, monkeypatch
):
    earlier = tmp_path / "earlier"
    run_supervised(sample_csv, earlier)
    kept = {p.relative_to(earlier): p.read_bytes() for p in earlier.rglob("*") if p.is_file()}
    real_write_text = Path.write_text

    def write_text(self, data, *args, **kwargs):  # the metrics JSON hits a full disk half-way
        if not any(part.startswith(".partial-") for part in self.parts):
            return real_write_text(self, data, *args, **kwargs)
        real_write_text(self, data[: len(data) // 2], *args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))

    monkeypatch.setattr(Path, "write_text", write_text)

    with pytest.raises(TrainingError) as raised:
        run_supervised(sample_csv, tmp_path / "new")

    assert f"The disk holding {tmp_path / 'new'} is full" in str(raised.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]
    assert {p.relative_to(earlier): p.read_bytes() for p in earlier.rglob("*") if p.is_file()} == kept
