"""Stored notebook outputs: sanitized, copied cell by cell; the committed notebooks hold no run's values."""

from __future__ import annotations

import pytest

from labhelpers.course.notebooks import NOTEBOOK_DIR, NOTEBOOKS
from labhelpers.foundation import config
from labhelpers.foundation.errors import CourseError
from tools import store_outputs as outputs

# nbformat and nbval (the lab and dev extras) are imported inside the tests that use them: the environment of
# `make test-mlflow2` has neither, and it imports this module only to deselect its tests (-m registry).


def test_sanitize_labels_what_changes_from_run_to_run_and_keeps_the_data():
    text = (
        "run 0123456789abcdef0123456789abcdef in "
        f"{config.PROJECT_ROOT}/outputs/course/run-20261127-124700-123456 "
        "batch 20261127-124815-4a2c6f at 2026-11-27T12:48:18+00:00 on http://127.0.0.1:5103/#/models "
        "from /tmp/pytest-of-root/x/trips.csv; pickup 2016-01-03 08:15:00\n"
        "🏃 View run register at: http://127.0.0.1:5103/#/experiments/1/runs/abc\n"
        "InferenceServer(pid=48213, url='http://127.0.0.1:41721')\n"
        f"{{'owner': '{outputs.OWNER_STAND_IN}'}} az ml online-endpoint create --name "
        f"taxi-fare-{outputs.SUFFIX_STAND_IN}"
    )
    clean = outputs.sanitize(text, outputs.replacements(mlflow_port=5103))
    assert clean == (
        "run <run id> in <project>/outputs/course/run-<date>-<time> batch <batch id> at <date and time> on "
        "http://127.0.0.1:5000/#/models from <tmp>; pickup 2016-01-03 08:15:00\n"
        "InferenceServer(pid=<process id>, url='http://127.0.0.1:<port>')\n"
        "{'owner': '<your login name>'} az ml online-endpoint create --name taxi-fare-<endpoint suffix>"
    )


def test_no_other_server_is_shown_at_the_mlflow_port():
    """The MLflow UI is shown at its default address; an inference server keeps a port of its own."""
    text = "MLflow UI: http://localhost:5200 and the model at http://127.0.0.1:5201/score"
    assert outputs.sanitize(text, outputs.replacements(mlflow_port=5200)) == (
        "MLflow UI: http://127.0.0.1:5000 and the model at http://127.0.0.1:<port>/score"
    )
    assert (
        outputs.sanitize(text)
        == "MLflow UI: http://localhost:<port> and the model at http://127.0.0.1:<port>/score"
    )


def test_labels_show_in_html_tables():
    html = "<td>0123456789abcdef0123456789abcdef</td><td>2026-11-27 12:48:18</td>"
    assert outputs.sanitize(html, html=True) == "<td>&lt;run id&gt;</td><td>&lt;date and time&gt;</td>"


def test_the_stand_ins_are_no_word_a_learner_would_type():
    """A stored output once showed owner 'learner', which a learner then typed as the owner in 02-1."""
    for stand_in in (outputs.OWNER_STAND_IN, outputs.SUFFIX_STAND_IN):
        assert stand_in not in ("learner", "student", "user", "you")
        assert outputs.sanitize(f"'{stand_in}'").startswith("'<")


def _notebook(path, outputs_of_code):
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# t", id="title")]
    notebook.cells += [nbformat.v4.new_code_cell("x = 1", id="code")]
    notebook.cells[1].outputs = outputs_of_code
    nbformat.write(notebook, path)
    return path


def _stored(tmp_path, ran):
    """Store the outputs ``ran`` of a one-cell notebook's run; return the committed code cell."""
    import nbformat

    source_dir, executed_dir = tmp_path / "src", tmp_path / "ran"
    source_dir.mkdir(), executed_dir.mkdir()
    _notebook(source_dir / "n.ipynb", [])
    _notebook(executed_dir / "n.ipynb", ran)
    assert outputs.store_outputs(executed_dir, source_dir, names=["n.ipynb"]) == 1
    return nbformat.read(source_dir / "n.ipynb", as_version=4).cells[1]


def test_store_outputs_copies_sanitized_outputs_without_stderr_or_counts(tmp_path):
    import nbformat

    source_dir, executed_dir = tmp_path / "src", tmp_path / "ran"
    source_dir.mkdir(), executed_dir.mkdir()
    _notebook(source_dir / "n.ipynb", [])
    ran = [
        nbformat.v4.new_output("stream", name="stdout", text="at 2026-11-27 12:48:18\n"),
        nbformat.v4.new_output("stream", name="stderr", text="INFO noise\n"),
        nbformat.v4.new_output("execute_result", {"text/plain": "'/tmp/abc/run'"}, execution_count=7),
    ]
    _notebook(executed_dir / "n.ipynb", ran)

    assert outputs.store_outputs(executed_dir, source_dir, names=["n.ipynb"]) == 1
    cell = nbformat.read(source_dir / "n.ipynb", as_version=4).cells[1]
    assert [o.get("name") for o in cell.outputs] == ["stdout", None]
    assert cell.outputs[0].text == "at <date and time>\n"
    assert cell.outputs[1].data["text/plain"] == "'<tmp>'" and cell.outputs[1].execution_count is None
    assert outputs.leaks(source_dir / "n.ipynb") == []


