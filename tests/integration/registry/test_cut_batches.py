"""Crash-safe batches on a real server: a batch cut off after any request, under the default one-minute
lease, is complete or gone 65 s later once repaired (by the next registration of its names, or by
``repair()``, which that registration runs first); a batch still within its lease, or kept alive by its
heartbeat past it, is left alone; ``registry repair`` on demand.

"65 s later" is repair's clock moved forward (``repair.clock``), not a wait: the proof looks at each cut as
the first registration a minute after it would, and the heartbeat test shows in real time that a live batch
is never touched.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from labhelpers.foundation.errors import RegistryError, ServerError
from labhelpers.registry.all_or_nothing import repair as repair_module
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.all_or_nothing.lease import DEFAULT_LEASE_SECONDS
from labhelpers.registry.all_or_nothing.repair import repair
from labhelpers.registry.references import resolve
from labhelpers.registry.register import register_batch, register_models

ROOT = Path(__file__).resolve().parents[3]
KEYS = ("linear", "ridge", "kmeans")
#: Which cuts the proof repairs through a whole registration (register_models repairs its names first, then
#: registers a batch of its own); the others call repair() itself, which is all that registration runs first.
REGISTER_EVERY = 4
#: When the proof looks at a cut batch: the first registration this long after the cut repairs it.
AFTER_CUT = 65.0


@pytest.fixture
def fresh_names(mlflow_server):
    """``fresh_names()``: three new registered names; the models are deleted after the test, so that the
    session server's list of names stays short for the tests that print it."""
    made: list[str] = []

    def make() -> dict[str, str]:
        tag = uuid.uuid4().hex[:8]
        names = {key: f"test-cut-{key}-{tag}" for key in KEYS}
        made.extend(names.values())
        return names

    yield make
    client = client_for(mlflow_server.uri)

    def delete(name: str) -> None:
        with contextlib.suppress(Exception):  # a model a cut batch never created
            client.delete_registered_model(name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(delete, made))


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def by_batch(client, names: dict[str, str]) -> dict[str, list]:
    """Every version of ``names``, grouped by batch_id."""
    batches: dict[str, list] = {}
    for name in names.values():
        for version in client.search_model_versions(f"name='{name}'"):
            batches.setdefault(version.tags.get("lab.batch_id"), []).append(version)
    return batches


def models_of(client, names: dict[str, str]) -> list[str]:
    """Those of ``names`` that are registered models (a cut batch may leave one empty)."""
    return [m.name for n in names.values() for m in client.search_registered_models(f"name='{n}'")]


def pending(client, names: dict[str, str]) -> dict[str, list[str]]:
    """Pending versions by batch, as ``NAME version N`` labels."""
    return {
        batch: sorted(
            f"{v.name} version {v.version}" for v in found if v.tags["lab.batch_status"] == "pending"
        )
        for batch, found in by_batch(client, names).items()
        if any(v.tags["lab.batch_status"] == "pending" for v in found)
    }


def assert_every_batch_complete_or_gone(client, names: dict[str, str]) -> None:
    batches = by_batch(client, names)
    for batch, found in batches.items():
        assert sorted(v.name for v in found) == sorted(names.values()), f"batch {batch} is incomplete"
        assert {v.tags["lab.batch_status"] for v in found} == {"complete"}, f"batch {batch} is still pending"
    for name in {v.name for found in batches.values() for v in found}:
        latest = resolve(f"{name}@latest", client)
        assert latest.tags["lab.batch_status"] == "complete"


def cut_batch(trained_dirs, names, proxy, after: int | None, monkeypatch, **kwargs) -> str:
    """Register through ``proxy`` cut off after request ``after``; ``registered`` or ``cut``."""
    candidates = collect(trained_dirs[0], trained_dirs[1], names)
    proxy.cut_after(after)
    with monkeypatch.context() as patch:
        patch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # a dead server fails each call at once
        try:
            register_batch(candidates, tracking_uri=proxy.uri, **kwargs)
            return "registered"
        except (RegistryError, ServerError):
            return "cut"


