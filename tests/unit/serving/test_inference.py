"""The deployment's scoring script and request file, without a server (the server test is in integration)."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from labhelpers.core.config import SAMPLE_DATA
from labhelpers.serving.inference import (
    SAMPLE_REQUEST,
    SCORING_SCRIPT,
    read_sample_request,
    request_body,
    write_sample_request,
)
from labhelpers.serving.scoring import request_frame, rest_payload
from labhelpers.training.features import DEFAULT_SUPERVISED_FEATURES

VERSION = SimpleNamespace(tags={"features": ",".join(DEFAULT_SUPERVISED_FEATURES)})


@pytest.fixture
def score(monkeypatch):
    """ML/deployment/scoring/score.py imported as Azure's server imports it, with a model that sums rows."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # ML/deployment stays as committed
    spec = importlib.util.spec_from_file_location("score_under_test", SCORING_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.model = SimpleNamespace(predict=lambda frame: frame.astype(float).sum(axis=1).to_numpy())
    return module


def test_the_sample_request_is_the_shipped_samples_first_trips_under_input_data():
    expected = request_body(request_frame(VERSION, SAMPLE_DATA, rows=5))
    assert json.loads(SAMPLE_REQUEST.read_text()) == json.loads(json.dumps(expected))
    assert list(expected) == ["input_data"] and list(rest_payload(read_sample_request())) == [
        "dataframe_split"
    ]


def test_a_request_file_round_trips_the_frame_exactly(tmp_path):
    frame = request_frame(VERSION, SAMPLE_DATA, rows=3)
    back = read_sample_request(write_sample_request(frame, tmp_path / "request.json"))
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_dtype=False)


def test_the_scoring_script_predicts_one_value_per_row_of_input_data(score):
    body = json.loads(SAMPLE_REQUEST.read_text())
    rows = body["input_data"]["data"]
    answer = score.run(json.dumps(body))
    assert answer == pytest.approx([float(np.sum(np.asarray(row, dtype=float))) for row in rows])


def test_the_scoring_script_refuses_a_body_without_input_data(score):
    frame = read_sample_request()
    with pytest.raises(ValueError, match="input_data"):
        score.run(json.dumps(rest_payload(frame)))


def test_the_scoring_script_finds_the_mlmodel_folder_under_the_model_dir(score, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    assert score._model_folder(str(tmp_path)) == tmp_path / "model"
    with pytest.raises(FileNotFoundError, match="no MLmodel"):
        score._model_folder(str(tmp_path / "model" / "empty-does-not-exist"))
