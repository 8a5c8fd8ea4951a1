"""A notebook run writes its executed copy once, yet keeps it whole however the run stops.

Real kernels run small notebooks through :func:`labhelpers.course.run.run_notebook`; the writes are counted
where papermill makes them (its engine's per-cell saves, its final write).
"""

from __future__ import annotations

import json

import pytest

from labhelpers.course.run import run_notebook
from labhelpers.foundation.errors import CourseError


def _notebook(path, *sources: str) -> None:
    import nbformat

    cells = [nbformat.v4.new_code_cell("n = 1", metadata={"tags": ["parameters"]})]
    cells += [nbformat.v4.new_code_cell(source) for source in sources]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel}), path)


def _outputs(path) -> list[str]:
    """Each code cell's printed text, in order ("" for a cell that printed nothing or never ran)."""
    cells = [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]
    return ["".join("".join(out.get("text", "")) for out in cell.get("outputs", [])) for cell in cells]


@pytest.fixture
def writes(monkeypatch):
    """The notebook writes papermill makes: ``cells`` between cells, ``final`` at the end of a run."""
    import papermill.engines
    import papermill.execute

    counted = {"cells": 0, "final": 0}

    def counting(key, write):
        def wrapper(*args, **kwargs):
            counted[key] += 1
            return write(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(papermill.engines, "write_ipynb", counting("cells", papermill.engines.write_ipynb))
    monkeypatch.setattr(papermill.execute, "write_ipynb", counting("final", papermill.execute.write_ipynb))
    return counted


def test_a_notebook_that_runs_through_is_written_once_with_every_output(tmp_path, writes) -> None:
    source, target = tmp_path / "ok.ipynb", tmp_path / "out" / "ok.ipynb"
    _notebook(source, "print('first', n)", "print('second', n + 1)")

    assert run_notebook(source, target, {"n": 41}, timeout=60) == target

    assert _outputs(target)[-2:] == ["first 41\n", "second 42\n"]
    assert writes == {"cells": 0, "final": 1}  # papermill's own engine: 2 per cell, here 8


def test_a_failing_cell_keeps_the_executed_notebook_with_its_error(tmp_path, writes) -> None:
    source, target = tmp_path / "fails.ipynb", tmp_path / "out" / "fails.ipynb"
    _notebook(source, "print('before')", "raise ValueError('no such column: fare')", "print('never')")

    with pytest.raises(CourseError, match=r"stopped at cell \[3\]: ValueError: no such column: fare"):
        run_notebook(source, target, {}, timeout=60)

    cells = [cell for cell in json.loads(target.read_text())["cells"] if cell["cell_type"] == "code"]
    assert cells[1]["outputs"][0]["text"] == ["before\n"]
    assert cells[2]["outputs"][0]["ename"] == "ValueError"
    assert cells[3]["outputs"] == []
    assert writes["cells"] == 0


@pytest.mark.parametrize(
    ("stop", "error"),
    [("import os; os._exit(3)", "DeadKernelError"), ("import time; time.sleep(60)", "CellTimeoutError")],
    ids=["kernel-died", "cell-timed-out"],
)
def test_a_run_stopped_by_its_kernel_keeps_what_ran_before(tmp_path, writes, stop: str, error: str) -> None:
    source, target = tmp_path / "stops.ipynb", tmp_path / "out" / "stops.ipynb"
    _notebook(source, "print('before')", stop, "print('never')")

    with pytest.raises(CourseError, match=rf"(?s)stops.ipynb: {error}: .*\(executed notebook: {target}"):
        run_notebook(source, target, {}, timeout=5)

    assert _outputs(target)[1:] == ["before\n", "", ""]  # written by the engine as the run stopped
    assert writes["cells"] == 0
