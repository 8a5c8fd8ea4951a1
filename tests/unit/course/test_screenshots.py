"""``make screenshots`` photographs the registry notebook 03 shows, not the one 04 leaves behind."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import types

from labhelpers.course import outputs, run, screenshots


def test_the_screenshots_show_the_state_notebook_03_leaves(monkeypatch, tmp_path):
    ran, walked = [], []

    @contextlib.contextmanager
    def server(state_dir):
        yield types.SimpleNamespace(uri="http://127.0.0.1:1")

    @contextlib.contextmanager
    def browser():
        yield types.SimpleNamespace(new_page=lambda **options: "page")

    monkeypatch.setattr(outputs, "require_clean_checkout", lambda: None)
    monkeypatch.setattr(outputs, "fresh_server", server)
    monkeypatch.setattr(run, "run_course", lambda executed, parameters, notebooks: ran.extend(notebooks))
    monkeypatch.setattr(screenshots, "open_browser", browser)
    monkeypatch.setattr(screenshots, "walk", lambda page, uri, images: walked.append((page, uri)) or [])
    screenshots.take_screenshots(tmp_path / "executed", tmp_path / "images")
    assert [name[:2] for name in ran] == ["01", "02", "03"]
    assert walked == [("page", "http://127.0.0.1:1")]


def test_importing_the_module_loads_no_browser_driver():
    probe = "import sys, labhelpers.course.screenshots; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "'labhelpers'" in loaded and "'playwright'" not in loaded and "'greenlet'" not in loaded
