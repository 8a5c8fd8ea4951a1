"""The course runner: each notebook in a kernel of its own, the registry awaited only when first needed."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from labhelpers.course.run import run_course


def _notebook(path, parameters: str, name: str):
    # nbformat (the lab extra) is imported here: `make test-mlflow2`'s environment lacks it, and it imports
    # this module only to deselect its tests (-m registry).
    import nbformat

    cells = [
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            f"import os, pathlib\npathlib.Path(out, {name!r}).write_text(str(os.getpid()))"
        ),
    ]
    kernel = {"name": "python3", "display_name": "Python 3", "language": "python"}
    notebook = nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": kernel})
    nbformat.write(notebook, path)


def test_the_registry_is_awaited_once_before_the_first_notebook_that_connects(tmp_path, monkeypatch):
    from labhelpers.course import run as course
    from labhelpers.course.forks import KernelForks
    from labhelpers.course.kernels import AheadKernel

    # Real kernels, forked from the run's template and started ahead as the course starts them, without the
    # course's warm imports (MLflow, pandas, scikit-learn: seconds of CPU, and nothing these notebooks use).
    monkeypatch.setattr(course, "kernel_forks", lambda log: KernelForks("pass", log))
    monkeypatch.setattr(
        course,
        "start_ahead",
        lambda notebook, log, forks: AheadKernel(
            notebook.parent, log=log, name=notebook.name, warm_imports="pass", forks=forks
        ),
    )
    marks = tmp_path / "marks"
    marks.mkdir()
    _notebook(tmp_path / "a.ipynb", 'out = ""', "a")  # trains: needs no registry
    _notebook(tmp_path / "b.ipynb", 'backend = "local"\nout = ""', "b")
    _notebook(tmp_path / "c.ipynb", 'backend = "local"\nout = ""', "c")
    seen = []

    def ready():
        seen.append(sorted(path.name for path in marks.iterdir()))

    done = run_course(
        tmp_path / "executed",
        {"out": str(marks)},
        notebooks=("a.ipynb", "b.ipynb", "c.ipynb"),
        source_dir=tmp_path,
        echo=None,
        registry_ready=ready,
    )

    assert [path.name for path in done] == ["a.ipynb", "b.ipynb", "c.ipynb"]
    assert seen == [["a"]]  # once, after a, before b
    pids = {(marks / name).read_text() for name in "abc"}
    assert len(pids) == 3  # every notebook ran in a fresh kernel of its own


@pytest.fixture(params=["spawned", "forked"])
def forks(request, tmp_path):
    """No template (each kernel a process of its own), or a course run's template to fork kernels from."""
    if request.param == "spawned":
        yield None
        return
    from labhelpers.course.forks import KernelForks

    with KernelForks("pass", tmp_path / "template.log") as template:
        yield template


def test_a_kernel_started_ahead_is_handed_over_only_after_it_ran_its_warm_imports(tmp_path, forks):
    # ipykernel 7.3 can strand a request arriving while it answers another client (ipython/ipykernel#1554):
    # papermill must not connect before the kernel has answered, nor while an answer to us is still to come.
    from labhelpers.course.kernels import AheadKernel
    from labhelpers.foundation.errors import CourseError

    go, mark = tmp_path / "go", tmp_path / "warm-done"
    # the warm imports finish only once the test says so: settle must wait for them, however slow
    warm = f"import time, pathlib\nwhile not pathlib.Path({str(go)!r}).exists(): time.sleep(0.05)\n"
    kernel = AheadKernel(tmp_path, warm_imports=warm + f"pathlib.Path({str(mark)!r}).touch()", forks=forks)
    try:
        with pytest.raises(CourseError, match="did not finish running"):
            kernel.settle(timeout=2)  # the kernel is up by now, still in its start-up lines
        assert not mark.exists()
        go.touch()
        kernel.settle(timeout=60)
        assert mark.exists()
        # the kernel runs the notebook's first request at once: nothing of ours is left in its way
        from jupyter_core.utils import run_sync

        client = kernel.manager.client()
        client.start_channels()
        try:
            run = run_sync(client.execute_interactive)
            reply = run("x = 1", timeout=10, output_hook=lambda message: None)
            assert reply["content"]["status"] == "ok", reply["content"]
        finally:
            client.stop_channels()
    finally:
        kernel.shutdown()


