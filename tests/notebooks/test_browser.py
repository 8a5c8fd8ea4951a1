"""The local MLflow UI shows what the course registered, in a real (headless) browser.

The UI is a React app: the page's HTML holds no model until its JavaScript has asked the server. Debian's
chromium renders it headless with a virtual-time budget and dumps the resulting DOM. The three models are
registered on a fresh server with ``register_models``, the call notebook 02 makes.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from labhelpers.core import config

from labhelpers.server import local as server
from labhelpers.registry.register import register_models

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# No sandbox (CI runs as root); no network but the server: no QUIC, sync, component or background fetches.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-proxy-server",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
]  # fmt: skip


@pytest.fixture
def registered_server(tmp_path, trained_dirs, free_port):
    port = free_port()
    info = server.start(port, tmp_path / "mlflow")
    try:
        register_models(*trained_dirs, tracking_uri=info.uri)
        yield info
    finally:
        server.stop(port, tmp_path / "mlflow")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: install Debian's (apt-get install chromium)")
def test_mlflow_ui_lists_the_three_registered_models(registered_server, tmp_path):
    page = f"{registered_server.uri}/#/models"
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page]
    dom = ""
    for _ in range(2):  # a loaded machine can run out of virtual time before the API answers
        dom = subprocess.run(command, capture_output=True, text=True, timeout=120).stdout
        if all(f'href="#/models/{name}"' in dom for name in config.MODEL_NAMES):
            break
    kept = config.PROJECT_ROOT / "build" / "test-notebooks" / "mlflow-ui-models.html"
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(dom)
    assert "<title>Models - MLflow</title>" in dom, f"not the models page; DOM kept in {kept}"
    for name in config.MODEL_NAMES:
        assert f'href="#/models/{name}"' in dom, f"{name} not listed; DOM kept in {kept}"
