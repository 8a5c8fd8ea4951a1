"""A damaged model file is refused as unreadable; a programming error while reading it is not disguised."""

from __future__ import annotations

import json
import pickle
import pickletools
import zipfile

import pytest
import yaml
from sklearn.linear_model import Ridge

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.all_or_nothing.model_folder import check_model_folder


def _folder(tmp_path, fmt: str, name: str, data: bytes):
    flavors = {"python_function": {}, "sklearn": {"pickled_model": name, "serialization_format": fmt}}
    (tmp_path / "MLmodel").write_text(yaml.safe_dump({"flavors": flavors}))
    (tmp_path / name).write_bytes(data)
    return tmp_path


def _skops(tmp_path, schema) -> bytes:
    with zipfile.ZipFile(tmp_path / "made.zip", "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
    return (tmp_path / "made.zip").read_bytes()


def test_an_intact_pickle_names_its_estimator(tmp_path):
    check_model_folder(_folder(tmp_path, "cloudpickle", "model.pkl", pickle.dumps(Ridge())), "Ridge")


@pytest.mark.parametrize(
    ("fmt", "damage"),
    [
        ("cloudpickle", lambda tmp_path: pickle.dumps(Ridge())[:40]),  # cut short
        ("cloudpickle", lambda tmp_path: b"\xff\xfe not a pickle"),
        ("skops", lambda tmp_path: b"PK not a zip"),
        ("skops", lambda tmp_path: _skops(tmp_path, ["a", "list"])),  # schema.json holds no object
    ],
    ids=["pickle-cut-short", "pickle-garbage", "skops-not-a-zip", "skops-schema-a-list"],
)
def test_a_damaged_model_file_is_refused_as_unreadable(tmp_path, fmt, damage):
    folder = _folder(tmp_path, fmt, "model.bin", damage(tmp_path))
    with pytest.raises(RegistryError, match=r"model.bin cannot be read as a \w+ model file"):
        check_model_folder(folder, "Ridge")


def test_a_bug_while_reading_is_raised_as_itself_not_as_a_damaged_file(tmp_path, monkeypatch):
    def genops(*args):
        raise TypeError("genops() got an unexpected keyword argument")

    monkeypatch.setattr(pickletools, "genops", genops)
    with pytest.raises(TypeError, match="unexpected keyword"):
        check_model_folder(_folder(tmp_path, "cloudpickle", "model.pkl", pickle.dumps(Ridge())), "Ridge")
