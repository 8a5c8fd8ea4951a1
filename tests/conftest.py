"""Shared fixtures: generated trip files, cleaned frames, trained outputs and one local MLflow server."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import warnings
from pathlib import Path

import pytest

from labhelpers.foundation.config import free_port as _free_port

# The lab never sends usage telemetry (no network but the package registries), in tests either.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

from labhelpers.data.sample import write_sample

#: Each test folder is one tier; its marker is applied here, so `-m unit` selects exactly tests/unit/.
TIERS = {
    "adversarial": "adversarial",
    "unit": "unit",
    "integration/local_server": "server",
    "integration/registry": "registry",
    "integration/classroom": "classroom",
    "scripts": "scripts",
    "notebooks": "notebooks",
}


def pytest_collection_modifyitems(config, items):
    tests_root = Path(__file__).parent
    for item in items:
        relative = Path(item.path).relative_to(tests_root).as_posix()
        for folder, marker in TIERS.items():
            if relative.startswith(folder + "/"):
                item.add_marker(getattr(pytest.mark, marker))
                break


#: `make test` runs on two pytest-xdist workers (``-n 2 --dist loadgroup``). A module- or session-scoped
#: fixture runs once in EACH worker that asks for it, so the tests that share an expensive one (a server, a
#: course run, a JupyterLab, a classroom) form one group and run on one worker. Groups are named here by
#: node-id prefix under tests/ (a folder, a file, or a file's tests by name; the longest prefix wins), not by
#: ``xdist_group`` marks: pytest 9.2's node ids lose the "@group" suffix xdist 3.8 relies on
#: (pytest-dev/pytest-xdist#1386), so the scheduler below reads this table. A tier that starts its own server
#: (e.g. a classroom for tests/adversarial/) gets one entry for its folder.
GROUPS = {
    # one classroom server (PostgreSQL + MLflow) for the classroom tier and the adversarial tier
    "integration/classroom/": "classroom",
    "adversarial/": "classroom",
    "integration/local_server/test_local_server.py": "server-module",  # its module server
    "notebooks/test_course.py": "course",  # the course's and nbval's servers, the first course run
    # ... but not the tests that need none of the module's fixtures: each is a unit of its own (None)
    "notebooks/test_course.py::test_notebooks_are_clean": None,
    "notebooks/test_course.py::test_the_notebooks_show": None,
    "notebooks/test_course.py::test_bad_input_stops_at_the_first_cell_that_needs_it[missing": None,
    "notebooks/test_course.py::test_bad_input_stops_at_the_first_cell_that_needs_it[unreachable": None,
    "notebooks/test_course.py::test_a_notebook_run_too_early": None,
    "notebooks/test_course.py::test_course_command": None,
    "notebooks/test_course.py::test_unknown_parameter_names": None,
    "notebooks/test_jupyterlab.py": "jupyterlab",  # one JupyterLab and its server
    "notebooks/test_browser.py": "mlflow-ui",  # its registered server
}
#: Deadlines (pytest-timeout, seconds) above the default ([tool.pytest.ini_options] timeout), by the same
#: prefixes; fixture setup counts: a module's first test pays for its server, course run or JupyterLab.
TIMEOUTS = {
    "integration/classroom/": 1200,
    "adversarial/": 1200,
    "notebooks/test_course.py": 1500,
    "notebooks/test_jupyterlab.py": 2400,  # five notebooks with Run All, 900 s allowed for each
    "notebooks/test_browser.py": 900,
}


def _by_prefix(table: dict, nodeid: str):
    """The value of ``table``'s longest key that ``nodeid`` (relative to tests/) starts with, or None."""
    keys = [key for key in table if nodeid.startswith(key)]
    return table[max(keys, key=len)] if keys else None


def pytest_itemcollected(item):
    deadline = _by_prefix(TIMEOUTS, item.nodeid.removeprefix("tests/"))
    if deadline is not None and item.get_closest_marker("timeout") is None:
        item.add_marker(pytest.mark.timeout(deadline))


