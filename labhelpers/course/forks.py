"""Kernels forked from one warm process: a course run imports MLflow, pandas and scikit-learn once.

Each notebook of a course run gets a fresh kernel, and each kernel used to spend about 4.6 s of CPU importing
what every notebook imports first (:data:`labhelpers.course.kernels.WARM_IMPORTS`). :class:`KernelForks`
starts one Python, the *template*, that imports it once and then waits; each kernel is a fork of it. The
fork becomes the kernel jupyter_client asked for, as ``python -m ipykernel_launcher`` would: its own session,
the notebook's folder first on ``sys.path`` and as its working folder, the environment jupyter_client built,
the connection file it wrote, stdout and stderr where a spawned kernel's would go. Nothing of the notebook
has run in the template: every notebook still starts from a clean interpreter state, only with the modules
already imported (as the warm imports left it before).

:class:`ForkedProvisioner` is the jupyter_client side: a ``LocalProvisioner`` whose process is a fork. The
template reaps the forks and reports each one's exit status on the connection that asked for it; signals go
to the fork's own process group, as jupyter_client sends them to a spawned kernel's.

A fork ends with ``os._exit``: the course runner stops each kernel with SIGKILL
(``shutdown_kernel(now=True)``), so no kernel of a course run ever ran its exit handlers, and a fork must not
run the template's.

The template runs with the course runner's environment (its ``LAB_*`` and ``MLFLOW_*`` variables included) and
stops when the run ends or its parent dies. ``python -m labhelpers.course.forks SOCKET WARM_IMPORTS`` is the
template's entry point. POSIX only, as the local server is.

May import: the standard library, jupyter_client and ipykernel, and (in the template) what the notebooks
import first.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner

from labhelpers.foundation.errors import CourseError

#: The largest request (the kernel's command line and its environment), bytes.
REQUEST_BYTES = 1 << 20
#: Seconds the template may take to import before the first fork is refused.
READY_TIMEOUT = 120.0


class KernelForks:
    """The template process of one course run, and the kernels forked from it.

    Args:
        warm_imports: What the template imports (a line of Python), once for every kernel.
        log: File the template's own output is appended to (and, by default, each fork's).
    """

    def __init__(self, warm_imports: str, log: Path | None = None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="lab-kernels-"))
        self.socket_path = self.folder / "template.sock"
        self.log = log
        with open(log, "ab") if log else contextlib.nullcontext() as output:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "labhelpers.course.forks", str(self.socket_path), warm_imports],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
            )

    def fork(self, command: list[str], env: dict[str, str], cwd: str | None, streams: list[int]) -> Fork:
        """A fork of the template that runs ``command`` (``python -m ipykernel_launcher -f FILE ...``).

        Raises:
            CourseError: The template died or did not get ready within :data:`READY_TIMEOUT` seconds.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.socket_path.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                where = f" (its messages: {self.log})" if self.log else ""
                raise CourseError(
                    f"The kernels' template process did not start{where}; run `make venv` and try again."
                )
            time.sleep(0.05)
        connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        request = {"command": command, "env": env, "cwd": cwd or os.getcwd()}
        try:
            connection.connect(str(self.socket_path))
            socket.send_fds(connection, [json.dumps(request).encode()], streams)
            reply = json.loads(connection.recv(REQUEST_BYTES) or b"{}")
        except OSError as error:  # the template died after it got ready
            reply = {"error": f"{error} (its messages: {self.log})" if self.log else str(error)}
        if "pid" not in reply:
            connection.close()
            raise CourseError(f"The kernels' template process could not fork a kernel: {reply.get('error')}")
        return Fork(reply["pid"], connection)

    def provisioner(self, manager: Any) -> ForkedProvisioner:
        """The provisioner that makes ``manager``'s kernel a fork of this template."""
        made = ForkedProvisioner(kernel_id=manager.kernel_id, kernel_spec=manager.kernel_spec, parent=manager)
        made.forks = self
        return made

    def close(self) -> None:
        """Stop the template (its forks are processes of their own, stopped by their kernel managers)."""
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)  # the socket, if the template got that far

    def __enter__(self) -> KernelForks:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Fork:
    """A forked kernel, as jupyter_client's provisioner uses a ``subprocess.Popen``.

    Its exit status arrives on ``connection`` once the template has reaped it.
    """

    stdin = stdout = stderr = None

    def __init__(self, pid: int, connection: socket.socket) -> None:
        self.pid, self.connection = pid, connection
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.connection.setblocking(False)
            try:
                message = self.connection.recv(REQUEST_BYTES)
            except BlockingIOError:
                return None
            # the status, or the template gone without one (then the kernel went with it: -SIGKILL)
            self.returncode = json.loads(message)["exit"] if message else -signal.SIGKILL
            self.connection.close()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            time.sleep(0.05)
        return code

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkedProvisioner(LocalProvisioner):
    """jupyter_client's local provisioner, its kernel a fork of a :class:`KernelForks` template."""

    forks: KernelForks

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        streams = [
            _fd(kwargs.get("stdin"), os.O_RDONLY),
            _fd(kwargs.get("stdout"), os.O_WRONLY),
            _fd(kwargs.get("stderr"), os.O_WRONLY),
        ]
        try:
            fork = self.forks.fork(cmd, dict(kwargs.get("env") or os.environ), kwargs.get("cwd"), streams)
        finally:
            for fd in streams:
                os.close(fd)
        self.process = fork  # type: ignore[assignment]  # all the provisioner uses of a Popen, Fork has
        self.pid = self.pgid = fork.pid  # the fork leads its own session and process group
        self.cwd = kwargs.get("cwd", os.getcwd())
        return self.connection_info


