"""Serve one registered version locally exactly as an Azure ML managed online endpoint serves it.

Azure ML's online deployments of this lab run ``azureml-inference-server-http`` (``azmlinfsrv``) with the
scoring script ``ML/deployment/scoring/score.py``; the model's files are under ``AZUREML_MODEL_DIR``, and
requests go to ``POST /score`` with the inputs under ``input_data``. :func:`serve_inference` starts the same
server with the same script on 127.0.0.1: the version's files are downloaded from the registry into a
folder laid out like the endpoint's, ``AZUREML_MODEL_DIR = azureml-models/NAME/N`` with the registered MLflow
model one folder down under its own name (``azureml-models/NAME/N/model/MLmodel``), and ``GET /`` answers
once the script's ``init()`` has loaded the model.

Serving a version again from the same Python process stops the server started for it before, so running a
notebook cell twice leaves one server, the one its variable holds. Each answer comes back as a
:class:`ServedAnswer`: the predictions plus the id the server gave that answer and wrote to its log.

``azmlinfsrv`` binds every interface (its host is fixed to 0.0.0.0); the launcher here starts it with the
host set to 127.0.0.1 instead, so a model on a laptop is never reachable from the network.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pandas as pd
import requests

from labhelpers.foundation import config
from labhelpers.foundation.config import DEPLOYMENT_DIR, SAMPLE_REQUEST
from labhelpers.foundation.errors import ServerError
from labhelpers.processes.groups import SPAWNED, group_alive, terminate_group
from labhelpers.serving.scoring import (
    await_ready,
    forget_started,
    launch_server,
    local_session,
    server_environment,
    started,
    stop_started,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

SCORING_SCRIPT = DEPLOYMENT_DIR / "scoring" / "score.py"
#: The package every process of the server names on its command line (no "mlflow" there).
MARKER = "azureml_inference_server_http"
#: The response header of the scoring script that carries an answer's id (its log has the same id).
ANSWER_ID_HEADER = "x-lab-answer-id"
# azmlinfsrv's own entry point, with its fixed 0.0.0.0 replaced by the loopback address
_LAUNCHER = (
    f"import sys, {MARKER}.amlserver as server; "
    f"server.DEFAULT_HOST = {config.HOST!r}; sys.argv[0] = 'azmlinfsrv'; server.run()"
)


def request_body(frame: pd.DataFrame) -> dict:
    """The JSON body an Azure ML online endpoint (and the local inference server) takes for ``frame``."""
    # to_dict, not to_json: to_json rounds floats to 10 digits, so the server would score other numbers
    return {"input_data": frame.to_dict(orient="split", index=False)}


def read_sample_request(path: str | Path = SAMPLE_REQUEST) -> pd.DataFrame:
    """The rows of a request file as a frame (columns in the file's order)."""
    inputs = json.loads(Path(path).read_text())["input_data"]
    return pd.DataFrame(inputs["data"], columns=inputs["columns"])


class ServedAnswer(list):
    """The predictions an inference server answered, with the proof that it answered them.

    A list of predictions like any other, plus the id the scoring script gave this answer in the server
    and wrote to the server's log (``answer <id>: [...]``), so :meth:`logged` can tell a served answer
    from numbers computed anywhere else.

    Attributes:
        answer_id: The id from the ``x-lab-answer-id`` header of the response.
        model_uri: What the server serves, ``models:/NAME/N``.
        log_path: The server's log.
    """

    def __init__(self, predictions: Iterable[object], answer_id: str, model_uri: str, log_path: Path) -> None:
        super().__init__(predictions)
        self.answer_id, self.model_uri, self.log_path = answer_id, model_uri, Path(log_path)

    def logged(self) -> list | None:
        """The predictions the server's log holds for this answer's id (None: the log has no such answer)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return None
        found = self.answer_id and re.search(rf"answer {re.escape(self.answer_id)}: (\[.*\])$", text, re.M)
        return json.loads(found[1]) if found else None


@dataclass(frozen=True)
class InferenceServer:
    """A running local ``azmlinfsrv`` for one model version.

    Attributes:
        model_uri: What it serves, ``models:/NAME/N``.
        pid: Leader of its process group.
        url: Base URL, e.g. ``http://127.0.0.1:5123`` (``POST /score``, ``GET /`` liveness).
        model_dir: The folder given as ``AZUREML_MODEL_DIR``.
        log_path: Its stdout and stderr.
    """

    model_uri: str
    pid: int
    url: str
    model_dir: Path
    log_path: Path

    def invoke(self, body: dict | pd.DataFrame, timeout: float = 30.0) -> ServedAnswer:
        """Send a request body (or a frame, wrapped by :func:`request_body`) to ``POST /score``.

        Returns:
            The predictions, one per row, with the id the server gave the answer.

        Raises:
            ServerError: No answer, or an error status with the server's own reason (HTTP 400: the body
                is not what the scoring script takes, e.g. a trip without ``input_data`` around it).
        """
        payload = request_body(body) if isinstance(body, pd.DataFrame) else body
        try:
            with local_session() as session:
                response = session.post(f"{self.url}/score", json=payload, timeout=timeout)
        except requests.RequestException as error:
            raise ServerError(f"The inference server at {self.url} did not answer ({error}).") from None
        if response.status_code != 200:
            raise ServerError(_refusal(self, response))
        answer_id = response.headers.get(ANSWER_ID_HEADER, "")
        return ServedAnswer(response.json(), answer_id, self.model_uri, self.log_path)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and every process of its group (idempotent)."""
        if group_alive(self.pid, marker=MARKER):
            terminate_group(self.pid, timeout, marker=MARKER)
        SPAWNED.pop(self.pid, None)
        forget_started(self)


