"""Serve one registered model version locally with MLflow's scoring server, and call it over REST.

This is MLflow's own server (``POST /invocations`` with a ``dataframe_split`` body), kept as a comparison:
Azure ML's online endpoints run another server with another body (``input_data``); that one is in
:mod:`labhelpers.serving.inference`. It is started here as
``python -m mlflow models serve -m models:/NAME/N --env-manager local``: it loads the version from the
registry into this interpreter's packages, so it needs no network and no conda. It runs in its own session,
so stopping it kills its whole process group (``mlflow models serve`` plus the uvicorn it starts) and nothing
else, and it outlives no Python that started it: ``stop()`` runs at exit too. Serving a version again from the
same process stops the server started for it before (:func:`stop_started`): a cell run twice leaves one.

What ``serving.inference`` shares from here: :func:`local_session`, :func:`server_environment`,
:func:`launch_server`, :func:`await_ready`, :func:`stop_started` and :func:`forget_started`.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import pandas as pd
import requests

from labhelpers.foundation import config
from labhelpers.foundation.errors import RegistryError, ServerError
from labhelpers.processes.groups import SPAWNED, created_at, group_alive, terminate_group, wait_until
from labhelpers.registry.client import RegistryClient

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

LOG_TAIL_LINES = 20


# the servers this process started, by (kind, models:/NAME/N): serving one again stops the earlier one
class _Stoppable(Protocol):
    def stop(self) -> None: ...


class Served(Protocol):
    """A local server of one version (:class:`ScoringServer`, ``serving.inference.InferenceServer``)."""

    @property
    def model_uri(self) -> str: ...
    @property
    def url(self) -> str: ...
    @property
    def log_path(self) -> Path: ...
    def stop(self, timeout: float = ...) -> None: ...


Server = TypeVar("Server", bound=Served)


_STARTED: dict[tuple[str, str], _Stoppable] = {}


def stop_started(kind: type, uri: str) -> None:
    """Stop the ``kind`` of server (e.g. ``ScoringServer``) this process started for ``uri``, if any.

    Called before a server starts, so serving the same version twice (a notebook cell run again) never
    leaves the first server running behind a variable that now holds the second.
    """
    earlier = _STARTED.pop((kind.__name__, uri), None)
    if earlier is not None:
        earlier.stop()


def started() -> list:
    """The servers this process started and has not stopped (one per kind and version)."""
    return list(_STARTED.values())


def remember_started(server: Served) -> None:
    """Keep ``server`` as the one this process runs for its kind and version (``await_ready`` calls it)."""
    _STARTED[(type(server).__name__, server.model_uri)] = server


def forget_started(server: Served) -> None:
    """Called by a server's ``stop()``: one stopped by hand is not stopped again by :func:`stop_started`."""
    key = (type(server).__name__, server.model_uri)
    if _STARTED.get(key) is server:
        del _STARTED[key]


def local_session() -> requests.Session:
    """A requests session for this machine's servers: no HTTP(S)_PROXY from the environment applies."""
    session = requests.Session()
    session.trust_env = False  # never send 127.0.0.1 through an HTTP(S)_PROXY from the environment
    return session


@dataclass(frozen=True)
class ScoringServer:
    """A running local scoring server for one model version.

    Attributes:
        model_uri: What it serves, ``models:/NAME/N``.
        pid: Leader of its process group.
        url: Base URL, e.g. ``http://127.0.0.1:5123``.
        log_path: Its stdout and stderr.
        created: The leader's creation time, so ``stop()`` never signals a later process reusing ``pid``.
    """

    model_uri: str
    pid: int
    url: str
    log_path: Path
    created: float | None = None

    def wait(self, timeout: float = 180.0) -> ScoringServer:
        """Return this server once ``/ping`` answers (at once if it does already): ``serve(wait=False)``.

        Raises:
            ServerError: It exited, was stopped, or did not answer in time; the message holds the log's end.
        """
        if _answers(self.url):
            return self
        process = SPAWNED.get(self.pid)
        if process is None:  # stopped, or started by another Python
            raise ServerError(f"The scoring server for {self.model_uri} at {self.url} is not running.")
        return await_ready(self, process, _answers, f"The scoring server for {self.model_uri}", timeout)

    def invoke(self, frame: pd.DataFrame, timeout: float = 30.0) -> list:
        """Send ``frame`` to ``POST /invocations`` and return the predictions (once the server is up).

        Raises:
            ServerError: No answer, or an error status (MLflow's message is included).
        """
        url, body = f"{self.url}/invocations", rest_payload(frame)
        try:
            with local_session() as session:
                try:
                    response = session.post(url, json=body, timeout=timeout)
                except requests.ConnectionError:  # launched with serve(wait=False) and still loading?
                    self.wait()
                    response = session.post(url, json=body, timeout=timeout)
        except requests.RequestException as error:
            raise ServerError(f"The scoring server at {self.url} did not answer ({error}).") from None
        if response.status_code != 200:
            raise ServerError(
                f"POST {self.url}/invocations answered HTTP {response.status_code}: {response.text[:500]}"
            )
        return response.json()["predictions"]

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server and every process of its group (idempotent)."""
        if group_alive(self.pid, self.created):
            terminate_group(self.pid, timeout, self.created)
        SPAWNED.pop(self.pid, None)
        forget_started(self)


def rest_payload(frame: pd.DataFrame) -> dict:
    """The JSON body of MLflow's scoring server for ``frame`` (Azure endpoints want ``input_data``)."""
    # to_dict, not to_json: to_json rounds floats to 10 digits, so the server would score other numbers
    return {"dataframe_split": frame.to_dict(orient="split", index=False)}