def test_a_kernel_that_never_answers_its_warm_imports_is_a_course_error(tmp_path):
    from labhelpers.course.kernels import AheadKernel
    from labhelpers.foundation.errors import CourseError

    kernel = AheadKernel(tmp_path, warm_imports="import time\ntime.sleep(60)")
    try:
        with pytest.raises(CourseError, match=r"did not finish running .*time.sleep\(60\).* within 1 s"):
            kernel.settle(timeout=1)
    finally:
        kernel.shutdown()


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads the kernel's file descriptors in /proc")
def test_a_kernels_own_output_goes_to_the_log_file_not_the_terminal(tmp_path, forks):
    # ipykernel prints a tornado traceback when it is interrupted on its way out: a learner's terminal and
    # `course run`'s one-line errors must not carry it.
    from labhelpers.course.kernels import AheadKernel

    log = tmp_path / "kernels.log"
    log.write_text("an earlier kernel's line\n")
    kernel = AheadKernel(tmp_path, log=log, warm_imports="pass", forks=forks)
    try:
        from jupyter_client.provisioning import LocalProvisioner  # not in the MLflow 2 environment

        provisioner = kernel.manager.provisioner
        assert isinstance(provisioner, LocalProvisioner)
        pid = provisioner.pid
        for fd in (1, 2):
            assert Path(f"/proc/{pid}/fd/{fd}").resolve() == log.resolve()
    finally:
        kernel.shutdown()
    assert log.read_text().startswith("an earlier kernel's line\n")  # appended to, never truncated


def test_a_template_whose_imports_fail_still_forks_kernels_that_report_it_themselves(tmp_path):
    from labhelpers.course.forks import KernelForks
    from labhelpers.course.kernels import AheadKernel

    log = tmp_path / "kernels.log"
    broken = "import no_such_module_in_this_venv"
    with KernelForks(broken, log) as template:
        kernel = AheadKernel(tmp_path, log=log, warm_imports=broken, forks=template)
        try:
            kernel.settle(timeout=60)  # answers: a failing start-up line is the notebook's to report
        finally:
            kernel.shutdown()
    assert log.read_text().count("No module named 'no_such_module_in_this_venv'") >= 1


def test_a_dead_template_is_a_course_error_naming_its_log(tmp_path):
    from labhelpers.course.forks import KernelForks
    from labhelpers.course.kernels import AheadKernel
    from labhelpers.foundation.errors import CourseError

    log = tmp_path / "kernels.log"
    with KernelForks("pass", log) as template:
        AheadKernel(tmp_path, log=log, warm_imports="pass", forks=template).shutdown()  # it was ready
        template.process.kill()
        template.process.wait()
        with pytest.raises(CourseError, match=r"template process could not fork a kernel: .*kernels\.log"):
            AheadKernel(tmp_path, log=log, warm_imports="pass", forks=template)


def test_a_kernel_that_dies_during_its_warm_imports_is_reported_at_once(tmp_path, forks):
    from labhelpers.course.kernels import AheadKernel
    from labhelpers.foundation.errors import CourseError

    kernel = AheadKernel(
        tmp_path, log=tmp_path / "kernels.log", warm_imports="import os\nos._exit(3)", forks=forks
    )
    try:
        # at once: reported as a death, not as warm imports unanswered once the timeout ran out
        with pytest.raises(
            CourseError, match=r"kernel for a notebook died while it ran .*os._exit\(3\).*kernels\.log"
        ):
            kernel.settle(timeout=300)
    finally:
        kernel.shutdown()


def test_a_bug_while_a_kernel_settles_is_raised_as_itself_and_leaves_no_kernel(tmp_path, monkeypatch):
    import psutil
    from jupyter_client.asynchronous import AsyncKernelClient

    from labhelpers.course.kernels import AheadKernel

    # children this process had already (another test's browser or server, in the same xdist worker)
    before = {child.pid for child in psutil.Process().children()}

    def kernel_info(self):
        raise AttributeError("'NoneType' object has no attribute 'session'")

    monkeypatch.setattr(AsyncKernelClient, "kernel_info", kernel_info)
    kernel = AheadKernel(tmp_path, warm_imports="pass")
    started = [child for child in psutil.Process().children() if child.pid not in before]  # the kernel
    try:
        with pytest.raises(AttributeError, match="no attribute 'session'"):  # not "the kernel died"
            kernel.settle(timeout=60)
    finally:
        kernel.shutdown()  # what the course runner does with every kernel, whatever happened
    assert started and not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


