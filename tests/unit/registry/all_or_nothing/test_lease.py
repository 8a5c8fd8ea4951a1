"""lease: the tag that tells a batch still being registered from one whose process stopped."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from labhelpers.registry.all_or_nothing.lease import (
    DEFAULT_LEASE_SECONDS,
    LEASE_TAG,
    Heartbeat,
    lease_end,
    lease_until,
)
from tests.unit.fakes import FakeRegistry


def test_the_lease_tag_is_a_readable_utc_time_that_lease_end_reads_back():
    value = lease_until(600, now=1_700_000_000)

    assert value == "2023-11-14T22:23:20+00:00"
    offset = datetime.fromisoformat(value).utcoffset()
    assert offset is not None and offset.total_seconds() == 0
    assert lease_end({LEASE_TAG: value}, created_ms=0) == 1_700_000_600


def test_a_version_without_a_readable_lease_counts_it_from_its_creation():
    created_ms = 1_700_000_000_000

    assert lease_end({}, created_ms) == 1_700_000_000 + DEFAULT_LEASE_SECONDS
    assert lease_end({LEASE_TAG: "soon"}, created_ms) == 1_700_000_000 + DEFAULT_LEASE_SECONDS


def versions_whose_lease_is_renewed() -> tuple[FakeRegistry, threading.Event]:
    """The registry with versions a/1 and b/7, and an event set once both had their lease renewed."""
    client = FakeRegistry([FakeRegistry.version("a", 1), FakeRegistry.version("b", 7)])
    renewed = threading.Event()
    seen: set[tuple[str, str]] = set()

    def renewal(name: str, version: str, key: str, value: str) -> None:
        seen.add((name, version))
        if len(seen) == 2:
            renewed.set()

    client.hooks["set_model_version_tag"] = renewal
    return client, renewed


def written(client: FakeRegistry) -> list[tuple[str, str, str, str]]:
    """The version tags written, in order: ``(name, version, key, value)``."""
    return [
        (str(name), str(version), str(key), str(value))
        for method, (name, version, key, value) in client.answered
        if method == "set_model_version_tag"
    ]


def test_the_heartbeat_renews_the_lease_of_every_version_added_and_stops_with_the_batch():
    client, renewed = versions_whose_lease_is_renewed()
    start = time.time()
    with Heartbeat(client, seconds=4) as heartbeat:  # renews every second
        heartbeat.add("a", "1")
        heartbeat.add("b", "7")
        assert heartbeat.beating and renewed.wait(10), "no renewal within 10 s"
    stopped = len(written(client))

    assert {(n, v, k) for n, v, k, _ in written(client)} == {("a", "1", LEASE_TAG), ("b", "7", LEASE_TAG)}
    assert all(lease_end({LEASE_TAG: value}, 0) >= int(start) + 4 for *_, value in written(client))
    assert not heartbeat.beating and len(written(client)) == stopped
    assert client.stored("a", "1").tags[LEASE_TAG] == [w for w in written(client) if w[0] == "a"][-1][3]


def test_a_lease_too_short_to_renew_starts_no_heartbeat():
    client, _ = versions_whose_lease_is_renewed()
    with Heartbeat(client, seconds=0) as heartbeat:
        heartbeat.add("a", "1")

    assert not heartbeat.beating and written(client) == [] and client.calls == []