def _fd(stream: Any, mode: int) -> int:
    """A file descriptor of our own for ``stream`` (a file object, a descriptor, or None: /dev/null)."""
    if stream is None or stream in (subprocess.PIPE, subprocess.DEVNULL):
        return os.open(os.devnull, mode)
    return os.dup(stream if isinstance(stream, int) else stream.fileno())


# --- the template process ---------------------------------------------------------------------------------


def serve(socket_path: str, warm_imports: str) -> None:
    """Import ``warm_imports``, then fork a kernel for each request on ``socket_path`` until told to stop.

    An import that fails is printed (to the run's kernel log) and the template serves all the same: each
    kernel runs the same lines again, and the notebook's own import cell reports the error, as it would in a
    kernel of its own.
    """
    # ipykernel sets this default before a kernel runs any code (IPKernelApp.init_gui_pylab), and matplotlib
    # reads it once, on import: set here, a matplotlib the template imports has a kernel's inline backend
    if not os.environ.get("MPLBACKEND"):
        os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        exec(warm_imports, {})  # noqa: S102 - the course's own import line, as the kernels' exec_lines ran it
    except Exception:  # a broken install: reported again by the notebook that imports it
        import traceback

        traceback.print_exc()
    from ipykernel import kernelapp  # noqa: F401 - the kernel itself, imported once here

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(socket_path + ".new")
    listener.listen(16)
    os.rename(socket_path + ".new", socket_path)  # the path appears once the template can fork
    reaped_r, reaped_w = os.pipe()
    os.set_blocking(reaped_w, False)
    signal.set_wakeup_fd(reaped_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the selector through the wakeup fd
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    parent = os.getppid()
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    selector.register(reaped_r, selectors.EVENT_READ)
    kernels: dict[int, socket.socket] = {}
    while os.getppid() == parent:  # the course run that started us is gone: so are we
        for key, _ in selector.select(timeout=1.0):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                others = [listener.fileno(), reaped_r, reaped_w, *(k.fileno() for k in kernels.values())]
                pid = _fork_one(connection, others)
                if pid is not None:
                    kernels[pid] = connection
            else:
                os.read(reaped_r, 4096)
        _reap(kernels)


def _fork_one(connection: socket.socket, close_in_kernel: list[int]) -> int | None:
    message, fds, _, _ = socket.recv_fds(connection, REQUEST_BYTES, 3)
    try:
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_kernel(request, fds, close_in_kernel + [connection.fileno()])
    except Exception as error:  # a bad request: answered, and the template goes on serving the run
        connection.sendall(json.dumps({"error": repr(error)}).encode())
        connection.close()
        return None
    finally:
        for fd in fds:
            os.close(fd)
    connection.sendall(json.dumps({"pid": pid}).encode())
    return pid


def _reap(kernels: dict[int, socket.socket]) -> None:
    while kernels:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = kernels.pop(pid, None)
        if connection is not None:
            with contextlib.suppress(OSError):  # its manager already let go
                connection.sendall(json.dumps({"exit": os.waitstatus_to_exitcode(status)}).encode())
            connection.close()


def _become_kernel(request: dict, fds: list[int], close: list[int]) -> None:
    """In the fork: turn into ``python -m ipykernel_launcher ...`` as jupyter_client asked. Never returns."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the template's handlers, back to Python's defaults
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in [*fds, *close]:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        command = request["command"]
        module = command[command.index("-m") + 1]
        sys.argv = [module, *command[command.index("-m") + 2 :]]
        sys.path[0] = request["cwd"]  # as `python -m` puts the working folder first
        import numpy

        numpy.random.seed()  # the template's random state is not shared between notebooks
        from ipykernel import kernelapp

        kernelapp.launch_new_instance()
        code = 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


if __name__ == "__main__":
    serve(sys.argv[1], sys.argv[2])
