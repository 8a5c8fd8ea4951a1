"""Scoring script of the taxi-fare online deployments, run by azureml-inference-server-http.

Azure ML's managed online endpoints run this file in the deployment's environment
(``ML/deployment/environment``): ``init()`` once when the server starts, ``run()`` for every
``POST /score``. ``labhelpers.serving.inference`` runs the same file locally with the same server, so what
notebook 05 checks on 127.0.0.1 is what the endpoint runs.

The model: a managed endpoint puts a registered MLflow model's folder one level below
``AZUREML_MODEL_DIR``, under the folder's own name; this lab registers the folder ``model``
(``labhelpers.registry.all_or_nothing.upload``), so ``init()`` loads ``$AZUREML_MODEL_DIR/model`` and nothing
else (as Azure/azureml-examples' MLflow scoring scripts join ``AZUREML_MODEL_DIR`` with ``"model"``:
``cli/endpoints/online/mlflow/mlflow-score/score.py`` at commit 2267b124 and
``cli/endpoints/online/mlflow/sklearn-diabetes/src/score.py`` at commit 48865143; the paths may have moved
since).

Request body (the file ``ML/deployment/sample-request.json`` holds one)::

    {"input_data": {"columns": ["trip_distance", ...], "data": [[2.1, ...], [...]]}}

``input_data`` is a pandas frame in ``split`` orientation (an ``index`` list may come too; it is ignored),
the form Azure ML documents for MLflow models; the answer is the JSON list of predictions, one per row,
with the header ``x-lab-answer-id``: an id made here, in the server, and printed to the server's log
with the predictions (``answer <id>: [...]``), so a client can prove an answer came from this server.
A body that is not of that form gets HTTP 400 with the reason, as the server's own response type
(``AMLResponse``), never a 500.
The script only needs mlflow, pandas, the inference server and the model's own packages: it imports
nothing from labhelpers, which is not in the deployment's environment.
"""

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
from azureml_inference_server_http.api.aml_response import AMLResponse

#: The registered MLflow model's folder under AZUREML_MODEL_DIR (the folder registration uploads).
MODEL_FOLDER = "model"
#: The response header carrying the id of one answer; the same id is in the server's log.
ANSWER_ID_HEADER = "x-lab-answer-id"
EXPECTED = 'the request body must be {"input_data": {"columns": [...], "data": [[...], ...]}}'

model: Any = None  # loaded once by init(); the server calls run() for every request


class BadRequest(ValueError):
    """The request body is not what this script takes; the message says why (answered as HTTP 400)."""


def model_folder(root: str) -> Path:
    """``root/model``, where a managed endpoint lays out the registered MLflow model; checked to hold one."""
    folder = Path(root) / MODEL_FOLDER
    if not (folder / "MLmodel").is_file():
        raise FileNotFoundError(
            f"no MLflow model at AZUREML_MODEL_DIR/{MODEL_FOLDER}/MLmodel (AZUREML_MODEL_DIR={root}): "
            f"the deployment must name a model registered from a folder called {MODEL_FOLDER!r}"
        )
    return folder


def init():
    """Load the model version the deployment names (its folder is ``$AZUREML_MODEL_DIR/model``)."""
    global model
    import mlflow.pyfunc

    folder = model_folder(os.environ["AZUREML_MODEL_DIR"])
    model = mlflow.pyfunc.load_model(str(folder))
    logging.info("loaded the MLflow model in %s", folder)


def request_frame(raw_data) -> pd.DataFrame:
    """The rows under ``input_data`` as a frame.

    Raises:
        BadRequest: The body is not JSON, has no ``input_data``, or its ``columns``/``data`` do not fit.
    """
    try:
        body = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    except ValueError as error:
        raise BadRequest(f"the request body is not JSON ({error}); {EXPECTED}") from None
    if not isinstance(body, dict) or "input_data" not in body:
        keys = ", ".join(map(str, body)) if isinstance(body, dict) else type(body).__name__
        raise BadRequest(f"{EXPECTED}; got a body without input_data ({keys})")
    inputs = body["input_data"]
    if not isinstance(inputs, dict) or not {"columns", "data"} <= set(inputs):
        raise BadRequest(f"input_data must hold `columns` and `data`; {EXPECTED}")
    try:
        return pd.DataFrame(inputs["data"], columns=inputs["columns"])
    except (TypeError, ValueError) as error:
        raise BadRequest(f"input_data's `columns` and `data` do not make a table ({error})") from None


def run(raw_data):
    """Predict for the rows under ``input_data``: one prediction per row, or HTTP 400 with the reason."""
    from mlflow.exceptions import MlflowException

    try:
        frame = request_frame(raw_data)
        predictions = pd.Series(model.predict(frame)).tolist()
    except (BadRequest, MlflowException) as error:  # MlflowException: the model's input schema refused it
        return AMLResponse({"message": f"Bad request: {error}"}, 400, json_str=True)
    answer_id = uuid.uuid4().hex
    print(f"answer {answer_id}: {json.dumps(predictions)}")  # the server logs what run() prints
    return AMLResponse(predictions, 200, {ANSWER_ID_HEADER: answer_id}, json_str=True)
