"""A PostgreSQL server in a folder of the project: the classroom registry's backend store.

PostgreSQL, not SQLite: a cohort writes at once, and SQLite lets one writer in at a time. The cluster lives in
``<classroom>/postgres/data``, listens on 127.0.0.1 only (MLflow is its one client) and requires a password
(scram-sha-256). It runs on the machine's own PostgreSQL binaries (Debian's ``postgresql`` package).

PostgreSQL refuses to run as root. When this process is root, the cluster belongs to an unprivileged user
(``$LAB_PG_USER``, default ``postgres``, which Debian's package creates) and every PostgreSQL program runs as
that user through ``runuser``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labhelpers.foundation.errors import ServerError

PG_USER_ENV = "LAB_PG_USER"
PG_BIN_ENV = "LAB_PG_BIN"
DEFAULT_PG_USER = "postgres"
#: The cluster's superuser, whose password MLflow uses; only 127.0.0.1 may connect.
DB_USER = "mlflow"
DATABASES = ("mlflow", "mlflow_auth")  # the tracking/registry store; basic-auth's users and permissions
_INSTALL_HINT = (
    "Install PostgreSQL (Debian/Ubuntu: `apt-get install -y postgresql`), or set "
    f"{PG_BIN_ENV} to the folder holding initdb and pg_ctl."
)


@dataclass(frozen=True)
class Cluster:
    """One PostgreSQL cluster: its folder, port, binaries and the account it runs as (None: ourselves)."""

    root: Path
    port: int
    bin_dir: Path
    run_as: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    def uri(self, password: str, database: str = DATABASES[0]) -> str:
        """SQLAlchemy URI; ``+psycopg2``: with SQLAlchemy 2.1 plain ``postgresql://`` picks psycopg 3, and
        MLflow 3.15's get_model_version then fails (integer = character varying), breaking every tag write.
        """
        return f"postgresql+psycopg2://{DB_USER}:{password}@127.0.0.1:{self.port}/{database}"


def find_binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl``: ``$LAB_PG_BIN`` alone if set, else PATH, else Debian's newest.

    Raises:
        ServerError: No PostgreSQL binaries were found (the message says how to install them).
    """
    explicit = os.environ.get(PG_BIN_ENV)
    if explicit:  # the instructor's choice is the only place looked at
        candidates = [Path(explicit)]
    else:
        on_path = shutil.which("pg_ctl")
        debian = glob.glob("/usr/lib/postgresql/*/bin")
        debian.sort(
            key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0, reverse=True
        )
        candidates = ([Path(on_path).parent] if on_path else []) + [Path(p) for p in debian]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    where = f" in {explicit}" if explicit else ""
    raise ServerError(f"No PostgreSQL binaries (initdb, pg_ctl) found{where}. {_INSTALL_HINT}")


def service_user() -> str | None:
    """The account PostgreSQL runs as: None (this process's own) unless we are root.

    Raises:
        ServerError: We are root and the unprivileged account does not exist.
    """
    if os.geteuid() != 0:
        return None
    import pwd

    name = os.environ.get(PG_USER_ENV) or DEFAULT_PG_USER
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ServerError(
            f"PostgreSQL refuses to run as root, and the account {name!r} to run it as does not exist. "
            f"Create it (`useradd --system --no-create-home --shell /usr/sbin/nologin {name}`), or set "
            f"{PG_USER_ENV} to an existing unprivileged account."
        ) from None
    if shutil.which("runuser") is None:
        raise ServerError("Running PostgreSQL as root needs `runuser` (util-linux) to switch accounts.")
    return name


def cluster(root: Path, port: int) -> Cluster:
    """The cluster in ``root`` on ``port``, with binaries and account checked (nothing is started).

    Raises:
        ServerError: No binaries, no unprivileged account (as root), or the account cannot reach ``root``.
    """
    found = Cluster(root.resolve(), port, find_binaries(), service_user())
    if found.run_as:
        _check_reachable(found.run_as, found.root)
    return found


def _check_reachable(user: str, root: Path) -> None:
    """The service account must pass through every folder above its cluster (root's 0700 homes block it)."""
    existing = root
    while not existing.exists():
        existing = existing.parent
    folder = existing
    probe = subprocess.run(["runuser", "-u", user, "--", "test", "-x", str(folder)], capture_output=True)
    if probe.returncode != 0:
        raise ServerError(
            f"PostgreSQL runs as {user!r} (it refuses root), and {user!r} cannot enter {folder}. Put the "
            f"classroom folder where {user!r} can reach it (`chmod o+x` on the folders above it), or "
            "set LAB_CLASSROOM_HOME to such a place."
        )


def _command(c: Cluster, program: str, *args: str) -> list[str]:
    command = [str(c.bin_dir / program), *args]
    return ["runuser", "-u", c.run_as, "--", *command] if c.run_as else command