@pytest.mark.registry
def test_a_batch_cut_off_after_any_request_is_complete_or_gone_once_repaired(
    mlflow_server, trained_dirs, cutting_proxy, monkeypatch, caplog, fresh_names
):
    client = client_for(mlflow_server.uri)
    assert DEFAULT_LEASE_SECONDS + 5 <= AFTER_CUT  # the crash window: every lease has run out by then
    # One whole batch through the proxy: how many requests it makes.
    assert cut_batch(trained_dirs, fresh_names(), cutting_proxy, None, monkeypatch) == "registered"
    requests = cutting_proxy.count
    outcomes, actions = {}, set()
    caplog.set_level(logging.INFO, logger="labhelpers.registry")
    registrations = repairs = 0
    for after in range(requests + 1):
        names = fresh_names()
        outcomes[after] = cut_batch(trained_dirs, names, cutting_proxy, after, monkeypatch)
        cut_at = time.time()
        left = pending(client, names)
        caplog.clear()

        with monkeypatch.context() as patch:  # the first registration AFTER_CUT seconds after the cut
            patch.setattr(repair_module, "clock", lambda at=cut_at: at + AFTER_CUT)
            if not (left or models_of(client, names)):  # nothing of the batch reached the registry
                assert repair(client, names.values()) == []
                said = []
            elif after % REGISTER_EVERY == 0 or after > requests - 8:  # a registration repairs first
                register_models(*trained_dirs, names=names, tracking_uri=mlflow_server.uri)
                registrations += 1
                said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("repair: ")]
            else:  # what that registration runs first, without a whole new batch after it (the test's time)
                said = [f"repair: {item}" for item in repair(client, names.values())]
                repairs += 1

        assert_every_batch_complete_or_gone(client, names)
        assert len(said) == len(left), (after, said, left)
        for batch, labels in left.items():
            [line] = [line for line in said if line.startswith(f"repair: batch {batch}: ")]
            action = "completed" if "completed" in line else "removed"
            actions.add(action)
            assert all(label in line for label in labels) or action == "completed", line
    # Only the last requests (the three alias mirrors, which may fail) can be cut without failing the batch;
    # a dataset write retried on a conflict can shift the count by a request or two.
    registered = [after for after, outcome in outcomes.items() if outcome == "registered"]
    assert registered == list(range(registered[0], requests + 1)), outcomes
    assert registered[0] >= requests - 8, (requests, registered)
    assert actions == {"completed", "removed"}  # both repairs happened along the way
    assert registrations + repairs >= requests // 4  # the cuts after the batch's first writes
    assert registrations >= 5 and repairs >= 5


def _die_after_versions(monkeypatch, names: dict[str, str], all_three: bool) -> None:
    """Make the next batch stop like a killed process: a step fails, and nothing is undone.

    ``all_three``: the kmeans step fails after its version was created (so every member exists), else
    before its upload (so kmeans has no version).
    """
    import labhelpers.registry.all_or_nothing.upload as upload
    import labhelpers.registry.register as register

    target = "drop_retried_duplicates" if all_three else "log_files"
    original = getattr(upload, target)

    def dying(client, *args):
        if names["kmeans"] in (*args, getattr(args[-1], "name", None)):
            raise RuntimeError("process killed")
        return original(client, *args)

    monkeypatch.setattr(upload, target, dying)
    monkeypatch.setattr(register, "undo", lambda client, created: [])  # a dead process undoes nothing


@pytest.mark.registry
def test_a_pending_batch_within_its_lease_is_left_alone_and_repaired_once_the_lease_ran_out(
    trained_dirs, tracking_uri, monkeypatch, caplog, fresh_names
):
    client = client_for(tracking_uri)
    names = fresh_names()
    with monkeypatch.context() as patch:
        _die_after_versions(patch, names, all_three=False)
        with pytest.raises(RegistryError, match="process killed"):
            register_models(*trained_dirs, names=names, tracking_uri=tracking_uri)
    before = pending(client, names)
    [batch] = before
    dead = [v.run_id for found in by_batch(client, names).values() for v in found]
    caplog.set_level(logging.INFO, logger="labhelpers.registry")

    register_models(*trained_dirs, names=names, tracking_uri=tracking_uri)

    assert pending(client, names) == before  # a live batch is never touched
    [line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("repair: ")]
    assert line.startswith(f"repair: batch {batch}: left alone ") and "still being registered" in line

    later = time.time() + DEFAULT_LEASE_SECONDS + 1
    [planned] = repair(client, names.values(), dry_run=True, now=later)
    assert (planned.batch_id, planned.action) == (batch, "would remove")
    assert pending(client, names) == before
    [done] = repair(client, names.values(), now=later)

    assert (done.action, sorted(done.versions), done.note) == (
        "removed",
        before[batch],
        f"{names['kmeans']} had no version",
    )
    assert_every_batch_complete_or_gone(client, names)
    assert [client.get_run(run).info.status for run in dead] == ["FAILED", "FAILED"]