class _Recorded:
    """Stands in for AheadKernel in the runner's bookkeeping tests: records what is done to each kernel."""

    events: list = []
    fail_for: str | None = None

    def __init__(self, cwd, *, log=None, name="a notebook", **kwargs):
        if name == self.fail_for:
            raise RuntimeError(f"no kernel for {name}")
        self.name, self.log = name, log
        self.events.append(("start", name))

    def settle(self, timeout):
        self.events.append(("settle", self.name))

    def shutdown(self):
        self.events.append(("shutdown", self.name))


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    from labhelpers.course import run as course

    for name in "abc":
        _notebook(tmp_path / f"{name}.ipynb", 'out = ""', name)
    _Recorded.events, _Recorded.fail_for = [], None
    monkeypatch.setattr(course, "kernel_forks", lambda log: contextlib.nullcontext())
    monkeypatch.setattr(
        course,
        "start_ahead",
        lambda notebook, log, forks: _Recorded(notebook.parent, log=log, name=notebook.name),
    )
    monkeypatch.setattr(
        course,
        "run_notebook",
        lambda source, *a, **k: _Recorded.events.append(("run", source.name)) or source,
    )
    return lambda: course.run_course(
        tmp_path / "out", {}, notebooks=("a.ipynb", "b.ipynb", "c.ipynb"), source_dir=tmp_path, echo=None
    )


def test_each_kernel_is_settled_before_its_notebook_runs_and_shut_down_after(recorded):
    recorded()
    events = _Recorded.events
    for name in ("a.ipynb", "b.ipynb", "c.ipynb"):
        assert events.index(("start", name)) < events.index(("settle", name)) < events.index(("run", name))
        assert events.index(("run", name)) < events.index(("shutdown", name))
    assert events.index(("start", "b.ipynb")) < events.index(("run", "a.ipynb"))  # started ahead


def test_a_kernel_that_cannot_start_for_the_next_notebook_leaves_no_kernel_running(recorded):
    _Recorded.fail_for = "b.ipynb"
    with pytest.raises(RuntimeError, match="no kernel for b.ipynb"):
        recorded()
    assert ("shutdown", "a.ipynb") in _Recorded.events
    assert ("run", "a.ipynb") not in _Recorded.events  # it failed before a's turn began


def test_a_matplotlib_imported_ahead_has_the_inline_backend_of_a_kernel(tmp_path, monkeypatch):
    # The template imports the course's charts (matplotlib) before any kernel exists; matplotlib chooses its
    # backend on import, so the template must give it the default ipykernel gives a kernel's, or a learner's
    # pyplot in a forked kernel would draw nothing in the notebook.
    from jupyter_core.utils import run_sync

    from labhelpers.course.forks import KernelForks
    from labhelpers.course.kernels import AheadKernel

    monkeypatch.delenv("MPLBACKEND", raising=False)
    backends = {}
    with KernelForks("import matplotlib", tmp_path / "template.log") as template:
        for how, forks in (("spawned", None), ("forked", template)):
            kernel = AheadKernel(tmp_path, warm_imports="import matplotlib", forks=forks)
            try:
                kernel.settle(timeout=60)
                client = kernel.manager.client()
                client.start_channels()
                try:  # read from the reply (shell channel): printed output may be published before we listen
                    reply = run_sync(client.execute_interactive)(
                        "import matplotlib",
                        user_expressions={"backend": "matplotlib.get_backend()"},
                        timeout=30,
                        output_hook=lambda message: None,
                    )
                finally:
                    client.stop_channels()
                backends[how] = reply["content"]["user_expressions"]["backend"]["data"]["text/plain"]
            finally:
                kernel.shutdown()
    inline = "'module://matplotlib_inline.backend_inline'"  # the expression's repr
    assert backends == {"spawned": inline, "forked": inline}
