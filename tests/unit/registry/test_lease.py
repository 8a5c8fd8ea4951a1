"""lease: the tag that tells a batch still being registered from one whose process stopped."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from labhelpers.registry.lease import DEFAULT_LEASE_SECONDS, LEASE_TAG, Heartbeat, lease_end, lease_until


def test_the_lease_tag_is_a_readable_utc_time_that_lease_end_reads_back():
    value = lease_until(600, now=1_700_000_000)

    assert value == "2023-11-14T22:23:20+00:00"
    assert datetime.fromisoformat(value).utcoffset().total_seconds() == 0
    assert lease_end({LEASE_TAG: value}, created_ms=0) == 1_700_000_600


def test_a_version_without_a_readable_lease_counts_it_from_its_creation():
    created_ms = 1_700_000_000_000

    assert lease_end({}, created_ms) == 1_700_000_000 + DEFAULT_LEASE_SECONDS
    assert lease_end({LEASE_TAG: "soon"}, created_ms) == 1_700_000_000 + DEFAULT_LEASE_SECONDS


class Tags:
    """Records lease renewals; the first renewal of each version sets ``renewed``."""

    def __init__(self) -> None:
        self.written: list[tuple[str, str, str, str]] = []
        self.renewed = threading.Event()

    def set_model_version_tag(self, name, version, key, value):
        self.written.append((name, version, key, value))
        if len({(n, v) for n, v, _, _ in self.written}) == 2:
            self.renewed.set()


def test_the_heartbeat_renews_the_lease_of_every_version_added_and_stops_with_the_batch():
    client = Tags()
    start = time.time()
    with Heartbeat(client, seconds=4) as heartbeat:  # renews every second
        heartbeat.add("a", "1")
        heartbeat.add("b", "7")
        assert heartbeat.beating and client.renewed.wait(10), "no renewal within 10 s"
    stopped = len(client.written)

    assert {(n, v, k) for n, v, k, _ in client.written} == {("a", "1", LEASE_TAG), ("b", "7", LEASE_TAG)}
    assert all(lease_end({LEASE_TAG: value}, 0) >= int(start) + 4 for *_, value in client.written)
    assert not heartbeat.beating and len(client.written) == stopped


def test_a_lease_too_short_to_renew_starts_no_heartbeat():
    client = Tags()
    with Heartbeat(client, seconds=0) as heartbeat:
        heartbeat.add("a", "1")

    assert not heartbeat.beating and client.written == []
