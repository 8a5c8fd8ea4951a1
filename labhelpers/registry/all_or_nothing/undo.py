"""Undo a failed batch: delete what it created, mark its runs failed, and say what is left for repair.

A batch records what it creates as it goes (``BatchContext.created``, see ``upload``). When any step fails,
:func:`undo` removes it, newest first; what the registry refuses or cannot be reached to remove stays tagged
``lab.batch_status=pending``, gives up its lease, and is finished or removed by the next registration of its
names (``repair``). :func:`failure` is the error the learner reads: the cause, and whether anything of the
batch remains.
"""

from __future__ import annotations

import logging
from typing import Any

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry import capabilities
from labhelpers.registry.all_or_nothing.fallbacks import delete_empty_model
from labhelpers.registry.all_or_nothing.lease import BATCH_STATUS_TAG, LEASE_TAG, lease_until
from labhelpers.registry.client import RegistryClient

_log = logging.getLogger(__name__)


def _undo_one(client: RegistryClient, kind: str, item: Any) -> None:
    if kind == "version":
        client.delete_model_version(*item)
    elif kind == "run":
        client.set_terminated(item, status="FAILED")
    else:  # a model this batch created goes too, once empty, where the registry deletes models (not Azure)
        delete_empty_model(client, item)


def undo(client: RegistryClient, created: list) -> list[tuple[str, str]]:
    """Delete what a failed batch created, mark its runs failed; return the versions still there.

    Each removal that fails is logged (logger ``labhelpers.registry.all_or_nothing.undo``, warning) with its
    cause, and the versions left behind give up their lease so the next registration repairs them at once.

    Args:
        client: The registry's client.
        created: What the batch created, in order: ``("version", (name, version))``, ``("run", run_id)`` or
            ``("model", name)``.

    Returns:
        The ``(name, version)`` pairs still in the registry.
    """
    from mlflow.exceptions import MlflowException

    left = []
    for kind, item in reversed(created):
        try:
            _undo_one(client, kind, item)
        except MlflowException as error:  # the registry's answer; a bug in the undo is raised
            _log.warning("undo of a failed batch: %s %s not removed: %s", kind, item, error)
            if kind == "version":
                left.append(item)
    for name, version in left:  # give up the lease, so the next registration repairs them at once
        try:
            capabilities.writes(client).set_model_version_tag(name, version, LEASE_TAG, lease_until(0))
        except MlflowException as error:  # unreachable: the lease runs out by itself
            _log.warning(
                "lease of %s version %s not given up (it runs out by itself): %s", name, version, error
            )
    return left


def failure(uri: str, error: Exception, left: list[tuple[str, str]]) -> RegistryError:
    """The error a failed batch raises: its cause, and what (if anything) :func:`undo` left behind.

    Args:
        uri: The registry's tracking URI.
        error: What made the batch fail.
        left: The versions :func:`undo` could not remove.

    Returns:
        The error to raise (from ``error``).
    """
    if not left:
        note = " Nothing from this batch remains in the registry."
    else:
        versions = ", ".join(f"{name} version {version}" for name, version in left)
        note = (
            f" Could not remove {versions} (tagged {BATCH_STATUS_TAG}=pending): the next registration of "
            "these names, or `python -m labhelpers registry repair`, removes them once the registry answers "
            "and their lease (a minute at most) has run out."
        )
    return RegistryError(f"Registration failed at {uri}: {type(error).__name__}: {error}.{note}")