def served_answer(response: requests.Response) -> ServedAnswer:
    """The answer of ``requests.post(f"{inference.url}/score", json=...)`` as ``inference.invoke`` gives it.

    The server is found among the inference servers this process started (:func:`serve_inference`) by the
    address the response came from; the id is the response's ``x-lab-answer-id`` header.

    Raises:
        ServerError: The response is an error, or came from no inference server this process runs.
    """
    address = urlparse(response.url)
    server = next(
        (s for s in started() if isinstance(s, InferenceServer) and urlparse(s.url).netloc == address.netloc),
        None,
    )
    if server is None:
        raise ServerError(
            f"{response.url} is not the address of an inference server started here with serve_inference: "
            "send the request to `inference.url + '/score'`."
        )
    if not response.ok:
        raise ServerError(_refusal(server, response))
    return ServedAnswer(
        response.json(), response.headers.get(ANSWER_ID_HEADER, ""), server.model_uri, server.log_path
    )


def _refusal(server: InferenceServer, response: requests.Response) -> str:
    """The error message for a non-200 answer: the server's own reason first."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    reason = (answer.get("message") if isinstance(answer, dict) else None) or response.text
    where = f"POST {server.url}/score answered HTTP {response.status_code}: {str(reason)[:500]}"
    if 400 <= response.status_code < 500:
        return f"{where} (send the body of a request file, or a pandas DataFrame of trips)"
    return f"{where} (the scoring script's errors are in {server.log_path})"


def model_folder_name(version: ModelVersion) -> str:
    """The name of the version's MLflow model folder (the last part of its source): ``model`` in this lab."""
    return PurePosixPath(urlparse(str(version.source)).path).name or "model"


def _download(version: ModelVersion, root: Path) -> Path:
    """``AZUREML_MODEL_DIR`` for the version: ``root/azureml-models/NAME/N``, the model folder inside it.

    A managed endpoint puts a registered MLflow model's folder one level below ``AZUREML_MODEL_DIR``, under
    the folder's own name, so the files go to ``azureml-models/NAME/N/<folder>/`` and nothing sits at the
    top: a scoring script that looks anywhere else fails here as it would on Azure.
    """
    import mlflow.artifacts

    model_dir = root / "azureml-models" / version.name / str(version.version)
    target = model_dir / model_folder_name(version)
    target.mkdir(parents=True, exist_ok=True)
    mlflow.artifacts.download_artifacts(f"models:/{version.name}/{version.version}", dst_path=str(target))
    return model_dir


def _healthy(url: str) -> bool:
    with local_session() as session:
        try:
            return session.get(f"{url}/", timeout=2.0).status_code == 200
        except requests.RequestException:
            return False


def serve_inference(
    version: ModelVersion,
    *,
    port: int | None = None,
    log_dir: str | Path | None = None,
    scoring_script: str | Path = SCORING_SCRIPT,
    timeout: float = 180.0,
) -> InferenceServer:
    """Start ``azmlinfsrv`` with the deployments' scoring script on one version; wait until it answers.

    Args:
        version: The ``ModelVersion`` to serve (e.g. from ``pinned_version``).
        port: Port on 127.0.0.1 (default: a free one).
        log_dir: Folder for the model files and the server's log (default: a new temporary folder).
        scoring_script: The entry script (default: the one the Azure deployments reference).
        timeout: Seconds to wait for the model to load and the server to answer.

    Returns:
        The running server; call its ``stop()`` when done (it is also stopped when Python exits). A server
        this process started before for the same version is stopped first: one server per version.

    Raises:
        ServerError: The server exited or did not answer in time; the message holds the log's last lines.
    """
    uri = f"models:/{version.name}/{version.version}"
    stop_started(InferenceServer, uri)  # a cell run twice: the first server must not outlive its variable
    port = port or config.free_port()
    folder = Path(log_dir or tempfile.mkdtemp(prefix="labhelpers-inference-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    model_dir = _download(version, folder / f"model-{port}")
    log_path = folder / f"inference-{version.name}-{version.version}-{port}.log"
    command = [sys.executable, "-c", _LAUNCHER, "--entry_script", str(Path(scoring_script).resolve())]
    command += ["--port", str(port)]
    environment = {**server_environment(), "AZUREML_MODEL_DIR": str(model_dir), "AML_APP_ROOT": str(folder)}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"  # no __pycache__ beside score.py in ML/deployment
    process = launch_server(command, log_path, environment, cwd=folder)
    server = InferenceServer(uri, process.pid, f"http://{config.HOST}:{port}", model_dir, log_path)
    return await_ready(server, process, _healthy, f"The inference server for {uri} on port {port}", timeout)
