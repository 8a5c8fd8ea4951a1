"""A headless Chromium driven over the DevTools protocol: open a page, wait for text, click, photograph.

Debian's ``chromium`` runs headless; this module talks to it through its remote-debugging WebSocket
(``websocket-client``, which JupyterLab's server already installs). No browser download, no new dependency.
The MLflow UI is a React app: a page holds nothing until its JavaScript has asked the server, so every step
waits for what it needs to see.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from labhelpers.core.errors import LabError

#: No sandbox (root, containers); no network but the page's server: no sync, updates or background fetches.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--no-proxy-server",
    "--hide-scrollbars",
    "--remote-allow-origins=*",
    "--remote-debugging-port=0",
]


def chromium_path() -> str | None:
    """The chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


class BrowserError(LabError):
    """Chromium is missing, did not start, or a page never showed what a step waited for."""


class Page:
    """One browser tab: ``goto``, ``wait_for_text``, ``click_text``, ``screenshot``, ``evaluate``."""

    def __init__(self, socket) -> None:
        self._socket = socket
        self._ids = itertools.count(1)

    def send(self, method: str, **params) -> dict:
        """Send one DevTools command and return its result (events received meanwhile are skipped)."""
        number = next(self._ids)
        self._socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == number:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        return result.get("result", {}).get("value")

    def goto(self, url: str) -> None:
        """Open ``url`` and wait until the document has loaded."""
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", f"{url} to load")

    def wait_for(self, expression: str, what: str, timeout: float = 120.0):
        """Poll a JavaScript expression until it is truthy; return its value.

        Raises:
            BrowserError: Still falsy after ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.25)
        raise BrowserError(
            f"Waited {timeout:.0f} s for {what} on {self.evaluate('location.href')}; it never showed."
        )

    def wait_for_text(self, text: str, timeout: float = 120.0) -> None:
        """Wait until the page's visible text contains ``text``."""
        self.wait_for(
            f"document.body && document.body.innerText.includes({json.dumps(text)})", repr(text), timeout
        )

    def click_text(self, text: str, selector: str = "a, button, [role=button], [role=tab]") -> str:
        """Click, as a mouse does, the innermost visible element matching ``selector`` showing ``text``.

        Returns:
            The tag name of the element clicked.

        Raises:
            BrowserError: No such element is on the page.
        """
        script = f"""(() => {{
            const found = [...document.querySelectorAll({json.dumps(selector)})].filter(e =>
                e.innerText && e.innerText.trim() === {json.dumps(text)} && e.getClientRects().length);
            if (!found.length) return null;
            const target = found[found.length - 1];
            target.scrollIntoView({{block: "center"}});
            const box = target.getClientRects()[0];  // a wrapped link: its first line, not the gap
            const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
            const hit = document.elementFromPoint(x, y);  // not covered by a dialog or another row
            return [target.tagName, x, y, !!hit && (target.contains(hit) || hit.contains(target))];
        }})()"""
        found, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline:  # a page still loading moves its rows: click once they stay
            before, found = found, self.evaluate(script)
            if found and found[3] and before == found:
                self._mouse_click(found[1], found[2])
                return found[0]
            time.sleep(0.3)
        raise BrowserError(f"Nothing to click showing {text!r} on {self.evaluate('location.href')}.")

    def click_label(self, label: str) -> bool:
        """Click the last visible button whose ``aria-label`` is ``label`` (icon buttons); False if none."""
        script = f"""(() => {{
            const found = [...document.querySelectorAll('button[aria-label={json.dumps(label)}]')]
                .filter(e => e.getClientRects().length);
            if (!found.length) return null;
            const box = found[found.length - 1].getBoundingClientRect();
            return [box.x + box.width / 2, box.y + box.height / 2];
        }})()"""
        found = self.evaluate(script)
        if found:
            self._mouse_click(*found)
        return bool(found)

    def _mouse_click(self, x: float, y: float) -> None:
        """Press and release the left button at ``x, y``: React widgets listen to pointer events."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def screenshot(self, path: str | Path) -> Path:
        """Save what the viewport shows as a PNG."""
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path


def _devtools_port(profile: Path, process: subprocess.Popen, timeout: float = 30.0) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BrowserError(f"chromium exited with status {process.returncode} before it listened.")
        if marker.is_file() and marker.read_text().strip():
            return int(marker.read_text().split()[0])
        time.sleep(0.1)
    raise BrowserError(f"chromium did not open its DevTools port within {timeout:.0f} s.")


@contextlib.contextmanager
def open_page(width: int = 1400, height: int = 860, *, accept_any_certificate: bool = False):
    """A fresh headless Chromium (its own throwaway profile) with one tab of ``width`` x ``height``.

    ``accept_any_certificate``: for a server whose certificate this machine does not trust (the classroom
    server's generated one); never for a site on the internet.

    Raises:
        BrowserError: No chromium on PATH, or it did not start.
    """
    import websocket

    program = chromium_path()
    if program is None:
        raise BrowserError("No chromium found: install Debian's (apt-get install chromium).")
    with tempfile.TemporaryDirectory(prefix="lab-chromium-", ignore_cleanup_errors=True) as profile:
        command = [
            program,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *(["--ignore-certificate-errors"] if accept_any_certificate else []),
            "about:blank",
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            port = _devtools_port(Path(profile), process)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                tab = next(t for t in json.load(answer) if t.get("type") == "page")
            socket = websocket.create_connection(
                tab["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
            )
            try:
                page = Page(socket)
                page.send("Page.enable")
                page.send(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                yield page
            finally:
                socket.close()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
