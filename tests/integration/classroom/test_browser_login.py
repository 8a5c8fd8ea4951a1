"""The classroom UI asks for a login and shows the learner's models once signed in (headless chromium).

A learner's browser shows a login prompt and then sends the learner's basic credentials with every request;
headless chromium cannot type into the prompt, so the test hands it the same ``Authorization`` header through
the DevTools protocol (credentials in the address do not work: the UI's fetch calls refuse such URLs). The
classroom's self-signed certificate is accepted, as a learner does once.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from labhelpers.core.config import free_port

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--no-proxy-server",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--ignore-certificate-errors",
]  # fmt: skip
MODEL_LINK = re.compile(r'href="#/models/([^"]+)"')


class DevTools:
    """A minimal DevTools-protocol client for one page of a headless chromium."""

    def __init__(self, profile, timeout: float = 90):
        import websocket

        port = free_port()
        self.browser = subprocess.Popen(
            [
                CHROMIUM,
                *FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=2) as answer:
                    page = next(p for p in json.load(answer) if p.get("type") == "page")
                break
            except (OSError, StopIteration):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        self.socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True
        )
        self.sent = 0

    def call(self, method: str, **params) -> dict:
        self.sent += 1
        self.socket.send(json.dumps({"id": self.sent, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.sent:
                return message.get("result", {})

    def dom(self) -> str:
        found = self.call("Runtime.evaluate", expression="document.documentElement.outerHTML")
        return found["result"].get("value", "")

    def close(self) -> None:
        self.socket.close()
        self.browser.kill()
        self.browser.wait()


def _models_seen(
    address: str, profile, credentials: tuple[str, str] | None, wait: float = 90
) -> tuple[str, set]:
    """Open the UI's models page (signed in when ``credentials`` are given); the DOM and the models listed."""
    browser = DevTools(profile)
    try:
        browser.call("Network.enable")
        if credentials:
            token = base64.b64encode(":".join(credentials).encode()).decode()
            browser.call("Network.setExtraHTTPHeaders", headers={"Authorization": f"Basic {token}"})
        browser.call("Page.navigate", url=address)
        deadline, dom = time.monotonic() + wait, ""
        while time.monotonic() < deadline:
            time.sleep(2)
            dom = browser.dom()
            if MODEL_LINK.search(dom):
                break
        return dom, set(MODEL_LINK.findall(dom))
    finally:
        browser.close()


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium: install Debian's (apt-get install chromium)")
def test_the_ui_asks_for_a_login_and_then_lists_the_learners_models(classroom, tmp_path):
    pytest.importorskip("websocket")
    _, record, credentials = classroom
    page = f"{record['uri']}/#/models"
    anonymous, listed = _models_seen(page, tmp_path / "anonymous", None, wait=10)
    assert listed == set() and "<title>Models - MLflow</title>" not in anonymous
    learner = ("learner-1", credentials.password("learner-1"))
    dom, listed = _models_seen(page, tmp_path / "learner", learner)
    assert "<title>Models - MLflow</title>" in dom
    own = {f"{base}-learner-1" for base in ("taxi-fare-linear-regression", "taxi-fare-ridge-regression")}
    assert own | {"taxi-trip-kmeans-learner-1"} <= listed
