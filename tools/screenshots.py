"""Screenshots of the MLflow UI for notebook 03's walk-through, taken from a course run in Debian's chromium.

The browser is driven with Playwright for Python (the ``dev`` extra), which launches the system chromium
(``executable_path``): Playwright's own browser download cannot work on the course's network. Playwright is
imported only when a browser opens, so importing this module costs nothing.

The walk-through follows the click path a learner takes in the pinned MLflow (3.15): the UI opens in GenAI
mode with its Assistant panel; **Model training** shows the **Model registry** entry; the model list opens
under a "new Model Registry UI" announcement. :data:`CLICK_PATH` is that path, step by step: the screenshot
command follows it, and the browser test checks that every element it clicks exists.

A maintainer's tool, outside the installed package: ``make screenshots`` runs it as
``python -m tools.screenshots`` from the project root (``--help`` lists its options).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from labhelpers.course.notebooks import NOTEBOOKS
from labhelpers.foundation.config import LINEAR_MODEL_NAME
from labhelpers.foundation.errors import LabError

if TYPE_CHECKING:
    from playwright.sync_api import Page

#: The version whose page is photographed: after notebooks 01-03 on a fresh server, the one 02 registered by
#: hand from the sweep's best run (its source run, named below).
VERSION = 2
BEST_RUN = "linearregression-all"
EXPERIMENT = "taxi-model-registry"
#: What the learner types in the runs list's search box: the runs with an rmse (01's, not the steps').
RUN_FILTER = "metrics.rmse > 0"
RUN_FILTER_BOX = "input[placeholder*='metrics.rmse']"
#: The compare page's section headers, which fold their section away when clicked.
SECTION = "[role=button], button, div"
WIDTH, HEIGHT = 1400, 900
#: How long one step waits for what it clicks or expects (a loaded machine renders the React UI slowly).
STEP_TIMEOUT_MS = 120_000
#: Root needs no sandbox; no network but the page's server: no sync, updates, QUIC or background fetches.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--hide-scrollbars",
)


class BrowserError(LabError):
    """Chromium or Playwright is missing, or a page never showed what a step waited for."""


def chromium_path() -> str | None:
    """The chromium executable on PATH (Debian's ``/usr/bin/chromium``), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


@contextlib.contextmanager
def open_browser() -> Iterator:
    """Debian's chromium, headless, under Playwright: yields a ``playwright.sync_api.Browser``.

    Open one context per independent visitor (``browser.new_context(...)``): each has its own cookies.

    Raises:
        BrowserError: No chromium on PATH, or Playwright is not installed.
    """
    program = chromium_path()
    if program is None:
        raise BrowserError("No chromium found: install Debian's (apt-get install chromium).")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as missing:
        raise BrowserError(f"Playwright is not installed ({missing}): run `make venv`.") from missing
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=program, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@dataclass(frozen=True)
class Step:
    """Click what shows ``click`` (``selector`` narrows where), wait for ``then``, save ``shot`` if set.

    ``click=""`` acts on the first visible element ``selector`` matches, whatever its text: it types ``fill``
    and presses Enter when ``fill`` is set (a search box), else clicks it (a checkbox).
    """

    click: str | None
    then: str
    shot: str | None = None
    selector: str = "a, button"
    fill: str = ""


#: The learner's path through the UI, from http://127.0.0.1:5000 to a version's run.
CLICK_PATH = (
    Step(None, "Welcome to MLflow", "mlflow-ui-home.png"),
    Step("Model training", "Model registry", selector="div"),
    Step("Model registry", "Try it now", "mlflow-ui-registry-announcement.png"),
    Step("Try it now", LINEAR_MODEL_NAME, "mlflow-ui-models.png", selector="button"),
    Step(LINEAR_MODEL_NAME, f"Version {VERSION}", "mlflow-ui-model-versions.png", selector="a"),
    Step(f"Version {VERSION}", BEST_RUN, "mlflow-ui-version.png", selector="a"),
    Step(BEST_RUN, "MLmodel", "mlflow-ui-run-artifacts.png", selector="a"),
    Step("Overview", "About this run", "mlflow-ui-run.png", selector="[role=tab]"),
    Step(EXPERIMENT, "train-supervised", selector="a"),
    Step("", "linearregression-all", "mlflow-ui-runs.png", RUN_FILTER_BOX, RUN_FILTER),
    Step("", "Compare", selector="[role=checkbox], input[type=checkbox]"),
    Step("Compare", "Parallel Coordinates Plot", "mlflow-ui-compare.png", selector="button"),
    Step("Visualizations", "Run details", selector=SECTION),
    Step("Parameters", "rmse", "mlflow-ui-compare-metrics.png", selector=SECTION),
)


def _click(page: Page, step: Step) -> None:
    """Click, as a mouse does, the last visible ``step.selector`` whose whole text is ``step.click``."""
    assert step.click is not None  # the first step only waits for the home page
    if not step.click:
        target = page.locator(step.selector).filter(visible=True).first
        if step.fill:
            target.fill(step.fill)
            target.press("Enter")
        else:
            target.click()
        return
    exact = re.compile(rf"^\s*{re.escape(step.click)}\s*$")
    page.locator(step.selector).filter(has_text=exact).filter(visible=True).last.click()


def walk(
    page: Page, base_uri: str, images: Path | None = None, path: Sequence[Step] = CLICK_PATH
) -> list[Path]:
    """Follow ``path`` from the UI's home page in a Playwright ``page``; save each step's screenshot.

    Args:
        page: A ``playwright.sync_api.Page``.
        base_uri: The MLflow server's address.
        images: Folder for the PNG files; None: take none.
        path: The steps.

    Returns:
        The PNG files written.

    Raises:
        BrowserError: An element to click, or the text a step waits for, never appeared.
    """
    from playwright.sync_api import Error as PlaywrightError

    saved = []
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(base_uri.rstrip("/") + "/")
    for number, step in enumerate(path):
        try:
            if step.click is not None:
                _click(page, step)
            page.get_by_text(step.then).filter(visible=True).first.wait_for()
        except PlaywrightError as failed:
            what = f"clicking {step.click!r}, then " if step.click else ""
            raise BrowserError(
                f"Step {number + 1} ({what}waiting for {step.then!r}) failed on {page.url}: "
                f"{str(failed).splitlines()[0]}"
            ) from failed
        if images is not None and step.shot:
            with contextlib.suppress(PlaywrightError):  # let the rows' own requests finish; the UI may poll
                page.wait_for_load_state("networkidle", timeout=10_000)
            page.screenshot(path=Path(images) / step.shot)
            saved.append(Path(images) / step.shot)
        if number == 0:  # the Assistant panel's own close button (the last one on the page), after its photo
            close = page.get_by_role("button", name="Close", exact=True)
            if close.count():
                close.last.click()
    return saved


def take_screenshots(executed_dir: str | Path, images: str | Path) -> list[Path]:
    """Run notebooks 01-03 on a fresh server, then photograph its UI along :data:`CLICK_PATH`.

    The pictures show the registry as notebook 03 finds it (not 04's promotions): 03's walk-through embeds
    them.

    Args:
        executed_dir: Where the executed notebooks go.
        images: Folder of the PNG files (``notebooks/images``).

    Returns:
        The PNG files written.
    """
    from labhelpers.course.run import run_course
    from tools.store_outputs import (
        READER_OWNER,
        course_parameters,
        fresh_server,
        require_clean_checkout,
        scoped_environment,
    )

    require_clean_checkout()
    with (
        tempfile.TemporaryDirectory(prefix="lab-screenshots-") as work,
        fresh_server(Path(work) / "mlflow") as server,
        scoped_environment(LAB_OWNER=READER_OWNER, LAB_ACTOR=READER_OWNER),
    ):
        run_course(executed_dir, course_parameters(work), notebooks=NOTEBOOKS[:3])
        with open_browser() as browser:
            page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
            return walk(page, server.uri, Path(images))


def main(argv: list[str] | None = None) -> int:
    """Take the screenshots notebook 03's walk-through embeds."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.screenshots",
        description="Run notebooks 01-03 on a fresh server and photograph its MLflow UI in chromium "
        "(Playwright): the model list, a version page and a run page, as the pinned MLflow's UI shows them.",
    )
    parser.add_argument(
        "--into", default="build/course-screenshots", help="The executed notebooks go here (%(default)s)."
    )
    parser.add_argument("--images", default="notebooks/images", help="PNG files go here (%(default)s).")
    args = parser.parse_args(argv)
    for path in take_screenshots(args.into, args.images):
        print(f"saved {path}")
    return 0


if __name__ == "__main__":
    from labhelpers.cli.entry import run_main

    raise SystemExit(run_main(main))
