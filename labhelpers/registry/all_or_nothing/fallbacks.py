"""The registry requests of batches and their repair, each with a fallback every registry serves.

Batches, their twin check and their repair are written for the requests Azure ML's MLflow API documents:
version search filtered by name only (``name='X'``), tag reads and writes, version deletes; registered models
there can never be deleted. Where a registry offers more, they use it: a search filtered on tags finds the
pending versions of a name without reading all of its versions (a name with 1,000 versions costs seconds to
read in full), and an empty registered model a dead batch created can be deleted.

Which registry offers what is learned from its own answers (:mod:`labhelpers.registry.capabilities`): the
first narrowed search or model delete is tried, and a refusal switches that client to the fallback for good.
"""

from __future__ import annotations

from labhelpers.registry import capabilities
from labhelpers.registry.client import RegistryClient


def search_versions(client: RegistryClient, name: str, equal: dict[str, str] | None = None) -> list:
    """The versions of ``name``, narrowed server-side by ``equal`` where the registry allows it.

    Args:
        client: The registry's client.
        name: The registered name (always filtered on).
        equal: Tag or attribute conditions, e.g. ``{"tags.batch_status": "pending"}`` or ``{"run_id": r}``.
            Callers check them again on the versions returned: a registry that filters by name only
            returns all of the name's versions.
    """
    by_name = f"name='{name}'"
    if equal:
        narrowed = " and ".join([by_name, *(f"{key}='{value}'" for key, value in equal.items())])
        found = capabilities.attempt(client, "version_filters", client.search_model_versions, narrowed)
        if found is not capabilities.UNSUPPORTED:
            return list(found)
    return list(client.search_model_versions(by_name))


def may_delete_models(client: RegistryClient) -> bool:
    """False once the registry refused to delete a whole registered model (Azure ML always does)."""
    return capabilities.of(client).model_delete is not False


def delete_empty_model(client: RegistryClient, name: str) -> bool:
    """Delete registered model ``name`` if it holds no version and the registry deletes models.

    Returns:
        True when it was deleted; False when it holds versions or the registry refused (learned, so the
        next call asks nothing).
    """
    if not may_delete_models(client) or search_versions(client, name):
        return False
    done = capabilities.attempt(client, "model_delete", client.delete_registered_model, name)
    return done is not capabilities.UNSUPPORTED
