"""A rehearsal of a cohort: simulated learners registering, promoting and rolling back at once.

Each learner is a thread of one process with its own account: its tracking URI carries its credentials
(``https://alice:PASSWORD@host:port``), so MLflow's client keeps one store per learner and every request
signs in as that learner. Threads, not processes: 30 Python interpreters spend more time importing MLflow
than the server spends answering, so a load made of processes measures the interpreters.

Load-generation code, not the product: ``bench/bench_classroom.py`` and the classroom load test
(``tests/integration/classroom/test_load.py``, through pytest's ``pythonpath``) drive the server through it,
no ``labhelpers`` module imports it. It lives beside the benchmark that is its main user rather than in a
test-support package: the benchmark runs without pytest, and the test only borrows it.
"""

from __future__ import annotations

import collections
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from labhelpers.foundation.learner import namespace
from labhelpers.registry.all_or_nothing.lease import BATCH_STATUS_TAG, BATCH_TAG
from labhelpers.registry.client import RegistryClient

_ENV_CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def learner_uri(uri: str, user: str, password: str) -> str:
    """``uri`` with ``user:password@`` in it (passwords from the roster are URL-safe)."""
    parts = urlsplit(uri)
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}"))


@dataclass
class Outcome:
    """What one simulated learner did and saw."""

    learner: str
    batches: list[dict] = field(default_factory=list)  # batch_id, versions {name: number}, seconds
    failures: list[str] = field(default_factory=list)  # operations that raised, with the error
    cross_write: str = "not tried"  # HTTP status class of a write to another learner's model
    cross_read: str = "not tried"


def _timed_batch(outcome: Outcome, dirs: tuple[Path, Path], uri: str) -> None:
    from labhelpers.registry.register import register_models

    started = time.monotonic()
    done = register_models(*dirs, tracking_uri=uri, learner=outcome.learner)
    outcome.batches.append(
        {
            "batch_id": done[0].batch_id,
            "versions": {item.name: item.version for item in done},
            "seconds": time.monotonic() - started,
        }
    )


def _promote_and_roll_back(client: RegistryClient, learner: str, validation: Path) -> None:
    from labhelpers.registry.promotion import promote, rollback

    name = namespace(learner).models["linear"]
    first, second = sorted((v.version for v in client.search_model_versions(f"name='{name}'")), key=int)[:2]
    folder = validation.parent / f"deployment-{learner}"
    for version in (first, second):
        # the gates score the course's held-out set: the one the versions' recorded rmse was measured on
        promote(name, version, "validated", client=client, actor=learner)
        promote(
            name,
            version,
            "production",
            client=client,
            actor=learner,
            override_reason="rehearsal",
            deployment_dir=folder,
        )
    rollback(name, reason="rehearsal", client=client, actor=learner, deployment_dir=folder)


def _try_cross_learner(client: RegistryClient, outcome: Outcome, victim: str) -> None:
    """Read, then try to write, another learner's model; record the HTTP answers."""
    from mlflow.exceptions import MlflowException

    name = namespace(victim).models["kmeans"]
    try:
        client.get_registered_model(name)
        outcome.cross_read = "200"
    except MlflowException as error:
        outcome.cross_read = str(error.get_http_status_code())
    try:
        client.set_registered_model_tag(name, "intruder", outcome.learner)
        outcome.cross_write = "200"
    except MlflowException as error:
        outcome.cross_write = str(error.get_http_status_code())


@dataclass(frozen=True)
class Script:
    """What every simulated learner does, and against which server."""

    uri: str
    dirs: tuple[Path, Path]  # training outputs to register (supervised, unsupervised)
    validation: Path  # a trips file; its folder holds the learners' deployment copies (gates: held-out set)
    batches: int = 2
    promote: bool = True  # then validated -> production twice, and a rollback


def run_learner(
    outcome: Outcome,
    password: str,
    script: Script,
    victim: str | None = None,
    gate=None,
    delay: float = 0.0,
) -> None:
    """One learner's session: the script's registrations, promotions and rollback, then a cross-write.

    Starts ``delay`` seconds after ``gate`` opens. Errors are recorded in ``outcome``, never raised: a
    rehearsal counts failures.
    """
    from mlflow import MlflowClient

    learner = outcome.learner
    own = learner_uri(script.uri, learner, password)
    client = MlflowClient(own, own)
    if gate is not None:
        gate.wait()
    time.sleep(delay)
    steps = [("register", lambda: _timed_batch(outcome, script.dirs, own))] * script.batches
    if script.promote:
        steps.append(("promote", lambda: _promote_and_roll_back(client, learner, script.validation)))
    if victim:
        steps.append(("cross-learner", lambda: _try_cross_learner(client, outcome, victim)))
    for label, step in steps:
        try:
            step()
        except Exception as error:  # recorded: the rehearsal reports failures instead of stopping
            said = str(error).replace(password, "***")  # the URI in a message carries the password
            outcome.failures.append(f"{label}: {type(error).__name__}: {said[:300]}")