def _run(c: Cluster, program: str, *args: str, timeout: float = 120) -> None:
    done = subprocess.run(
        _command(c, program, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=c.root,  # runuser keeps the working folder; the service user must be able to enter it
    )
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-8:]
        raise ServerError(f"PostgreSQL {program} failed (exit {done.returncode}):\n" + "\n".join(tail))


def _hand_over(c: Cluster, path: Path) -> None:
    """Give ``path`` to the service account (root only); PostgreSQL insists on owning its data folder."""
    if c.run_as:
        import pwd

        entry = pwd.getpwnam(c.run_as)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def initialise(c: Cluster, password: str) -> bool:
    """Create the cluster once (``initdb``); False when it exists already.

    Args:
        c: The cluster.
        password: The superuser's password (scram-sha-256; local TCP connections only).

    Returns:
        True when this call created the cluster.
    """
    if (c.data / "PG_VERSION").is_file():
        return False
    c.root.mkdir(parents=True, exist_ok=True)
    _hand_over(c, c.root)
    secret = c.root / "initdb.pw"
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(password + "\n")
    _hand_over(c, secret)
    try:
        _run(
            c, "initdb", "-D", str(c.data), "-U", DB_USER, f"--pwfile={secret}", "--auth=scram-sha-256",
            "--encoding=UTF8", "--locale=C", "--no-instructions",
        )  # fmt: skip
    finally:
        secret.unlink(missing_ok=True)
    return True


def postmaster_pid(c: Cluster) -> int | None:
    """The pid of the running postmaster, or None (no pid file, or its process is gone).

    A postmaster killed a moment ago (SIGKILL, a crash) can still be a zombie until its parent reaps it: it
    holds its pid but serves nothing, so it counts as gone and ``start`` starts the cluster again.
    """
    import psutil

    try:
        pid = int((c.data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return None
    except psutil.NoSuchProcess:
        return None
    except psutil.AccessDenied:
        pass  # alive, owned by the service account
    return pid


def _orphans(c: Cluster) -> list[int]:
    """Live processes still working in the cluster's folder: the backends of a postmaster that was killed."""
    import psutil

    found = []
    for process in psutil.process_iter(["name"]):
        with contextlib.suppress(psutil.Error):
            working = process.info["name"] == "postgres" and process.status() != psutil.STATUS_ZOMBIE
            if working and Path(process.cwd()).resolve() == c.data.resolve():
                found.append(process.pid)
    return found


def _clear_after_a_kill(c: Cluster, timeout: float) -> None:
    """Make a cluster whose postmaster was killed (SIGKILL, a crash) startable again.

    Its backends notice the death within moments and exit; until then they hold the shared memory and a new
    postmaster refuses to start ("pre-existing shared memory block is still in use"), so wait for them. The
    dead postmaster's pid file stays behind, and where nothing reaps the dead process (a container whose first
    process reaps no zombies) its pid still answers: the new postmaster would take the file for a running
    server's. ``postmaster_pid`` already found it gone, so the file is stale: remove it.
    """
    import time

    deadline = time.monotonic() + timeout
    while _orphans(c) and time.monotonic() < deadline:
        time.sleep(0.5)
    with contextlib.suppress(FileNotFoundError):
        (c.data / "postmaster.pid").unlink()


def start(c: Cluster, timeout: float = 60) -> int:
    """Start the cluster (no-op when it runs) and return the postmaster's pid.

    Raises:
        ServerError: It did not start; the message holds pg_ctl's error and the log file to read.
    """
    running = postmaster_pid(c)
    if running:
        return running
    _clear_after_a_kill(c, timeout)
    _hand_over(c, c.root)
    options = (
        f"-c listen_addresses=127.0.0.1 -p {c.port} -c unix_socket_directories='' -c max_connections=200"
    )
    with contextlib.suppress(FileNotFoundError):
        _hand_over(c, c.log)
    try:
        _run(
            c,
            "pg_ctl",
            "-D",
            str(c.data),
            "-l",
            str(c.log),
            "-w",
            "-t",
            str(int(timeout)),
            "-o",
            options,
            "start",
            timeout=timeout + 10,
        )
    except ServerError as error:
        raise ServerError(f"{error}\nSee {c.log}.") from None
    pid = postmaster_pid(c)
    if pid is None:
        raise ServerError(f"PostgreSQL started and stopped again; see {c.log}.")
    return pid


def stop(c: Cluster, timeout: float = 30) -> bool:
    """Stop the cluster ("fast": open transactions roll back); False when it was not running."""
    if postmaster_pid(c) is None:
        return False
    _run(c, "pg_ctl", "-D", str(c.data), "-m", "fast", "-w", "-t", str(int(timeout)), "stop")
    return True


def ensure_databases(c: Cluster, password: str) -> None:
    """Create the MLflow and basic-auth databases where missing."""
    import psycopg2

    connection = psycopg2.connect(
        host="127.0.0.1", port=c.port, user=DB_USER, password=password, dbname="postgres", connect_timeout=10
    )
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            for name in DATABASES:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
