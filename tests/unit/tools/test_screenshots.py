"""``make screenshots`` photographs the registry notebook 03 shows, not the one 04 leaves behind."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import types
from pathlib import Path

from labhelpers.course import run
from tools import screenshots
from tools import store_outputs as outputs

ROOT = Path(__file__).resolve().parents[3]  # the project root: `tools` is importable from there


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
    probe = "import sys, tools.screenshots; print(sorted({m.split('.')[0] for m in sys.modules}))"
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = ran.stdout
    assert "'labhelpers'" in loaded and "'playwright'" not in loaded and "'greenlet'" not in loaded


def _walkthrough() -> str:
    import nbformat

    from labhelpers.course.notebooks import NOTEBOOK_DIR

    cells = nbformat.read(NOTEBOOK_DIR / "03_inspect_registry.ipynb", as_version=4).cells
    return next(c.source for c in cells if c.get("id") == "mlflow-ui-md")


def test_what_the_text_beside_each_screenshot_claims_is_what_notebooks_01_and_02_leave():
    """Run count, the best run and its metrics, recomputed the way notebook 01 makes them (the shipped
    sample, the held-out trips); the pictures are taken from that state by `make screenshots`."""
    from labhelpers.training.features import supervised_xy
    from labhelpers.training.held_out import score_fare_model
    from labhelpers.training.steps import prepare_data
    from labhelpers.training.sweep import ALPHAS, FEATURE_SETS, fare_model, run_name

    text = " ".join(_walkthrough().split())
    frame = prepare_data(None)[0]
    scores = {}
    for feature_set, features in FEATURE_SETS.items():
        X, y = supervised_xy(frame, features)
        for model_type, alpha in [("LinearRegression", None), *(("Ridge", a) for a in ALPHAS)]:
            model = fare_model(model_type, alpha).fit(X, y)
            scores[run_name(model_type, feature_set, alpha)] = score_fare_model(model, features)
    with_rmse = len(scores) + 1  # the sweep's runs and the run by hand (the same as the sweep's first)
    assert f"{with_rmse + 2} of them" in text  # and the two training steps, which log no plain rmse
    assert f"**{with_rmse} matching runs**" in text and f"(all {with_rmse} runs)" in text
    best = min(scores, key=lambda name: scores[name]["rmse"])
    assert best == screenshots.BEST_RUN == run_name("LinearRegression", "all")
    assert f"**Source Run** (`{best}`" in text and f"**{best}**" in text
    rmse, mae, r2 = (scores[best][key] for key in ("rmse", "mae", "r2"))
    assert f"`rmse` {rmse!r}" in text  # the run page shows the metric in full
    assert f"`rmse` {rmse:.6g}" in text  # the version's tag: six significant digits
    assert f"the lowest, {rmse:.6g}, is `{best}`" in text
    assert f"(`{best}`: {mae:.3f}, {r2:.3f}, {rmse:.3f})" in text  # the compare table's rounding
    strongest = [s["rmse"] for name, s in scores.items() if name.endswith(f"alpha-{max(ALPHAS):g}")]
    assert "`alpha` 10,000 end near 6" in text and all(5.5 < value < 6.5 for value in strongest)
    assert f"({len(FEATURE_SETS['all'])} inputs: all the features)" in text
    assert f"**Version {screenshots.VERSION}**" in text
    assert f"`{screenshots.RUN_FILTER}`" in text


def test_the_command_photographs_into_notebooks_images_by_default(monkeypatch, capsys):
    taken = []
    monkeypatch.setattr(screenshots, "take_screenshots", lambda *args: taken.append(args) or [])
    assert screenshots.main([]) == 0
    assert taken == [("build/course-screenshots", "notebooks/images")]
