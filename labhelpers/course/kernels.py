"""The Jupyter kernels the course runs in: this venv's ``python3``, started ahead of their notebook.

Public to ``course.run`` (which hands each kernel to papermill) and to the tests: :data:`KERNEL`,
:data:`KERNEL_ARGUMENTS`, :data:`WARM_IMPORTS`, :func:`kernel_name`, :class:`AheadKernel`,
:func:`kernel_forks` and :func:`start_ahead`.
"""

from __future__ import annotations

import contextlib
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from labhelpers.foundation.errors import CourseError

if TYPE_CHECKING:
    from labhelpers.course.forks import KernelForks

#: The kernel every notebook runs in: this venv's, installed by `make venv`.
KERNEL = "python3"
#: The kernel's own log (plain-TCP notice, shutdown interrupts) is noise to a learner; cell errors still
#: arrive through the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
#: What every notebook imports first: a kernel started ahead imports it while the notebook before runs. With
#: it skops.io, which the first model a notebook saves or loads imports (the course's models are in MLflow's
#: skops format): about 2.4 s, most of it skops listing scikit-learn's public types; and the course's charts
#: (matplotlib: 0.7 s in 01 and in 03).
WARM_IMPORTS = "import mlflow, pandas, sklearn.linear_model, labhelpers, skops.io, labhelpers.course.plots"


def kernel_name() -> str:
    """The Jupyter kernel that runs this very interpreter (``python3`` from this venv).

    Raises:
        CourseError: No ``python3`` kernel, or it belongs to another Python (e.g. a user-wide kernelspec).
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        raise CourseError(
            f"No {KERNEL!r} Jupyter kernel found: run `make venv` (it installs ipykernel)."
        ) from None
    program = spec.argv[0]
    # jupyter_client starts "python"/"python3" kernels with sys.executable
    ours = program in ("python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}")
    if not ours and Path(program).resolve() != Path(sys.executable).resolve():
        raise CourseError(
            f"The {KERNEL!r} kernel ({spec.resource_dir}) runs {program}, not this venv's {sys.executable}; "
            f"remove that kernelspec (`jupyter kernelspec remove {KERNEL}`) or run from its environment."
        )
    return KERNEL


class AheadKernel:
    """A kernel started before its notebook's turn, importing what every notebook imports first as it starts.

    Each notebook still runs in a fresh kernel of its own and executes every one of its cells; the kernel
    only spends the seconds of ``import mlflow`` while the notebook before is running, on the other core. The
    imports are the kernel's own start-up lines (IPython's ``exec_lines``): nothing talks to the kernel until
    :meth:`settle`, so starting one costs the notebook before it no more than spawning a process.

    Args:
        cwd: The kernel's working folder (the notebook's own).
        log: File that the kernel process's own output is appended to (its log, a traceback printed while
            it is stopped); default: this process's terminal. Cell output goes to the notebook either way.
        warm_imports: The code run ahead (its errors go to ``log``: the notebook's cells import the same
            modules and report them).
        name: The notebook it is for, as messages name it.
        forks: The course run's kernel template: the kernel is a fork of it (:mod:`labhelpers.course.forks`);
            default: a process of its own.
    """

    def __init__(
        self,
        cwd: Path,
        *,
        log: Path | None = None,
        warm_imports: str = WARM_IMPORTS,
        name: str = "a notebook",
        forks: KernelForks | None = None,
    ) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.log, self.name, self._warm = log, name, warm_imports
        self._where = f" (its own messages: {log})" if log else ""
        self.manager = AsyncKernelManager(kernel_name=kernel_name())
        if forks is not None:  # a fork of the run's template, which has imported what the notebooks import
            self.manager.kernel_id = str(uuid.uuid4())
            self.manager.provisioner = forks.provisioner(self.manager)
        arguments = [*KERNEL_ARGUMENTS, f"--IPKernelApp.exec_lines={warm_imports}"]  # one line, run whole
        # The kernel process keeps its own copy of the file; a restart would need it open again (the course
        # never restarts a kernel: each notebook gets a fresh one).
        with open(log, "ab") if log else contextlib.nullcontext() as output:
            streams = {"stdout": output, "stderr": output} if output else {}
            run_sync(self.manager.start_kernel)(cwd=str(cwd), extra_arguments=arguments, **streams)

    def settle(self, timeout: float) -> None:
        """Wait until the kernel has run its warm imports and answered one request, then let go of it.

        A kernel answers only once its start-up lines have run. One ``kernel_info`` request, not
        ``wait_for_ready``'s one per second: ipykernel 7.3 can leave a request unread when it arrives while
        the kernel is sending another client's reply (ipython/ipykernel#1554; 7.4 fixes it, but needs Python
        3.11), so papermill's first cell would wait until its timeout behind our queued requests. Once this
        client has its only answer, papermill's client is the only one talking to the kernel.

        Raises:
            CourseError: No answer within ``timeout`` seconds, or the kernel died first.
        """
        import queue

        from jupyter_core.utils import run_sync

        client = self.manager.client()
        # the shell channel alone: a heartbeat thread starting while settle already lets go would race it
        client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)
        deadline = time.monotonic() + timeout
        try:
            request = client.kernel_info()
            while True:
                try:
                    reply = run_sync(client.get_shell_msg)(timeout=min(1.0, max(timeout, 0.01)))
                except queue.Empty:
                    alive = run_sync(self.manager.is_alive)()
                    if alive and time.monotonic() < deadline:
                        continue
                    problem = (
                        f"did not finish running {self._warm!r} within {timeout:.0f} s"
                        if alive
                        else f"died while it ran {self._warm!r}"
                    )
                    raise CourseError(
                        f"The kernel for {self.name} {problem}{self._where}; try the import in a terminal "
                        "with this venv's python."
                    ) from None
                if reply.get("parent_header", {}).get("msg_id") == request:
                    break
        finally:
            client.stop_channels()

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        with contextlib.suppress(Exception):  # already gone: nothing left to stop
            run_sync(self.manager.shutdown_kernel)(now=True)


def kernel_forks(log: Path) -> KernelForks:
    """A course run's kernel template, importing :data:`WARM_IMPORTS` once for all its kernels."""
    from labhelpers.course.forks import KernelForks

    return KernelForks(WARM_IMPORTS, log)


def start_ahead(notebook: Path, log: Path, forks: KernelForks | None = None) -> AheadKernel:
    """A kernel for ``notebook`` in its folder (a fork of ``forks``), its own messages appended to ``log``."""
    return AheadKernel(notebook.parent, log=log, name=notebook.name, forks=forks)