def pytest_xdist_make_scheduler(config, log):
    """``--dist loadgroup``: each group of GROUPS is one unit of work, every other test a unit of its own."""
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByGroup(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return _by_prefix(GROUPS, nodeid.removeprefix("tests/")) or nodeid

    return ByGroup(config, log)


def ci_requires_every_tier(environ=os.environ) -> bool:
    """Whether this run is CI's (``CI=true``, as GitHub Actions, GitLab and most runners set it)."""
    return environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _tier_unavailable(reason: str, environ=os.environ):
    """A tier this machine cannot run: skip it with ``reason``; under ``CI=true`` fail with that one line.

    CI must not pass with a tier it never ran (no chromium, no PostgreSQL): there a skip would hide it.
    """
    if ci_requires_every_tier(environ):
        pytest.fail(f"CI=true and this tier cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tier_unavailable():
    """``tier_unavailable(reason)``: skip on a developer's machine, a one-line failure under ``CI=true``."""
    return _tier_unavailable


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium under Playwright, one for the whole session (each test opens its own context)."""
    from tools.screenshots import chromium_path, open_browser

    if chromium_path() is None:
        _tier_unavailable("no chromium on PATH: install Debian's (apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        _tier_unavailable("Playwright is not installed: run `make venv` (the dev extra pins it)")
    with open_browser() as launched:
        yield launched


def _port_free(port: int) -> bool:
    """Whether nothing listens on ``port`` of 127.0.0.1 (a connection attempt is refused)."""
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture(scope="session")
def free_port():
    """``free_port()`` gives a TCP port on 127.0.0.1 that nothing listens on at the moment of the call."""
    return _free_port


@pytest.fixture(scope="session")
def port_free():
    """``port_free(port)`` tells whether nothing listens on that port of 127.0.0.1."""
    return _port_free


def _process_group(pgid: int) -> list:
    """Every live (not zombie) process in group ``pgid``, whatever its command line.

    A process still freeing its memory on the way out (no command line, state "running") is live: a stop
    that returns then has not waited for it, and tests say so.
    """
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (OSError, psutil.Error):
            continue  # ended while we looked
    return found


@pytest.fixture(scope="session")
def process_group():
    """``process_group(pgid)``: the group's live processes as ``ps -g`` lists them, not as labhelpers does."""
    return _process_group


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory):
    """A 6,000-row generated yellow-taxi CSV in the Azure Open Datasets schema (dirty rows included)."""
    return write_sample(tmp_path_factory.mktemp("data") / "trips.csv", n_rows=6000, seed=11)


@pytest.fixture(scope="session")
def clean_frame(sample_csv):
    """The sample loaded, normalised and cleaned with coordinates required (usable by both steps)."""
    from labhelpers.data.cleaning import clean_trips
    from labhelpers.data.load import load_trips

    frame, _ = clean_trips(load_trips(sample_csv, progress=False).frame, require_coordinates=True)
    return frame


def _migrated_database(folder: Path) -> Path:
    """An empty registry database with MLflow's whole schema, as a server's first start leaves it."""
    import mlflow

    final = folder / f"mlflow-{mlflow.__version__}.db"
    if final.exists():
        return final
    building = folder / f"building-{os.getpid()}"
    building.mkdir()
    uri = f"sqlite:///{(building / 'mlflow.db').as_posix()}"
    # The artifact root `mlflow server --serve-artifacts` gives its stores (experiment 0: mlflow-artifacts:/0)
    with warnings.catch_warnings():  # SQLAlchemy's deprecation notes on MLflow's mappers: MLflow's to act on
        warnings.simplefilter("ignore", DeprecationWarning)
        from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore

        stores = (TrackingStore(uri, "mlflow-artifacts:/"), RegistryStore(uri))
    for store in stores:
        store.engine.dispose()  # every connection closed: the file is complete
    os.replace(building / "mlflow.db", final)  # atomic: another worker finds the whole file or none
    return final


@pytest.fixture(scope="session")
def seeded_state(tmp_path_factory):
    """``seeded_state(folder)``: ``folder`` with a copy of one migrated database, for a server to start on.

    A fresh SQLite database costs every new server MLflow's whole migration chain (seconds); the template is
    migrated once per run (shared by the xdist workers) and copied. The local server's own first start on an
    empty folder is tested in tests/integration/local_server.
    """
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's temporary folder lies in the run's own one: the workers share the template.
    template = _migrated_database(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)

    def seed(folder: Path) -> Path:
        import shutil

        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, folder / "mlflow.db")
        return folder

    return seed


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory, seeded_state):
    """One real local MLflow server for the whole session, on a free port with its own state folder.

    Tests that write to it use their own model names (see ``unique_names``), so they never collide.
    """
    from labhelpers.local_server import control as local_server
    from labhelpers.tracking.connection import configure_client_timeouts

    port = _free_port()
    state = seeded_state(tmp_path_factory.mktemp("mlflow-state"))
    info = local_server.start(port, state, timeout=180)  # generous: CI machines can be loaded
    configure_client_timeouts()
    yield info
    local_server.stop(port, state)


