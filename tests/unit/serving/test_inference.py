"""The deployment's scoring script and request file, without a server (the server test is in integration)."""

from __future__ import annotations

import importlib.util
import json
import sys
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from labhelpers.foundation.config import SAMPLE_DATA
from labhelpers.serving.inference import (
    SAMPLE_REQUEST,
    SCORING_SCRIPT,
    read_sample_request,
    request_body,
)
from labhelpers.serving.scoring import rest_payload
from labhelpers.training.features import DEFAULT_SUPERVISED_FEATURES, supervised_xy
from labhelpers.training.steps import prepare_data


@pytest.fixture
def score(monkeypatch):
    """ML/deployment/scoring/score.py imported as Azure's server imports it, with a model that sums rows."""
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # ML/deployment stays as committed
    spec = importlib.util.spec_from_file_location("score_under_test", SCORING_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # what init() would load: a model that sums rows
    module.model = SimpleNamespace(predict=lambda frame: frame.astype(float).sum(axis=1).to_numpy())  # type: ignore[attr-defined]
    return module


def _first_trips(rows: int) -> pd.DataFrame:
    """The shipped sample's first cleaned trips as the fare models' features."""
    frame, _, _ = prepare_data(SAMPLE_DATA)
    features, _ = supervised_xy(frame.head(rows), list(DEFAULT_SUPERVISED_FEATURES))
    return features


def test_the_sample_request_is_the_shipped_samples_first_trips_under_input_data():
    expected = request_body(_first_trips(5))
    assert json.loads(SAMPLE_REQUEST.read_text()) == json.loads(json.dumps(expected))
    assert list(expected) == ["input_data"] and list(rest_payload(read_sample_request())) == [
        "dataframe_split"
    ]


def test_a_request_file_round_trips_the_frame_exactly(tmp_path):
    frame = _first_trips(3)
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_body(frame)))  # as json.dump writes ML/deployment/sample-request.json
    back = read_sample_request(path)
    pd.testing.assert_frame_equal(back, frame.reset_index(drop=True), check_dtype=False)


def _answer(response) -> tuple[int, Any]:
    """The status and the decoded JSON body of what run() returned (the inference server's AMLResponse)."""
    from azureml_inference_server_http.api.aml_response import AMLResponse

    assert isinstance(response, AMLResponse)  # answered as is by azmlinfsrv, status and headers included
    return response.status_code, json.loads(response.get_data(as_text=True))


def test_the_scoring_script_predicts_one_value_per_row_of_input_data(score, capsys):
    from labhelpers.serving.inference import ANSWER_ID_HEADER

    body = json.loads(SAMPLE_REQUEST.read_text())
    rows = body["input_data"]["data"]
    response = score.run(json.dumps(body))
    status, answer = _answer(response)
    assert status == 200
    assert answer == pytest.approx([float(np.sum(np.asarray(row, dtype=float))) for row in rows])
    answer_id = response.headers[score.ANSWER_ID_HEADER]
    assert len(answer_id) == 32 and score.ANSWER_ID_HEADER == ANSWER_ID_HEADER
    assert f"answer {answer_id}: {json.dumps(answer)}" in capsys.readouterr().out  # the server's log
    assert score.run(json.dumps(body)).headers[score.ANSWER_ID_HEADER] != answer_id  # one id per answer


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (json.dumps(rest_payload(read_sample_request())), "got a body without input_data (dataframe_split)"),
        (json.dumps(read_sample_request().iloc[0].to_dict()), "got a body without input_data (trip_distance"),
        ("[1, 2]", "got a body without input_data (list)"),
        ("not json", "the request body is not JSON"),
        (json.dumps({"input_data": {"data": [[1.0]]}}), "input_data must hold `columns` and `data`"),
        (json.dumps({"input_data": {"columns": ["a", "b"], "data": [[1.0]]}}), "do not make a table"),
    ],
)  # fmt: skip
def test_the_scoring_script_answers_a_wrong_body_with_400_and_its_reason(score, body, reason):
    status, answer = _answer(score.run(body))
    assert status == 400
    assert answer["message"].startswith("Bad request: ") and reason in answer["message"]
    assert "input_data" in answer["message"]


def test_the_scoring_script_loads_the_model_folder_where_an_endpoint_puts_it(score, tmp_path, monkeypatch):
    import mlflow.pyfunc

    loaded = []
    monkeypatch.setattr(mlflow.pyfunc, "load_model", lambda path: loaded.append(path) or "model")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    (tmp_path / "MLmodel").write_text("flavors: {}\n")  # the old local layout: MLmodel at the top
    (tmp_path / "deeper" / "model").mkdir(parents=True)
    (tmp_path / "deeper" / "model" / "MLmodel").write_text("flavors: {}\n")
    with pytest.raises(FileNotFoundError, match=r"no MLflow model at AZUREML_MODEL_DIR/model/MLmodel"):
        score.init()
    assert loaded == []  # found by the rule, not by a search
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    score.init()
    assert loaded == [str(tmp_path / "model")] and score.model == "model"
