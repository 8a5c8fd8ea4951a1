"""The shipped sample is what the seeded generator makes, and data/README.md states its checksum."""

from __future__ import annotations

import re

from labhelpers.data.sample import write_sample
from labhelpers.files.artifacts import sha256_file
from labhelpers.foundation.config import DATA_DIR, SAMPLE_DATA


def test_generator_reproduces_the_shipped_sample_byte_for_byte(tmp_path):
    assert sha256_file(write_sample(tmp_path / "sample.csv")) == sha256_file(SAMPLE_DATA)


def test_data_readme_states_the_sample_checksum():
    stated = re.search(r"SHA-256 \| `([0-9a-f]{64})`", (DATA_DIR / "README.md").read_text())
    assert stated and stated.group(1) == sha256_file(SAMPLE_DATA)
