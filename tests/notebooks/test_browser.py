"""The local MLflow UI shows what the course registered, in a real (headless) browser.

The UI is a React app: the page's HTML holds no model until its JavaScript has asked the server. Debian's
chromium, driven by Playwright (the session's ``browser`` fixture), waits for the links to appear. A fresh
server gets what notebooks 01 and 02 leave: notebook 01's sweep of tracked runs, the training steps as runs,
the three models registered from them with ``register_models``, and the sweep's best LinearRegression run
registered by hand as version 2 of the fare model. Notebook 03's walk-through is then followed click by
click (``tools.screenshots.CLICK_PATH``): every element the text tells the learner to click must
exist.
"""

from __future__ import annotations

import pytest

from labhelpers.course.notebooks import NOTEBOOK_DIR
from labhelpers.foundation import config
from labhelpers.local_server import control as local_server
from labhelpers.registry.register import register_models
from tools.screenshots import CLICK_PATH, EXPERIMENT, HEIGHT, WIDTH, BrowserError, walk

pytestmark = pytest.mark.browser
KEPT = config.PROJECT_ROOT / "build" / "test-notebooks"


def _as_notebooks_01_02_leave(uri: str, data, folder) -> None:
    """The sweep, the tracked training steps, their batch, and the best run registered as version 2."""
    import mlflow

    from labhelpers.registry.register import tags_from_run
    from labhelpers.training.steps import prepare_data, run_supervised, run_unsupervised
    from labhelpers.training.sweep import FEATURE_SETS, sweep

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        runs = sweep(prepare_data(data)[0], EXPERIMENT)
        meter = FEATURE_SETS["meter"]
        run_supervised(data, folder / "supervised", features=meter, experiment=EXPERIMENT)
        run_unsupervised(data, folder / "unsupervised", silhouette_sample=500, experiment=EXPERIMENT)
        register_models(folder / "supervised", folder / "unsupervised", tracking_uri=uri)
        best = runs[runs["model_type"] == "LinearRegression"].iloc[0].run_id
        mlflow.register_model(f"runs:/{best}/model", config.LINEAR_MODEL_NAME, tags=tags_from_run(best))
    finally:
        mlflow.set_tracking_uri(before[0])
        mlflow.set_registry_uri(before[1])


@pytest.fixture(scope="module")
def registered_server(tmp_path_factory, sample_csv, free_port, seeded_state):
    """One server for the module's tests, which only read it (the browser's own state is per test)."""
    port, state = free_port(), seeded_state(tmp_path_factory.mktemp("browser-mlflow"))
    info = local_server.start(port, state, timeout=180)  # as the session server: CI can be loaded
    try:
        _as_notebooks_01_02_leave(info.uri, sample_csv, tmp_path_factory.mktemp("browser-trained"))
        yield info
    finally:
        local_server.stop(port, state)


def test_mlflow_ui_lists_the_three_registered_models(browser, registered_server):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:
        page.goto(f"{registered_server.uri}/#/models")
        for name in config.MODEL_NAMES:  # each link appears once the UI's own API call has answered
            page.locator(f'a[href="#/models/{name}"]').first.wait_for(timeout=120_000)
        assert page.title() == "Models - MLflow"
    finally:
        KEPT.mkdir(parents=True, exist_ok=True)
        (KEPT / "mlflow-ui-models.html").write_text(page.content())
        context.close()


def test_the_walkthrough_names_every_click_and_shows_every_screenshot():
    import nbformat

    cells = nbformat.read(NOTEBOOK_DIR / "03_inspect_registry.ipynb", as_version=4).cells
    text = next(c.source for c in cells if c.get("id") == "mlflow-ui-md")
    clicked = [step.click for step in CLICK_PATH if step.click]
    assert [click for click in clicked if f"**{click}**" not in text and f"`{click}`" not in text] == []
    shots = [step.shot for step in CLICK_PATH if step.shot]
    assert [shot for shot in shots if f"(images/{shot})" not in text] == []
    assert [shot for shot in shots if not (NOTEBOOK_DIR / "images" / shot).is_file()] == []


def test_every_element_the_walkthrough_clicks_exists(browser, registered_server):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
    page = context.new_page()
    try:  # BrowserError names the step, the click or the text that never appeared, and the page it was on
        walk(page, registered_server.uri)
    except BrowserError:
        page.screenshot(path=KEPT / "walkthrough-failure.png")
        raise
    finally:
        context.close()
    assert page.url.split("#", 1)[1].startswith("/compare-runs")  # it ended comparing the runs