def arrivals(count: int, window: float, seed: int = 18) -> list[float]:
    """Each learner's start, in seconds after the first possible one: uniform over ``window``, reproducible.

    A class does not press Run in the same second; ``window`` 0 is the all-at-once case.
    """
    draw = random.Random(seed)
    return [draw.uniform(0, window) if window > 0 else 0.0 for _ in range(count)]


def rehearse(
    passwords: dict[str, str],
    script: Script,
    outcomes: list[Outcome] | None = None,
    arrivals_over: float = 0.0,
    seed: int = 18,
) -> list[Outcome]:
    """Run every learner (one thread each); each also tries its neighbour's model.

    Args:
        passwords: Learner name -> password.
        script: What each learner does.
        outcomes: A list to fill with the outcomes as they start (to watch a rehearsal from another thread).
        arrivals_over: Seconds over which the learners' starts are drawn (see :func:`arrivals`); 0 releases
            them together.
        seed: Seed of the draw.

    Returns:
        One outcome per learner, in the order of ``passwords``.

    Raises:
        RuntimeError: Credentials are set in the environment: they would replace every learner's own.
    """
    present = [name for name in _ENV_CREDENTIALS if os.environ.get(name)]
    if present:
        raise RuntimeError(
            f"Unset {', '.join(present)}: each simulated learner signs in with its own account."
        )
    learners = list(passwords)
    outcomes = outcomes if outcomes is not None else []
    outcomes.extend(Outcome(learner) for learner in learners)
    mine = outcomes[-len(learners) :]
    gate = threading.Barrier(len(learners))
    delays = arrivals(len(learners), arrivals_over, seed)
    with ThreadPoolExecutor(max_workers=len(learners)) as pool:
        futures = []
        for i, (outcome, delay) in enumerate(zip(mine, delays, strict=True)):
            victim = learners[(i + 1) % len(learners)] if len(learners) > 1 else None
            password = passwords[outcome.learner]
            futures.append(pool.submit(run_learner, outcome, password, script, victim, gate, delay))
        for future in futures:
            future.result()  # run_learner records step errors; anything else is a bug of the rehearsal
    return mine


def check_batches(client: RegistryClient, outcomes: list[Outcome]) -> list[str]:
    """Problems with the batches that reported success: missing, incomplete or duplicated versions."""
    problems = []
    for outcome in outcomes:
        for batch in outcome.batches:
            for name, number in batch["versions"].items():
                found = [v for v in client.search_model_versions(f"name='{name}'") if v.version == number]
                tags = found[0].tags if found else {}
                if tags.get(BATCH_TAG) != batch["batch_id"] or tags.get(BATCH_STATUS_TAG) != "complete":
                    problems.append(f"{name} v{number} of batch {batch['batch_id']}: {tags or 'missing'}")
        for name in namespace(outcome.learner).model_names:
            ids = [v.tags.get(BATCH_TAG) for v in client.search_model_versions(f"name='{name}'")]
            if len(ids) != len(set(ids)):
                problems.append(f"{name}: two versions of one batch {ids}")
    return problems


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.5 for p50, 0.95 for p95); NaN for no values."""
    if not values:
        return float("nan")
    import math

    ranked = sorted(values)
    return ranked[min(len(ranked), max(1, math.ceil(fraction * len(ranked)))) - 1]


class RequestCounter:
    """Counts the HTTP requests this process sends (every MLflow client call, retries included), by path.

    Used as a context manager around a rehearsal: it wraps ``requests``' adapter while inside.
    """

    def __init__(self) -> None:
        self.by_path: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    @property
    def requests(self) -> int:
        return sum(self.by_path.values())

    def __enter__(self) -> RequestCounter:
        from requests.adapters import HTTPAdapter

        self._original = HTTPAdapter.send
        original, by_path, lock = self._original, self.by_path, self._lock

        def send(adapter, request, *args, **kwargs):
            path = urlsplit(request.url).path
            if "/mlflow-artifacts/" in path:  # one line for all artifact transfers, not one per file
                path = path.split("/mlflow-artifacts/")[0] + "/mlflow-artifacts/..."
            with lock:
                by_path[f"{request.method} {path}"] += 1
            return original(adapter, request, *args, **kwargs)

        HTTPAdapter.send = send  # type: ignore[method-assign, assignment]  # every request of this process is counted
        return self

    def __exit__(self, *exc) -> None:
        from requests.adapters import HTTPAdapter

        HTTPAdapter.send = self._original  # type: ignore[method-assign]


def process_tree_cpu(pids: list[int]) -> float:
    """CPU-seconds (user + system) spent so far by these processes and all their descendants.

    Finished descendants count too: the kernel adds a reaped child's time to its parent's ``children_*``
    (PostgreSQL's backends per connection, a gunicorn worker replaced). Needs the right to read the
    processes (root, or their owner).
    """
    import psutil

    seen, total = set(), 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in tree:
            if process.pid in seen:
                continue
            seen.add(process.pid)
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
    return total
