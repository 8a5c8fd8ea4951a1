"""What a registry serves beyond what every MLflow registry does, decided in this one place.

Batches, their twin check and their repair are written for the requests Azure ML's MLflow API documents:
version search filtered by name only (``name='X'``), tag reads and writes, version deletes; registered models
there can never be deleted. Where the registry offers more, they use it: a search filtered on tags finds the
pending versions of a name without reading all of its versions (a name with 1,000 versions costs seconds to
read in full), and an empty registered model a dead batch created can be deleted.

The rules are decided from the tracking URI for now; capability detection from the registry's own answers
(``labhelpers.registry``) can replace :func:`rules` without touching its callers.
"""

from __future__ import annotations

from dataclasses import dataclass

from labhelpers.server.tracking import is_azure_uri


@dataclass(frozen=True)
class Rules:
    """What one registry allows beyond the requests every registry serves."""

    deletes_registered_models: bool
    filters_versions_by_tag: bool  # and by run_id: `name='X' and tags.k='v'`, `name='X' and run_id='r'`


def rules(client) -> Rules:
    """The rules of the registry ``client`` talks to (Azure ML: neither; MLflow servers: both)."""
    uri = getattr(client, "_registry_uri", None) or getattr(client, "tracking_uri", None)
    full = not is_azure_uri(uri)
    return Rules(deletes_registered_models=full, filters_versions_by_tag=full)


def version_filter(client, name: str, equal: dict[str, str] | None = None) -> str:
    """A version search for ``name``, narrowed server-side by ``equal`` where the registry allows it.

    Args:
        client: The registry's client.
        name: The registered name (always filtered on).
        equal: Tag or attribute conditions, e.g. ``{"tags.batch_status": "pending"}`` or ``{"run_id": r}``.
            Callers check them again on the versions returned: a registry that filters by name only
            returns all of the name's versions.
    """
    conditions = [f"name='{name}'"]
    if equal and rules(client).filters_versions_by_tag:
        conditions += [f"{key}='{value}'" for key, value in equal.items()]
    return " and ".join(conditions)
