"""The local MLflow UI shows what the course registered, in a real (headless) browser.

The UI is a React app: the page's HTML holds no model until its JavaScript has asked the server. Debian's
chromium renders it headless with a virtual-time budget and dumps the resulting DOM. The three models are
registered (twice) on a fresh server with ``register_models``, the call notebook 02 makes. Notebook 03's
walk-through is then followed click by click (``labhelpers.course.screenshots.CLICK_PATH``, over the
DevTools protocol): every element the text tells the learner to click must exist.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from labhelpers.core import config
from labhelpers.course.run import NOTEBOOK_DIR
from labhelpers.course.screenshots import CLICK_PATH, HEIGHT, WIDTH, walk
from labhelpers.registry.register import register_models
from labhelpers.server import local as server

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# No sandbox (CI runs as root); no network but the server: no QUIC, sync, component or background fetches.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-proxy-server",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--virtual-time-budget=15000",
]  # fmt: skip


@pytest.fixture(scope="module")
def registered_server(tmp_path_factory, trained_dirs, free_port):
    """One server for the module's tests, which only read it (the browser's own state is per test)."""
    port, state = free_port(), tmp_path_factory.mktemp("browser-mlflow")
    info = server.start(port, state, timeout=180)  # as the session server: CI can be loaded
    try:
        for _ in range(2):  # the walk-through opens version 2
            register_models(*trained_dirs, tracking_uri=info.uri)
        yield info
    finally:
        server.stop(port, state)


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


def test_the_walkthrough_names_every_click_and_shows_every_screenshot():
    import nbformat

    cells = nbformat.read(NOTEBOOK_DIR / "03_inspect_registry.ipynb", as_version=4).cells
    text = next(c.source for c in cells if c.get("id") == "mlflow-ui-md")
    clicked = [step.click for step in CLICK_PATH if step.click]
    assert [click for click in clicked if f"**{click}**" not in text and f"`{click}`" not in text] == []
    shots = [step.shot for step in CLICK_PATH if step.shot]
    assert [shot for shot in shots if f"(images/{shot})" not in text] == []
    assert [shot for shot in shots if not (NOTEBOOK_DIR / "images" / shot).is_file()] == []


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: install Debian's (apt-get install chromium)")
def test_every_element_the_walkthrough_clicks_exists(registered_server):
    from labhelpers.course.browser import BrowserError, open_page

    kept = config.PROJECT_ROOT / "build" / "test-notebooks" / "walkthrough-failure.png"
    with open_page(WIDTH, HEIGHT) as page:
        try:  # BrowserError names the click or the text that never appeared, and the page it was on
            walk(page, registered_server.uri)
        except BrowserError:
            page.screenshot(kept)
            raise
        assert page.evaluate("location.hash").startswith("#/experiments/")  # it ended on the run page
