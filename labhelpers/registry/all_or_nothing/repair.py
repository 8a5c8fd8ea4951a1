"""Finish or remove registration batches that a stopped process left pending.

A batch creates its versions tagged ``lab.batch_status=pending`` and tags them ``complete`` once all of them
exist; a failure removes what it created. When the registry stops answering part-way (server killed, network
gone), that undo cannot reach it either, and pending versions stay behind: one of them can be the highest
version, so ``@latest`` would name a model from a batch that never completed. So every registration first
repairs the batches of its names (:func:`repair`), and ``python -m labhelpers registry repair [--dry-run]``
does the same on demand. Each pending batch found is:

* **left alone** while its lease has not run out: another process is still registering it (how the lease
  tells a live batch from a dead one is in :mod:`labhelpers.registry.all_or_nothing.lease`);
* **completed** when every member name has a version of it: the batch uploaded everything and stopped before
  tagging. Twins a retried create left (same run) are deleted, the runs marked finished, the versions tagged
  ``complete``;
* **removed** otherwise: its versions deleted and its runs marked failed. A registered model that the batch
  created and left empty is deleted too where the registry deletes whole models.

Repair asks only what every MLflow registry answers, Azure ML's included: version searches filtered by name
(``name='X'``), the versions' tags, tag writes and version deletes, plus run status updates. It touches no
alias (Azure ML documents none). Where the registry allows more (a search narrowed by tag, deleting a whole
registered model: Azure ML allows neither), :mod:`labhelpers.registry.all_or_nothing.fallbacks` tries it and
falls back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labhelpers.registry import capabilities
from labhelpers.registry.all_or_nothing.fallbacks import (
    delete_empty_model,
    may_delete_models,
    search_versions,
)
from labhelpers.registry.all_or_nothing.lease import (
    BATCH_NAMES_TAG,
    BATCH_STATUS_TAG,
    BATCH_TAG,
    COMPLETE,
    CREATED_BY_TAG,
    PENDING,
    lease_end,
    tag_filter,
)
from labhelpers.registry.client import RegistryClient, is_not_found
from labhelpers.registry.throttling import throttled

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

_log = logging.getLogger(__name__)


@dataclass
class Batch:
    """A batch with at least one pending version, as the registry shows it."""

    batch_id: str
    names: list[str]  # its members: the lab.batch_names tag (for older versions: the names looked under)
    versions: list = field(default_factory=list)  # ModelVersion objects

    def lease_end(self) -> float:
        return max(lease_end(v.tags or {}, v.creation_timestamp) for v in self.versions)

    def missing(self) -> list[str]:
        present = {v.name for v in self.versions}
        return [name for name in self.names if name not in present]


@dataclass(frozen=True)
class Repair:
    """What repair did, or would do, to one pending batch."""

    batch_id: str
    action: str  # completed | removed | would complete | would remove | left alone | failed
    versions: tuple[str, ...]  # "NAME version N"
    note: str = ""

    def __str__(self) -> str:
        listed = ", ".join(self.versions) or "no versions"
        note = f" ({self.note})" if self.note else ""
        return f"batch {self.batch_id}: {self.action} {listed}{note}"


def _label(version: ModelVersion) -> str:
    return f"{version.name} version {version.version}"


def _tags(version: ModelVersion) -> dict[str, str]:
    return dict(version.tags or {})


def _members(version: ModelVersion) -> list[str]:
    """The names a version says its batch has (older versions carry none)."""
    return [name for name in (_tags(version).get(BATCH_NAMES_TAG) or "").split(",") if name]


Search = tuple[str, tuple[tuple[str, str], ...]]  # a name and the conditions narrowing it


class _Searches:
    """Version searches, run side by side and remembered.

    Where the registry refused a narrowed search (learned in :mod:`labhelpers.registry.capabilities`), the
    answer is all versions of the name: one such search then serves every later search of that name.
    """

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.found: dict[Search, list] = {}

    def _plain(self, key: Search) -> Search:
        return (key[0], ()) if capabilities.of(self.client).version_filters is False else key

    def _search(self, key: Search) -> tuple[Search, list]:
        return key, search_versions(self.client, key[0], dict(key[1]))

    def run(self, wanted: list[Search]) -> None:
        todo = [key for key in dict.fromkeys(wanted) if self[key] is None]
        with ThreadPoolExecutor(max_workers=4) as pool:
            for key, versions in pool.map(self._search, todo):
                self.found[key] = self.found[self._plain(key)] = versions  # plain: after the answer

    def __getitem__(self, key: Search) -> list | None:
        """The versions found for ``key``; None when it was not searched yet."""
        return self.found.get(key, self.found.get(self._plain(key)))


def find_pending(client: RegistryClient, names: Iterable[str]) -> list[Batch]:
    """Every batch with a pending version under ``names``, with all of its versions under all its members.

    Two rounds of searches filtered by name (narrowed by tag where the registry allows it, see
    :mod:`labhelpers.registry.all_or_nothing.fallbacks`): the pending versions of ``names``, then each
    pending batch's versions under every name its ``lab.batch_names`` tag lists. A version older than that tag
    counts ``names`` as its batch's members. Everything else is read from the versions' tags.
    """
    names = list(dict.fromkeys(names))
    pending_only = ((tag_filter(BATCH_STATUS_TAG), PENDING),)
    searches = _Searches(client)
    searches.run([(name, pending_only) for name in names])
    batches: dict[str, Batch] = {}
    for version in (v for name in names for v in searches[(name, pending_only)] or ()):
        tags = _tags(version)
        if tags.get(BATCH_STATUS_TAG) == PENDING and tags.get(BATCH_TAG):
            batch = batches.setdefault(tags[BATCH_TAG], Batch(tags[BATCH_TAG], []))
            batch.names = list(dict.fromkeys([*batch.names, *(_members(version) or names)]))
    wanted = {
        (member, batch_id): (member, ((tag_filter(BATCH_TAG), batch_id),))
        for batch_id, batch in batches.items()
        for member in batch.names
    }
    searches.run(list(wanted.values()))
    for (member, batch_id), key in wanted.items():
        batch = batches[batch_id]
        batch.versions += [
            v for v in searches[key] or () if v.name == member and _tags(v).get(BATCH_TAG) == batch_id
        ]
    for batch in batches.values():
        batch.versions.sort(key=lambda v: (v.name, int(v.version)))
    return [batches[batch_id] for batch_id in sorted(batches)]


def _delete_version(client: RegistryClient, version: ModelVersion) -> None:
    """Delete ``version``; one already gone (another repair or the batch's own undo was first) is no error.

    "Gone" is the registry's error code for no such version (``RESOURCE_DOES_NOT_EXIST``), never the words
    of a message: a refused permission or a server error that happens to say "not found" is raised.
    """
    try:
        client.delete_model_version(version.name, version.version)
    except Exception as error:
        if not is_not_found(error):
            raise


def _end_runs(client: RegistryClient, run_ids: Iterable[str], status: str) -> None:
    """Mark the batch's runs ended (runs are not registry entries: a failure here is only logged)."""
    from mlflow.exceptions import MlflowException

    for run_id in dict.fromkeys(r for r in run_ids if r):
        try:
            client.set_terminated(run_id, status=status)
        except MlflowException as error:
            _log.warning("run %s not marked %s: %s", run_id, status, error)


def _complete(client: RegistryClient, batch: Batch) -> tuple[list, list]:
    """Delete twins (a second version of a member from the same run), tag the rest complete.

    Returns:
        The versions tagged complete, and the twins deleted.
    """
    first: dict[str, Any] = {}
    kept: list = []
    twins: list = []
    # One version of each member stays: one already complete if any (the one its batch reported), else the
    # lowest. Another version of that member from the same run is a twin; one from another run stays too.
    ordered = sorted(
        batch.versions, key=lambda v: (_tags(v).get(BATCH_STATUS_TAG) != COMPLETE, int(v.version))
    )
    for version in ordered:
        same_run = first.setdefault(version.name, version)
        (twins if same_run is not version and version.run_id == same_run.run_id else kept).append(version)
    kept.sort(key=lambda v: (v.name, int(v.version)))
    for twin in twins:
        _delete_version(client, twin)
    _end_runs(client, [v.run_id for v in kept], "FINISHED")
    tagger = capabilities.writes(client)
    for version in kept:
        tagger.set_model_version_tag(version.name, version.version, BATCH_STATUS_TAG, COMPLETE)
    return kept, twins


def _remove(client: RegistryClient, batch: Batch) -> None:
    """Delete the batch's versions, fail its runs, and drop a model it created and left empty."""
    from mlflow.exceptions import MlflowException

    for version in batch.versions:
        _delete_version(client, version)
    _end_runs(client, [v.run_id for v in batch.versions], "FAILED")
    for name in dict.fromkeys(v.name for v in batch.versions):
        if not may_delete_models(client):
            return
        try:
            if (client.get_registered_model(name).tags or {}).get(CREATED_BY_TAG) == batch.batch_id:
                delete_empty_model(client, name)
        except MlflowException as error:  # an empty model is harmless: the next registration reuses it
            _log.warning("registered model %s left in place: %s", name, error)


def _repair_one(client: RegistryClient, batch: Batch, *, dry_run: bool, now: float) -> Repair:
    from mlflow.exceptions import MlflowException

    labels = tuple(_label(v) for v in batch.versions)
    until = batch.lease_end()
    if until > now:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(until))
        return Repair(batch.batch_id, "left alone", labels, f"still being registered, lease until {stamp}")
    missing = batch.missing()
    note = f"{', '.join(missing)} had no version" if missing else ""
    if dry_run:
        return Repair(batch.batch_id, "would remove" if missing else "would complete", labels, note)
    try:
        if missing:
            _remove(client, batch)
            return Repair(batch.batch_id, "removed", labels, note)
        kept, twins = _complete(client, batch)
        note = f"deleted twin {', '.join(map(_label, twins))}" if twins else ""
        return Repair(batch.batch_id, "completed", tuple(map(_label, kept)), note)
    except MlflowException as error:  # the registry refused or failed; a bug in the repair is raised
        return Repair(batch.batch_id, "failed", labels, f"{type(error).__name__}: {error}")