def test_one_print_flushed_in_parts_is_stored_as_one_output(tmp_path):
    import nbformat

    cell = _stored(
        tmp_path,
        [
            nbformat.v4.new_output("stream", name="stdout", text="same fares:"),
            nbformat.v4.new_output("stream", name="stderr", text="INFO noise\n"),
            nbformat.v4.new_output("stream", name="stdout", text=" True\n"),
            nbformat.v4.new_output("execute_result", {"text/plain": "3"}, execution_count=7),
            nbformat.v4.new_output("stream", name="stdout", text="after\n"),
        ],
    )
    assert [o.get("text") for o in cell.outputs] == ["same fares: True\n", None, "after\n"]


def test_store_outputs_refuses_a_cell_changed_since_the_run(tmp_path):
    import nbformat

    (tmp_path / "src").mkdir(), (tmp_path / "ran").mkdir()
    _notebook(tmp_path / "src" / "n.ipynb", [])
    changed = nbformat.read(_notebook(tmp_path / "ran" / "n.ipynb", []), as_version=4)
    changed.cells[1].source = "x = 2"
    nbformat.write(changed, tmp_path / "ran" / "n.ipynb")
    with pytest.raises(CourseError, match="cell code changed since"):
        outputs.store_outputs(tmp_path / "ran", tmp_path / "src", names=["n.ipynb"])


def test_leaks_finds_machine_paths_run_ids_and_timestamps(tmp_path):
    import nbformat

    path = _notebook(
        tmp_path / "n.ipynb", [nbformat.v4.new_output("stream", name="stdout", text="/root/x\n")]
    )
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source = "run = '0123456789abcdef0123456789abcdef'  # 2026-11-27 12:00:00"
    nbformat.write(notebook, path)
    assert outputs.leaks(path) == [
        "n.ipynb: cell code holds /root/",
        "n.ipynb: cell code holds a run id",
        "n.ipynb: cell code holds a timestamp",
    ]


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_carry_outputs_and_no_run_values(name):
    import nbformat

    path = NOTEBOOK_DIR / name
    notebook = nbformat.read(path, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert outputs.leaks(path) == []
    assert all(c.execution_count is None for c in code), "stored execution counts"
    assert all(o.get("execution_count") is None for c in code for o in c.outputs)
    assert not [c.id for c in code if "NBVAL" in c.source], "nbval markers belong in cell tags"
    checked = [c for c in code if "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked and all(c.outputs for c in checked), "a checked cell without its stored output"
    assert sum(bool(c.outputs) for c in code) >= len(code) // 2, "most cells should show their output"


def test_the_plots_are_stored_as_pictures():
    import nbformat

    for name, cell_id in (("01_train_models.ipynb", "look"), ("03_inspect_registry.ipynb", "chart")):
        cell = next(
            c for c in nbformat.read(NOTEBOOK_DIR / name, as_version=4).cells if c.get("id") == cell_id
        )
        assert any("image/png" in o.get("data", {}) for o in cell.outputs), (name, cell_id)


def test_nbval_compares_a_stored_label_equal_to_a_fresh_runs_value():
    """tests/notebooks/sanitize.cfg takes the label a stored output shows and a new run's value alike."""
    from pathlib import Path

    from nbval import plugin

    cfg = Path(__file__).parents[2] / "notebooks" / "sanitize.cfg"
    patterns = plugin.get_sanitize_patterns(cfg.read_text())

    def compared(text):
        for regex, replace in patterns:
            text = plugin.re.sub(regex, replace, text)
        return text

    def run(run_id, port, when, pid):
        return (
            f"run {run_id} of batch 20261127-{when}-4a2c6f, folder run-20261127-{when}-123456 at "
            f"2026-11-27 12:{when[2:4]}:00, commit {run_id[:8] * 5}, server http://127.0.0.1:{port}/x, "
            f"InferenceServer(pid={pid}) <object at 0x7f{pid}ab>"
        )

    first = run("0123456789abcdef0123456789abcdef", 5103, "124700", 4821)
    stored = outputs.sanitize(first, outputs.replacements(mlflow_port=5103))
    fresh = run("fedcba9876543210fedcba9876543210", 5217, "131500", 9917)
    assert "<run id>" in stored and compared(stored) == compared(fresh)
    html = outputs.sanitize(f"<td>{first}</td>", outputs.replacements(mlflow_port=5103), html=True)
    assert compared(html) == compared(f"<td>{fresh}</td>")


def test_a_served_models_folder_and_log_show_no_port():
    text = (
        "model_dir=PosixPath('outputs/course/serving/model-56501/azureml-models/m/2'), "
        "log_path=PosixPath('outputs/course/serving/inference-taxi-fare-linear-regression-2-56501.log')"
    )
    assert outputs.sanitize(text, outputs.replacements(mlflow_port=5103)) == (
        "model_dir=PosixPath('outputs/course/serving/model-<port>/azureml-models/m/2'), "
        "log_path=PosixPath('outputs/course/serving/inference-taxi-fare-linear-regression-2-<port>.log')"
    )


def test_the_command_stores_an_executed_run_of_the_chosen_notebooks(monkeypatch, tmp_path, capsys):
    stored = []
    monkeypatch.setattr(outputs, "store_outputs", lambda *args, names: stored.append((*args, names)) or 7)
    assert outputs.main(["--executed-dir", str(tmp_path), "--notebooks", "02", "04"]) == 0
    assert stored == [(str(tmp_path), [name for name in NOTEBOOKS if name[:2] in ("02", "04")])]
    assert "stored the outputs of 7 cells" in capsys.readouterr().out


def test_the_command_runs_the_whole_course_into_build_by_default(monkeypatch):
    ran = []
    monkeypatch.setattr(outputs, "refresh_outputs", lambda *args, names: ran.append((*args, names)) or 0)
    assert outputs.main([]) == 0
    assert ran == [("build/course-outputs", list(NOTEBOOKS))]