@pytest.mark.registry
def test_a_live_batch_kept_alive_by_its_heartbeat_is_never_touched_past_its_first_lease(
    trained_dirs, tracking_uri, monkeypatch, fresh_names
):
    """Real time: a batch held up once all three versions exist outlives its first lease by renewing it,
    and every repair meanwhile leaves it alone (a repair that took it for dead would complete it)."""
    import labhelpers.registry.all_or_nothing.upload as upload

    client = client_for(tracking_uri)
    names = fresh_names()
    lease = 16.0  # the heartbeat renews every 4 s: a busy registry may stall a renewal by 12 s
    hold, holding = threading.Event(), threading.Event()
    original = upload.drop_retried_duplicates

    arrived: list[str] = []

    def held(client, name, *args):  # each member waits here once its version exists
        arrived.append(name)
        if len(arrived) == len(names):
            holding.set()
        hold.wait(120)
        return original(client, name, *args)

    monkeypatch.setattr(upload, "drop_retried_duplicates", held)
    with ThreadPoolExecutor(max_workers=1) as pool:
        batch = pool.submit(
            register_batch,
            collect(trained_dirs[0], trained_dirs[1], names),
            tracking_uri=tracking_uri,
            lease_seconds=lease,
        )
        try:
            assert holding.wait(120), "the batch never created all three versions"
            first = pending(client, names)
            [batch_id] = first
            first_end = max(_lease_ends(client, names))
            seen: list[float] = []
            while not seen or seen[-1] <= first_end + lease / 4:  # past the first lease, by a heartbeat
                assert [(r.batch_id, r.action) for r in repair(client, names.values())] == [
                    (batch_id, "left alone")
                ]
                assert pending(client, names) == first  # untouched
                seen.append(time.time())
                time.sleep(1)
            assert max(_lease_ends(client, names)) > first_end  # renewed, not merely not yet expired
        finally:
            hold.set()
        done = batch.result(timeout=120)
    assert sorted(item.name for item in done) == sorted(names.values())
    assert_every_batch_complete_or_gone(client, names)


def _lease_ends(client, names: dict[str, str]) -> list[float]:
    from labhelpers.registry.all_or_nothing.lease import lease_end

    return [
        lease_end(v.tags, v.creation_timestamp) for found in by_batch(client, names).values() for v in found
    ]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "labhelpers", "registry", "repair", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


@pytest.mark.registry
def test_registry_repair_dry_run_says_what_it_would_do_and_then_completes_the_batch(
    trained_dirs, tracking_uri, monkeypatch, fresh_names
):
    client = client_for(tracking_uri)
    names = fresh_names()
    with monkeypatch.context() as patch:
        _die_after_versions(patch, names, all_three=True)
        with pytest.raises(RegistryError, match="process killed"):
            register_batch(
                collect(trained_dirs[0], trained_dirs[1], names), tracking_uri=tracking_uri, lease_seconds=0
            )
    before = pending(client, names)
    [batch] = before
    options = [f"--name={names['linear']}", "--tracking-uri", tracking_uri]  # the others are followed

    planned = run_cli("--dry-run", *options)

    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines() == [
        f"batch {batch}: would complete {', '.join(before[batch])}",
        "Dry run: nothing was changed.",
    ]
    assert pending(client, names) == before

    done = run_cli(*options)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"batch {batch}: completed {', '.join(before[batch])}"]
    assert pending(client, names) == {}
    assert_every_batch_complete_or_gone(client, names)
    runs = [client.get_run(v.run_id).info.status for found in by_batch(client, names).values() for v in found]
    assert runs == ["FINISHED"] * 3

    again = run_cli(*options)

    assert again.returncode == 0
    assert again.stdout.strip() == f"Nothing to repair: no batch of {names['linear']} is pending."
