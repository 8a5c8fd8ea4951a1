"""The Jupyter kernels the course runs in: this venv's ``python3``, started ahead of their notebook.

Public to ``course.run`` (which hands each kernel to papermill) and to the tests: :data:`KERNEL`,
:data:`KERNEL_ARGUMENTS`, :data:`WARM_IMPORTS`, :func:`kernel_name`, :class:`AheadKernel` and
:func:`start_ahead`.
"""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from labhelpers.core.errors import CourseError

#: The kernel every notebook runs in: this venv's, installed by `make venv`.
KERNEL = "python3"
#: The kernel's own log (plain-TCP notice, shutdown interrupts) is noise to a learner; cell errors still
#: arrive through the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
#: What every notebook imports first: a kernel started ahead imports it while the notebook before runs.
WARM_IMPORTS = "import mlflow, pandas, sklearn.linear_model, labhelpers"


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
    """A kernel started before its notebook's turn, already importing what every notebook imports first.

    Each notebook still runs in a fresh kernel of its own and executes every one of its cells; the kernel
    only spends the seconds of ``import mlflow`` while the notebook before is running, on the other core.

    Args:
        cwd: The kernel's working folder (the notebook's own).
        log: File that the kernel process's own output is appended to (its log, a traceback printed while
            it is stopped); default: this process's terminal. Cell output goes to the notebook either way.
        startup_timeout: Seconds the kernel may take to answer its first request.
        warm_imports: The code run ahead.
        name: The notebook it is for, as messages name it.

    Raises:
        CourseError: The kernel did not answer within ``startup_timeout`` (it is stopped).
    """

    def __init__(
        self,
        cwd: Path,
        *,
        log: Path | None = None,
        startup_timeout: float = 60,
        warm_imports: str = WARM_IMPORTS,
        name: str = "a notebook",
    ) -> None:
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        self.log, self.name, self._warm = log, name, warm_imports
        self._where = f" (its own messages: {log})" if log else ""
        self.manager = AsyncKernelManager(kernel_name=kernel_name())
        # The kernel process keeps its own copy of the file; a restart would need it open again (the course
        # never restarts a kernel: each notebook gets a fresh one).
        with open(log, "ab") if log else contextlib.nullcontext() as output:
            streams = {"stdout": output, "stderr": output} if output else {}
            run_sync(self.manager.start_kernel)(cwd=str(cwd), extra_arguments=KERNEL_ARGUMENTS, **streams)
        self._client = self.manager.client()
        self._client.start_channels()
        try:
            run_sync(self._client.wait_for_ready)(timeout=startup_timeout)
            self._warm_id = self._client.execute(warm_imports, silent=True, store_history=False)
        except (RuntimeError, TimeoutError) as error:  # jupyter_client: no answer in time, or the kernel died
            self.shutdown()
            raise CourseError(
                f"The Jupyter kernel for {name} did not start: {error}{self._where}. Check that this venv's "
                "python starts (`make venv` rebuilds it)."
            ) from None
        except BaseException:  # a bug (or Ctrl-C) is raised as it is, with no kernel left behind
            self.shutdown()
            raise

    def settle(self, timeout: float) -> None:
        """Wait until the kernel has answered its warm imports, then let go of it (before papermill connects).

        ipykernel 7.3 can leave a request unread when it arrives while the kernel is sending another
        client's reply (ipython/ipykernel#1554; 7.4 fixes it, but needs Python 3.11): papermill's first
        cell would then wait until its timeout. Once this client has its answer, papermill's client is the
        only one talking to the kernel. Whether the imports succeeded does not matter here: the notebook's
        own cells import the same modules and report any error themselves.

        Raises:
            CourseError: No answer within ``timeout`` seconds, or the kernel died first.
        """
        import queue

        from jupyter_core.utils import run_sync

        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    reply = run_sync(self._client.get_shell_msg)(timeout=1.0)
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
                if reply.get("parent_header", {}).get("msg_id") == self._warm_id:
                    break
        finally:
            self._client.stop_channels()

    @property
    def connected(self) -> bool:
        """Whether this object's own client still talks to the kernel (False once :meth:`settle` let go)."""
        return bool(self._client.channels_running)

    def shutdown(self) -> None:
        from jupyter_core.utils import run_sync

        self._client.stop_channels()
        with contextlib.suppress(Exception):  # already gone: nothing left to stop
            run_sync(self.manager.shutdown_kernel)(now=True)


def start_ahead(notebook: Path, log: Path) -> AheadKernel:
    """A kernel for ``notebook``, started in its folder, its own messages appended to ``log``."""
    return AheadKernel(notebook.parent, log=log, name=notebook.name)