#: Repair's clock (seconds since the epoch), read when no ``now`` is given. Public so that a test can look
#: past a lease (e.g. ``time.time() + 65``) through a whole registration without waiting for it.
clock = time.time


def repair(
    client: RegistryClient, names: Iterable[str], *, dry_run: bool = False, now: float | None = None
) -> list[Repair]:
    """Complete or remove every batch left pending under ``names`` whose lease has run out.

    Args:
        client: An ``MlflowClient`` of the registry.
        names: Registered names to look under (the members of the batches found are followed).
        dry_run: Only say what would be done.
        now: The time to compare leases with (default: :data:`clock`, the current time).

    Returns:
        One :class:`Repair` per pending batch found, live ones included (action ``left alone``).
    """
    now = clock() if now is None else now
    return [_repair_one(client, batch, dry_run=dry_run, now=now) for batch in find_pending(client, names)]


def repair_earlier(client: RegistryClient, names: list[str]) -> None:
    """:func:`repair` before a new batch of ``names``; log each repair, and a registry that did not answer.

    A registry error is logged, not raised: the registration that follows meets the same registry and
    reports its state.
    """
    from mlflow.exceptions import MlflowException

    try:
        repairs = repair(client, names)
    except MlflowException as error:
        _log.warning("earlier batches of %s not checked: %s", ", ".join(names), error)
        return
    for item in repairs:
        level = logging.INFO if item.action == "left alone" else logging.WARNING
        _log.log(level, "repair: %s", item)


def repair_registry(
    names: Iterable[str], *, tracking_uri: str | None = None, dry_run: bool = False, now: float | None = None
) -> list[Repair]:
    """:func:`repair` on the registry at ``tracking_uri`` (default ``$MLFLOW_TRACKING_URI``, else local)."""
    from mlflow import MlflowClient

    from labhelpers.tracking.connection import use_tracking

    uri = use_tracking(tracking_uri)
    return repair(throttled(MlflowClient(uri, uri)), names, dry_run=dry_run, now=now)