@pytest.fixture(scope="session")
def azure_rules(mlflow_server):
    """The Azure-rules stand-in (labhelpers.azure.mlflow_api.rules) in front of the session server.

    Its ``uri`` is a registry that refuses what Azure ML refuses; ``refused`` lists every refusal so far.
    """
    from labhelpers.azure.mlflow_api.rules import AzureRulesProxy

    with AzureRulesProxy(mlflow_server.uri) as proxy:
        yield proxy


@pytest.fixture
def tracking_uri(mlflow_server, monkeypatch):
    """The session server's URI, exported as MLFLOW_TRACKING_URI for the test (and its subprocesses)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    import mlflow

    mlflow.set_tracking_uri(mlflow_server.uri)
    mlflow.set_registry_uri(mlflow_server.uri)
    return mlflow_server.uri


@pytest.fixture
def unique_names(request):
    """Registered names unique to this test: {"linear": ..., "ridge": ..., "kmeans": ...}."""
    import uuid

    tag = uuid.uuid4().hex[:8]
    return {key: f"test-{key}-{tag}" for key in ("linear", "ridge", "kmeans")}


@pytest.fixture(scope="session")
def trained_dirs(sample_csv, tmp_path_factory):
    """Both training steps run once on the small sample: (supervised_dir, unsupervised_dir)."""
    from labhelpers.training.steps import run_supervised, run_unsupervised

    root = tmp_path_factory.mktemp("trained")
    run_supervised(sample_csv, root / "supervised")
    run_unsupervised(sample_csv, root / "unsupervised", silhouette_sample=2000)
    return root / "supervised", root / "unsupervised"


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every outgoing TCP connection attempt, recorded (and still made)."""
    made: list = []
    original = socket.socket.connect

    def connect(self, address):
        made.append(address)
        return original(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return made


# --- The classroom server: one per session, shared by the classroom tier and the adversarial tier. Its folder
# is made outside pytest's temporary tree: PostgreSQL runs as an unprivileged account when the tests run as
# root, and that account cannot enter pytest's 0700 folders.

#: The small cohort of `make test` (the benchmark runs 30).
LEARNERS = [f"learner-{n}" for n in range(1, 9)]
SPARE = ["spare-a", "spare-b"]  # accounts the load test leaves alone (progress, reset)
COURSEWORK = "coursework"  # the account that runs the course notebooks (test_course_as_learner.py)
ATTACKER, VICTIM = "alice", "bob"  # the adversarial tier's two learners (tests/adversarial)


def _needs_postgres(tier_unavailable):
    from labhelpers.classroom import postgres
    from labhelpers.foundation.errors import ServerError

    try:
        postgres.find_binaries()
        postgres.service_user()
    except ServerError as missing:
        tier_unavailable(f"no usable PostgreSQL here: {missing}")


@pytest.fixture(scope="session")
def classroom_root():
    """A fresh folder every account can traverse (removed after the session)."""
    root = Path(tempfile.mkdtemp(prefix="lab-classroom-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def classroom(classroom_root, free_port, tier_unavailable):
    """The started classroom: ``(settings, record, credentials)``; stopped at the end of the session."""
    _needs_postgres(tier_unavailable)
    from labhelpers.classroom import stack
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials

    roster = classroom_root / "roster-input.txt"
    accounts = [*LEARNERS, *SPARE, COURSEWORK, ATTACKER, VICTIM]
    roster.write_text("# the test cohort\n" + "\n".join(accounts) + "\n")
    s = stack.settings(classroom_root / "state", "127.0.0.1", free_port(), free_port())
    record = stack.start(s, roster, timeout=240)
    yield s, record, load_credentials(s.root / CREDENTIALS_FILE)
    stack.stop(s.root)


@pytest.fixture
def as_learner(classroom, monkeypatch):
    """``as_learner(name)`` exports that account's credentials and certificate for this test."""
    from labhelpers.tracking.connection import configure_client_timeouts

    s, record, credentials = classroom
    configure_client_timeouts()

    def sign_in(user: str) -> str:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", record["uri"])
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", credentials.password(user))
        monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", record["cert"])
        return record["uri"]

    yield sign_in
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def cohort():
    """The learners the load test drives (the spare accounts stay untouched)."""
    return list(LEARNERS)


@pytest.fixture(scope="session")
def spare():
    """Accounts no load touches."""
    return list(SPARE)


@pytest.fixture(scope="session")
def coursework():
    """The account that runs the course notebooks; no load touches it."""
    return COURSEWORK


@pytest.fixture(scope="session")
def validation_csv(tmp_path_factory):
    """A small generated month the promotion gates score (generated once, not per promotion)."""
    from labhelpers.data.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("validation") / "trips.csv", n_rows=3000, seed=29)


@pytest.fixture
def no_signed_in_user(classroom, monkeypatch):
    """No credentials in the environment (each simulated learner brings its own), the certificate trusted."""
    _, record, _ = classroom
    for name in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_URI",
        "LAB_LEARNER",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", record["cert"])
    return record


@pytest.fixture(scope="session")
def make_httpserver():
    """pytest-httpserver's server for the session, on 127.0.0.1 (no name lookup) and threaded: a test's
    handler that never answers in time holds one thread, never the server. Each test gets it cleared as the
    ``httpserver`` fixture (its expectations and its ``log`` of requests are the test's own)."""
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def added_options(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every option a parser adds during the test, as ``(prog, action)``, in order.

    argparse's public ``ArgumentParser.add_argument`` returns the ``Action`` it adds: recording its calls
    lets a test read every command's options (``-h`` included, one per parser) without argparse's private
    ``_actions``. Build the parser after asking for this fixture.
    """
    import argparse

    added: list = []
    original = argparse.ArgumentParser.add_argument

    def add_argument(self, *args, **kwargs):
        action = original(self, *args, **kwargs)
        added.append((self.prog, action))
        return action

    monkeypatch.setattr(argparse.ArgumentParser, "add_argument", add_argument)
    return added


# --- CI refuses a skip -------------------------------------------------------------------------------------
# pytester runs a pytest session inside a test (tests/unit/project/test_ci_skips.py runs the gate there).
pytest_plugins = ("pytester",)

#: The skips CI may take, by test id (a parametrized test's id without its ``[...]`` covers every case), each
#: with the reason it hides no tier. Under ``CI=true`` any other skip, a module's (``pytest.importorskip`` at
#: the top, ``allow_module_level``) included, fails the run: CI must not pass with something it never ran.
ALLOWED_SKIPS_UNDER_CI: dict[str, str] = {
    "tests/unit/course/test_run_order.py::test_a_kernels_own_output_goes_to_the_log_file_not_the_terminal": (
        "it reads where a kernel's file descriptors point in /proc, which only Linux has; the redirection it "
        "checks is the same code on every platform, and on a Linux runner (.ci/run's) it runs"
    ),
}


class SkipGate:
    """Under ``CI=true``, turns each skip outside :data:`ALLOWED_SKIPS_UNDER_CI` into a failure naming it.

    It rewrites the report where the skip happens (a module's collection, a test's setup or call), so the
    failure shows as that module's or test's error in any runner, pytest-xdist's workers included, and the
    session fails. An ``xfail`` is not a skip and is left alone.
    """

    def __init__(self, environ=os.environ, allowed: dict[str, str] = ALLOWED_SKIPS_UNDER_CI):
        self.environ = environ
        self.allowed = allowed

    def allows(self, nodeid: str) -> bool:
        return any(nodeid == key or nodeid.startswith(key + "[") for key in self.allowed)

    def refuse(self, report) -> None:
        if not report.skipped or hasattr(report, "wasxfail") or not ci_requires_every_tier(self.environ):
            return
        if self.allows(report.nodeid):
            return
        longrepr = report.longrepr
        reason = (longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (
            f"CI=true and {report.nodeid or 'the session'} was skipped ({reason}): CI must run everything. "
            "Install what it needs, or, if it can never run there, add it with the reason to "
            "ALLOWED_SKIPS_UNDER_CI in tests/conftest.py"
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(self, collector):
        report = yield
        self.refuse(report)
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        self.refuse(report)
        return report


def pytest_configure(config):
    config.pluginmanager.register(SkipGate(), "ci-skip-gate")


@pytest.fixture(scope="session")
def skip_gate():
    """The class of the CI skip gate (:class:`SkipGate`), to run it in a session of a test's own."""
    return SkipGate
