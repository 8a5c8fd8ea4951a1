"""Scoring script of the taxi-fare online deployments, run by azureml-inference-server-http.

Azure ML's managed online endpoints run this file in the deployment's environment
(``ML/deployment/environment``): ``init()`` once when the server starts, ``run()`` for every
``POST /score``. ``labhelpers.serving.inference`` runs the same file locally with the same server, so what
notebook 05 checks on 127.0.0.1 is what the endpoint runs.

Request body (the file ``ML/deployment/sample-request.json`` holds one)::

    {"input_data": {"columns": ["trip_distance", ...], "data": [[2.1, ...], [...]]}}

``input_data`` is a pandas frame in ``split`` orientation (an ``index`` list may come too; it is ignored),
the form Azure ML documents for MLflow models; the answer is the JSON list of predictions, one per row.
The script only needs mlflow, pandas and the model's own packages: it imports nothing from labhelpers,
which is not in the deployment's environment.
"""

import json
import logging
import os
from pathlib import Path

import pandas as pd

model = None  # loaded once by init(); the server calls run() for every request


def _model_folder(root: str) -> Path:
    """The registered MLflow model's folder: the one holding ``MLmodel`` under ``AZUREML_MODEL_DIR``."""
    # Azure ML places the registered files one folder below AZUREML_MODEL_DIR; search rather than assume
    found = sorted(Path(root).rglob("MLmodel"), key=lambda p: len(p.parts))
    if not found:
        raise FileNotFoundError(f"no MLmodel file under AZUREML_MODEL_DIR={root}")
    return found[0].parent


def init():
    """Load the model version the deployment names (its files are under ``AZUREML_MODEL_DIR``)."""
    global model
    import mlflow.pyfunc

    folder = _model_folder(os.environ["AZUREML_MODEL_DIR"])
    model = mlflow.pyfunc.load_model(str(folder))
    logging.info("loaded the MLflow model in %s", folder)


def run(raw_data):
    """Predict for the rows under ``input_data``; returns one prediction per row."""
    body = json.loads(raw_data) if isinstance(raw_data, (str, bytes)) else raw_data
    if not isinstance(body, dict) or "input_data" not in body:
        raise ValueError('the request body must be {"input_data": {"columns": [...], "data": [[...]]}}')
    inputs = body["input_data"]
    frame = pd.DataFrame(inputs["data"], columns=inputs["columns"])
    return pd.Series(model.predict(frame)).tolist()
