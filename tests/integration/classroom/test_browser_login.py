"""The classroom UI asks for a login and shows the learner's models once signed in (headless chromium).

A learner's browser shows a login prompt and then sends the learner's basic credentials with every request;
headless chromium cannot type into the prompt, so the test hands it the same ``Authorization`` header through
the DevTools protocol (credentials in the address do not work: the UI's fetch calls refuse such URLs). The
classroom's self-signed certificate is accepted, as a learner does once.
"""

from __future__ import annotations

import base64
import re
import time

import pytest

from labhelpers.course.browser import chromium_path, open_page

pytestmark = pytest.mark.browser

MODEL_LINK = re.compile(r'href="#/models/([^"]+)"')


def _models_seen(address: str, credentials: tuple[str, str] | None, wait: float = 90) -> tuple[str, set]:
    """Open the UI's models page (signed in when ``credentials`` are given); the DOM and the models listed."""
    with open_page(accept_any_certificate=True) as page:  # the classroom's generated certificate
        page.send("Network.enable")
        if credentials:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            page.send("Network.setExtraHTTPHeaders", headers={"Authorization": f"Basic {token}"})
        page.send("Page.navigate", url=address)
        deadline, dom = time.monotonic() + wait, ""
        while time.monotonic() < deadline:
            time.sleep(2)
            dom = page.evaluate("document.documentElement.outerHTML") or ""
            if MODEL_LINK.search(dom):
                break
        return dom, set(MODEL_LINK.findall(dom))


@pytest.mark.skipif(
    chromium_path() is None, reason="no chromium: install Debian's (apt-get install chromium)"
)
def test_the_ui_asks_for_a_login_and_then_lists_the_learners_models(classroom, tmp_path):
    pytest.importorskip("websocket")
    _, record, credentials = classroom
    page = f"{record['uri']}/#/models"
    anonymous, listed = _models_seen(page, None, wait=10)
    assert listed == set() and "<title>Models - MLflow</title>" not in anonymous
    learner = ("learner-1", credentials.password("learner-1"))
    dom, listed = _models_seen(page, learner)
    assert "<title>Models - MLflow</title>" in dom
    own = {f"{base}-learner-1" for base in ("taxi-fare-linear-regression", "taxi-fare-ridge-regression")}
    assert own | {"taxi-trip-kmeans-learner-1"} <= listed
