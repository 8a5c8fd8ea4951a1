"""Screenshots of the MLflow UI for notebook 03's walk-through, taken from a course run by headless Chromium.

The walk-through follows the click path a learner takes in the pinned MLflow (3.15): the UI opens in GenAI
mode with its Assistant panel; **Model training** shows the **Model registry** entry; the model list opens
under a "new Model Registry UI" announcement. :data:`CLICK_PATH` is that path, step by step: the screenshot
command follows it, and the browser test checks that every element it clicks exists.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from labhelpers.core.config import LINEAR_MODEL_NAME
from labhelpers.course.browser import Page, open_page
from labhelpers.course.run import NOTEBOOKS

#: The version whose page is photographed: after notebook 04 on a fresh server it is in production.
VERSION = 2
WIDTH, HEIGHT = 1400, 900


@dataclass(frozen=True)
class Step:
    """Click what shows ``click`` (``selector`` narrows where), wait for ``then``, save ``shot`` if set."""

    click: str | None
    then: str
    shot: str | None = None
    selector: str = "a, button"


#: The learner's path through the UI, from http://127.0.0.1:5000 to a version's run.
CLICK_PATH = (
    Step(None, "Welcome to MLflow", "mlflow-ui-home.png"),
    Step("Model training", "Model registry", selector="div"),
    Step("Model registry", "Try it now", "mlflow-ui-registry-announcement.png"),
    Step("Try it now", LINEAR_MODEL_NAME, "mlflow-ui-models.png", selector="button"),
    Step(LINEAR_MODEL_NAME, f"Version {VERSION}", "mlflow-ui-model-versions.png", selector="a"),
    Step(f"Version {VERSION}", f"register-{LINEAR_MODEL_NAME}", "mlflow-ui-version.png", selector="a"),
    Step(f"register-{LINEAR_MODEL_NAME}", "MLmodel", "mlflow-ui-run-artifacts.png", selector="a"),
    Step("Overview", "About this run", "mlflow-ui-run.png", selector="[role=tab]"),
)


def walk(page: Page, base_uri: str, images: Path | None = None, path=CLICK_PATH) -> list[Path]:
    """Follow ``path`` from the UI's home page; save each step's screenshot under ``images`` if given.

    Raises:
        BrowserError: An element to click, or the text a step waits for, never appeared.
    """
    saved = []
    page.goto(base_uri.rstrip("/") + "/")
    for number, step in enumerate(path):
        if step.click is not None:
            page.click_text(step.click, step.selector)
        page.wait_for_text(step.then)
        if number == 0:
            if images is not None:
                saved.append(page.screenshot(images / step.shot))  # as it opens: Assistant panel and all
            page.click_label("Close")  # the Assistant panel's own close button (the last one on the page)
            continue
        if images is not None and step.shot:
            page.wait_for("document.readyState === 'complete'", "the page to settle")
            saved.append(page.screenshot(images / step.shot))
    return saved


def take_screenshots(executed_dir: str | Path, images: str | Path) -> list[Path]:
    """Run notebooks 01-04 on a fresh server, then photograph its UI along :data:`CLICK_PATH`.

    Args:
        executed_dir: Where the executed notebooks go.
        images: Folder of the PNG files (``notebooks/images``).

    Returns:
        The PNG files written.
    """
    from labhelpers.course.outputs import (
        READER_OWNER,
        course_parameters,
        fresh_server,
        require_clean_checkout,
        scoped_environment,
    )
    from labhelpers.course.run import run_course

    require_clean_checkout()
    with (
        tempfile.TemporaryDirectory(prefix="lab-screenshots-") as work,
        fresh_server(Path(work) / "mlflow") as server,
        scoped_environment(LAB_OWNER=READER_OWNER, LAB_ACTOR=READER_OWNER),
    ):
        run_course(executed_dir, course_parameters(work), notebooks=NOTEBOOKS[:4])
        with open_page(WIDTH, HEIGHT) as page:
            return walk(page, server.uri, Path(images))