def model_uri(version: ModelVersion) -> str:
    """``models:/NAME/N`` for a ``ModelVersion``: always a number, never a moving label."""
    return f"models:/{version.name}/{version.version}"


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
    except OSError:
        return "(no log written)"
    return "\n".join(lines) or "(log is empty)"


def server_environment() -> dict[str, str]:
    """The environment a local model server runs in: this venv first on PATH, the notebook's tracking URI,
    no telemetry, no proxy for 127.0.0.1. Shared with ``serving.inference``."""
    import mlflow

    bin_dir = str(Path(sys.executable).parent)  # mlflow execs `uvicorn` from PATH: use this venv's
    return {
        **os.environ,
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
        "MLFLOW_TRACKING_URI": mlflow.get_tracking_uri(),  # models:/ resolves on the notebook's server
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        "PYTHONUNBUFFERED": "1",
        "NO_PROXY": ",".join(filter(None, [os.environ.get("NO_PROXY"), config.HOST, "localhost"])),
    }


def _answers(url: str) -> bool:
    with local_session() as session:
        try:
            return session.get(f"{url}/ping", timeout=2.0).status_code == 200
        except requests.RequestException:
            return False


def serve(
    version: ModelVersion,
    *,
    port: int | None = None,
    log_dir: str | Path | None = None,
    timeout: float = 180.0,
    wait: bool = True,
) -> ScoringServer:
    """Start MLflow's scoring server for one registered version and wait until ``/ping`` answers.

    Args:
        version: The ``ModelVersion`` to serve (e.g. from :func:`labhelpers.resolve`).
        port: Port on 127.0.0.1 (default: a free one).
        log_dir: Folder for the server's log (default: a new temporary folder).
        timeout: Seconds to wait for the model to load and the server to answer.
        wait: False: return as soon as the server is launched, while it loads the model (other work can go on
            meanwhile); its first ``invoke`` (or ``wait()``) waits for it.

    Returns:
        The running server; call its ``stop()`` when done (it is also stopped when Python exits). A server
        this process started before for the same version is stopped first: one server per version.

    Raises:
        ServerError: The server exited or did not answer in time; the message holds the log's last lines.
    """
    uri = model_uri(version)
    stop_started(ScoringServer, uri)  # a cell run twice: the first server must not outlive its variable
    port = port or config.free_port()
    folder = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="labhelpers-serving-"))
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder.resolve() / f"scoring-{version.name}-{version.version}-{port}.log"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", uri, "--env-manager", "local"]
    command += ["--host", config.HOST, "-p", str(port)]
    process = launch_server(command, log_path, server_environment())
    server = ScoringServer(
        uri, process.pid, f"http://{config.HOST}:{port}", log_path, created_at(process.pid)
    )
    if not wait:
        atexit.register(server.stop)  # never leave a server behind a finished notebook
        remember_started(server)
        return server
    return await_ready(server, process, _answers, f"The scoring server for {uri} on port {port}", timeout)


def launch_server(
    command: list[str], log_path: Path, environment: dict, cwd: Path | None = None
) -> subprocess.Popen:
    """Start a server in its own session (``stop()`` kills its group), its output going to ``log_path``.

    Shared with ``serving.inference``; the process is recorded in ``processes.groups.SPAWNED``.
    """
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=cwd,
            env=environment, start_new_session=True,
        )  # fmt: skip
    SPAWNED[process.pid] = process  # reaped by stop()
    return process


def await_ready(
    server: Server, process: subprocess.Popen, answers: Callable[[str], bool], label: str, timeout: float
) -> Server:
    """Return ``server`` once ``answers(server.url)``; on exit or timeout stop it, raise with its log."""
    atexit.register(server.stop)  # never leave a server behind a finished notebook
    wait_until(lambda: process.poll() is not None or answers(server.url), timeout, interval=0.5)
    if process.poll() is None and answers(server.url):
        remember_started(server)
        return server
    problem = "exited during startup" if process.poll() is not None else f"did not answer in {timeout:.0f} s"
    with contextlib.suppress(ServerError):
        server.stop(5.0)
    raise ServerError(f"{label} {problem}. Last lines of {server.log_path}:\n{_log_tail(server.log_path)}")


def pinned_version(
    name: str, deployment_dir: str | Path | None = None, client: RegistryClient | None = None
) -> ModelVersion:
    """The ``ModelVersion`` that the deployment configuration pins as production for ``name``.

    Raises:
        RegistryError: Nothing is pinned for ``name`` yet, or the pinned version does not exist.
    """
    from labhelpers.registry.pinning import DEPLOYMENT_DIR, PINS_FILE, read_pins
    from labhelpers.registry.references import resolve

    pins = read_pins(deployment_dir)
    if name not in pins:
        where = Path(deployment_dir or DEPLOYMENT_DIR) / PINS_FILE
        known = ", ".join(sorted(pins)) or "none"
        raise RegistryError(
            f"No production pin for {name!r} in {where} (pinned: {known}). Promote a version to "
            "production first (notebook 04)."
        )
    return resolve(pins[name], client)


def compare_with_in_process(version: ModelVersion, frame: pd.DataFrame, served: list) -> pd.DataFrame:
    """Served predictions beside those of the same version loaded in this process (``mlflow.pyfunc``)."""
    import mlflow.pyfunc

    local = mlflow.pyfunc.load_model(model_uri(version)).predict(frame)
    table = pd.DataFrame({"rest": served, "in_process": list(local)})
    return table.assign(difference=table["rest"] - table["in_process"])
