"""The course as a learner runs it: JupyterLab in Debian's chromium, Run All from the menu, save, read files.

One JupyterLab (started from the venv as ``make lab`` starts it, ``--allow-root`` as root) serves a throwaway
copy of ``notebooks/``: what JupyterLab saves and what the notebooks write (``../outputs``) stays in that
copy, so the tracked notebooks are never touched. The notebooks' ``backend="local"`` finds a throwaway MLflow
server through ``LAB_MLFLOW_PORT`` and ``LAB_MLFLOW_HOME``, as a learner's notebooks find ``make server``'s.

Each notebook opens in a fresh workspace, runs with **Run > Run All Cells**, is saved with Ctrl+S and its
kernel is shut down; then the SAVED FILE is checked (JupyterLab 4 virtualizes cells: the page does not hold
them all). 02 and 04 then get a learner's second pass: **Kernel > Restart Kernel and Run All Cells**. A
screenshot of each notebook is kept in ``build/test-jupyterlab/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from labhelpers.course.notebooks import NOTEBOOK_DIR, NOTEBOOKS
from labhelpers.foundation import config

pytestmark = pytest.mark.browser

SHOTS = config.PROJECT_ROOT / "build" / "test-jupyterlab"
#: A notebook's whole run (01 trains, 05 starts servers) on a loaded 2-core machine.
RUN_TIMEOUT_S = 900
#: The news notification asks to fetch news from the internet: off, as are update checks.
OVERRIDES = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
#: A check cell's answer line, e.g. ``02-1: not yet: ...``.
CHECK_CALL = re.compile(r"""check\(\s*["'](\d\d-\d)["']""")


def _wait_for_lab(url: str, process: subprocess.Popen, log, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"jupyter lab exited ({process.returncode}); see {log}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"jupyter lab did not answer {url} within {timeout:.0f} s; see {log}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory, free_port, browser, seeded_state):
    """JupyterLab on a copy of notebooks/, a throwaway MLflow server, and one chromium page of it."""
    from labhelpers.local_server import control as local

    root = tmp_path_factory.mktemp("jupyterlab")
    tracked = {path.name: path.read_bytes() for path in NOTEBOOK_DIR.glob("*.ipynb")}
    mlflow_port = local.start(free_port(), seeded_state(root / "mlflow"), timeout=180).port
    shutil.copytree(NOTEBOOK_DIR, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = root / "app-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text(json.dumps(OVERRIDES))
    port, token = free_port(), uuid.uuid4().hex
    environment = {
        **os.environ,
        config.PORT_ENV: str(mlflow_port),
        config.STATE_DIR_ENV: str(root / "mlflow"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),  # connection files and the signing key: not in ~
        "JUPYTER_DATA_DIR": str(root / "data"),
        "PYTHONDONTWRITEBYTECODE": "",
    }
    environment.pop("MLFLOW_TRACKING_URI", None)  # backend="local" must find the server by itself
    jupyter = shutil.which("jupyter", path=os.path.dirname(sys.executable))
    assert jupyter is not None, "no jupyter beside this interpreter"
    command = [
        jupyter, "lab", str(root / "notebooks"), "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
        f"--LabApp.app_settings_dir={settings}", f"--LabApp.user_settings_dir={root / 'user-settings'}",
        f"--LabApp.workspaces_dir={root / 'workspaces'}",
        *(["--allow-root"] if os.geteuid() == 0 else []),
    ]  # fmt: skip
    log, base = root / "jupyterlab.log", f"http://127.0.0.1:{port}"
    try:
        with open(log, "wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=environment)
    except OSError:
        local.stop(mlflow_port, root / "mlflow")
        raise
    try:
        _wait_for_lab(f"{base}/api/status?token={token}", process, log)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.set_default_timeout(120_000)
        yield {"base": base, "token": token, "page": page, "root": root, "log": log, "tracked": tracked}
        context.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        local.stop(mlflow_port, root / "mlflow")


def _open(lab, name: str, workspace: str) -> list[str]:
    """Open ``name`` in a fresh workspace; the dialogs shown once its kernel is ready (none expected)."""
    page = lab["page"]
    page.goto(f"{lab['base']}/lab/workspaces/{workspace}/tree/{name}?reset&token={lab['token']}")
    page.wait_for_function(
        """name => {
            if (document.querySelector('.jp-Dialog')) return true;  // e.g. "Select Kernel": reported
            const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            return w && w.context && w.context.path === name && w.sessionContext
                && w.sessionContext.session && w.sessionContext.session.kernel
                && w.sessionContext.session.kernel.status === 'idle';
        }""",
        arg=name,
    )
    page.wait_for_timeout(1000)  # a dialog (e.g. "Select Kernel") opens as the session starts
    return page.locator(".jp-Dialog").all_inner_texts()


def _menu(page, menu: str, item: str) -> None:
    """Click ``menu`` in the menu bar, then its entry labelled ``item`` (a trailing "..." aside)."""
    page.locator(".lm-MenuBar-item").filter(has_text=re.compile(rf"^{menu}$")).click()
    label = page.locator(".lm-Menu-itemLabel").filter(has_text=re.compile(rf"^{re.escape(item)}\W*$"))
    page.locator(".lm-Menu-item").filter(has=label).filter(visible=True).first.click()


def _wait_until_done(page) -> None:
    """Wait until every code cell ran, or a cell failed (Run All stops there), and the kernel is idle."""
    page.wait_for_function(
        """() => {
            const w = window.jupyterapp.shell.currentWidget;
            const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
            if (!kernel || kernel.status !== 'idle') return false;
            const cells = [...w.content.model.cells].filter(c => c.type === 'code');
            const failed = cells.some(c => [...Array(c.outputs.length).keys()]
                .some(i => c.outputs.get(i).type === 'error'));
            return failed || cells.every(c => c.executionCount !== null);
        }""",
        timeout=RUN_TIMEOUT_S * 1000,
        polling=1000,
    )


def _save_and_shut_down(lab, name: str, shot: str) -> None:
    page = lab["page"]
    page.keyboard.press("Control+s")
    page.wait_for_function("() => !window.jupyterapp.shell.currentWidget.context.model.dirty")
    page.screenshot(path=SHOTS / shot)
    headers = {"Authorization": f"token {lab['token']}"}
    for session in page.request.get(f"{lab['base']}/api/sessions", headers=headers).json():
        page.request.delete(f"{lab['base']}/api/sessions/{session['id']}", headers=headers)


def _problems(path) -> list[str]:
    """What the saved notebook shows wrong: a code cell that never ran, an error, a missing check line."""
    import nbformat

    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type != "code":
            continue
        if cell.execution_count is None:
            found.append(f"cell {cell.id} did not run")
        for output in cell.outputs:
            if output.output_type == "error":
                found.append(f"cell {cell.id}: {output.ename}: {output.evalue}")
        for exercise in CHECK_CALL.findall(cell.source):
            shown = "".join(
                o.get("text", "") + "".join(o.get("data", {}).get("text/plain", "")) for o in cell.outputs
            )
            if not re.search(rf"^{exercise}: (correct|not yet): ", shown, re.MULTILINE):
                found.append(f"cell {cell.id}: no '{exercise}: correct|not yet' line in its outputs")
    return found


def _run(lab, name: str, *, workspace: str, menu: str, item: str) -> None:
    dialogs = _open(lab, name, workspace)
    assert dialogs == [], f"{name} opened with a dialog: {dialogs}"
    _menu(lab["page"], menu, item)
    if item.startswith("Restart"):  # "Restart Kernel?" asks first
        lab["page"].locator(".jp-Dialog .jp-mod-accept").click()
        # the saved file holds the first pass's counts: wait until the new pass has cleared them
        lab["page"].wait_for_function(
            """() => [...window.jupyterapp.shell.currentWidget.content.model.cells]
                .some(c => c.type === 'code' && c.executionCount === null)"""
        )
    _wait_until_done(lab["page"])
    late = lab["page"].locator(".jp-Dialog").all_inner_texts()  # one opened during the run blocks it too
    assert late == [], f"{name} showed a dialog while it ran: {late}"
    second = "-second-pass" if item.startswith("Restart") else ""
    _save_and_shut_down(lab, name, f"{name.removesuffix('.ipynb')}{second}.png")
    problems = _problems(lab["root"] / "notebooks" / name)
    assert problems == [], f"{name} in JupyterLab ({lab['log']}):\n" + "\n".join(problems)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_run_all_cells_from_the_menu(lab, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    _run(lab, name, workspace=f"first-{name[:2]}", menu="Run", item="Run All Cells")


@pytest.mark.parametrize("name", [n for n in NOTEBOOKS if n[:2] in ("02", "04")])
def test_restart_kernel_and_run_all_again(lab, name):
    _run(lab, name, workspace=f"again-{name[:2]}", menu="Kernel", item="Restart Kernel and Run All Cells")


def test_the_tracked_notebooks_are_untouched(lab):
    after = {path.name: path.read_bytes() for path in NOTEBOOK_DIR.glob("*.ipynb")}
    assert [name for name in lab["tracked"] if after.get(name) != lab["tracked"][name]] == []


def test_the_saved_file_check_sees_unrun_cells_errors_and_missing_check_lines(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    ran = new_code_cell("x = 1", id="ran", execution_count=1)
    unrun = new_code_cell("y = 2", id="unrun")
    failed = new_code_cell("1 / 0", id="failed", execution_count=2)
    failed.outputs = [new_output("error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]
    silent = new_code_cell('check("02-1")', id="silent", execution_count=3)
    answered = new_code_cell('check("02-1")', id="answered", execution_count=4)
    answered.outputs = [
        new_output("execute_result", {"text/plain": "02-1: not yet: tag it"}, execution_count=4)
    ]
    path = tmp_path / "saved.ipynb"
    nbformat.write(new_notebook(cells=[ran, unrun, failed, silent, answered]), path)
    assert _problems(path) == [
        "cell unrun did not run",
        "cell failed: ZeroDivisionError: division by zero",
        "cell silent: no '02-1: correct|not yet' line in its outputs",
    ]
