"""The tags that say whether a batch is finished, and whether the process registering it is still alive.

Every version a batch creates carries, from the very request that creates it:

* ``lab.batch_id``: shared by the versions of one batch;
* ``lab.batch_names``: the registered names of all of the batch's members, comma-separated, so that a repair
  finding one version knows which others to look for;
* ``lab.batch_status``: ``pending`` until every member exists, then ``complete``;
* ``lab.batch_lease_until``: a UTC time (ISO 8601) until which the registering process claims the batch.

A registered model that a batch creates carries ``lab.created_by_batch``, so that removing a dead batch can
also remove the model it created and left empty, and no other. Every bookkeeping tag starts with ``lab.``, so
the version page lists the tags a reader wants (task_type, rmse, lifecycle...) first.

**Telling a live batch from a dead one.** The registering process holds a lease on its batch. It writes
``lab.batch_lease_until`` = now + the lease (:data:`DEFAULT_LEASE_SECONDS`, 60 s) on each version as it
creates it, and a heartbeat thread rewrites it on every version of the batch each quarter of the lease (15 s)
while the batch runs. A pending batch is *live* while the lease of any of its versions has not run out:
nothing repairs it, and a registry that stalls for less than three heartbeats cannot make it look dead. Once
every lease has run out, the process stopped (killed, its machine or network gone) and the batch is finished
or removed by the next registration of one of its names (:mod:`labhelpers.registry.all_or_nothing.repair`): a
minute after a crash at most. The clocks of the machines involved must agree to within a few seconds (NTP
does; a clock 45 s ahead makes a live batch look dead). A process frozen for longer than its lease (a
suspended laptop) loses its batch: the batch is repaired, and the process's own completion then fails and
undoes what is left. Versions written before leases existed carry no lease tag; their lease is counted from
their creation time.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from labhelpers.registry import capabilities
from labhelpers.registry.client import RegistryClient

#: The prefix of every bookkeeping tag: the version page lists the seed's tags (task_type, rmse...) first.
INTERNAL_PREFIX = "lab."
BATCH_TAG = "lab.batch_id"
BATCH_STATUS_TAG = "lab.batch_status"
BATCH_NAMES_TAG = "lab.batch_names"
LEASE_TAG = "lab.batch_lease_until"
#: Tag of a registered model naming the batch that created it: a repair deletes no other empty model.
CREATED_BY_TAG = "lab.created_by_batch"
#: The names these tags had before the prefix, still read where a registry written then is read.
OLD_NAMES = {
    BATCH_TAG: "batch_id",
    BATCH_STATUS_TAG: "batch_status",
    BATCH_NAMES_TAG: "batch_names",
    LEASE_TAG: "batch_lease_until",
    CREATED_BY_TAG: "created_by_batch",
}


def batch_of(tags: dict) -> str | None:
    """The batch a version's tags name, under the tag's name now or before the prefix (None: no batch)."""
    return tags.get(BATCH_TAG) or tags.get(OLD_NAMES[BATCH_TAG])


def tag_filter(key: str) -> str:
    """``key`` as a search filter's tag term: ``tags.`lab.batch_id``` (a key with a dot needs backticks)."""
    return f"tags.`{key}`"


PENDING = "pending"
COMPLETE = "complete"
#: A minute: the crash window of a batch. The heartbeat renews every quarter of it.
DEFAULT_LEASE_SECONDS = 60.0
_log = logging.getLogger(__name__)


def lease_until(seconds: float, now: float | None = None) -> str:
    """The lease tag's value: the UTC time ``seconds`` from ``now`` (default: the current time)."""
    moment = (time.time() if now is None else now) + seconds
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds")


def lease_end(tags: dict, created_ms: int | None, seconds: float = DEFAULT_LEASE_SECONDS) -> float:
    """When a version's lease runs out, in seconds since the epoch.

    Args:
        tags: The version's tags.
        created_ms: Its creation timestamp (milliseconds), used when it has no lease tag (older versions).
        seconds: The lease counted from creation for such versions.
    """
    raw = tags.get(LEASE_TAG)
    if raw:
        try:
            return datetime.fromisoformat(raw).timestamp()
        except ValueError:
            pass  # unreadable: count from creation like an older version
    return (created_ms or 0) / 1000 + seconds


def mark_complete(client: RegistryClient, name: str, version: str) -> None:
    """Tag a batch's version ``lab.batch_status=complete``: every member of its batch exists."""
    capabilities.writes(client).set_model_version_tag(name, version, BATCH_STATUS_TAG, COMPLETE)


class Heartbeat:
    """Keep a running batch's lease fresh: rewrite the lease tag of its versions every quarter lease.

    Use as a context manager around the batch; :meth:`add` each version as it is created.
    """

    def __init__(self, client: RegistryClient, seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self._client = client
        self._seconds = seconds
        self._versions: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="batch-lease", daemon=True)

    def add(self, name: str, version: str) -> None:
        with self._lock:
            self._versions.append((name, version))

    @property
    def beating(self) -> bool:
        """Whether the renewing thread runs: inside the ``with`` block, for a lease of 4 s or more."""
        return self._thread.is_alive()

    def __enter__(self) -> Heartbeat:
        if self._seconds >= 4:  # a shorter lease (tests use 0) claims nothing worth renewing
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        from mlflow.exceptions import MlflowException

        while not self._stop.wait(self._seconds / 4):
            with self._lock:
                versions = list(self._versions)
            until = lease_until(self._seconds)
            for name, version in versions:
                try:
                    capabilities.writes(self._client).set_model_version_tag(name, version, LEASE_TAG, until)
                except MlflowException as error:  # the batch notices a dead registry; this only logs
                    _log.warning("could not renew the lease of %s version %s: %s", name, version, error)
