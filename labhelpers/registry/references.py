"""Version references: turn ``azureml:NAME@latest``, ``models:/NAME/3``, ``NAME:3``... into one version.

Forms accepted (they mean the same on every backend):

========================  =====================================================================
``azureml:NAME@latest``   the highest version (Azure ML's only label)
``azureml:NAME:3``        version 3 (``azureml:NAME@3`` is refused: Azure reads ``3`` as a label)
``models:/NAME/3``        version 3
``models:/NAME/latest``   the highest version
``models:/NAME@alias``    the version holding the alias; where the registry has no aliases (Azure ML) the
                          version whose ``lifecycle`` tag is the alias (production, validated...)
``NAME@latest``           the highest version; ``NAME@alias`` as above
``NAME:3``                version 3
========================  =====================================================================

Which requests are made depends on what the registry answered before
(:mod:`labhelpers.registry.capabilities`), never on the URI's scheme.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry import capabilities
from labhelpers.registry.client import RegistryClient, is_not_found
from labhelpers.registry.throttling import registry_client

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

LATEST = "latest"
_AZURE = re.compile(r"^azureml:(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))$")
_MODELS = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<version>[^/@]+)|@(?P<label>[^/@]+))$")
_PLAIN = re.compile(r"^(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>[^:@/]+))$")


@dataclass(frozen=True)
class Reference:
    """A parsed reference: a name plus exactly one of a version number or a label (latest / an alias)."""

    name: str
    version: str | None = None
    label: str | None = None

    def azureml(self) -> str:
        """The Azure ML form (pinned versions as ``azureml:NAME:N``)."""
        return f"azureml:{self.name}:{self.version}" if self.version else f"azureml:{self.name}@{self.label}"


def parse_reference(text: str) -> Reference:
    """Parse a reference string without contacting any registry.

    Raises:
        RegistryError: The form is unknown, or is ``azureml:NAME@<number>`` (suggests ``azureml:NAME:N``).
    """
    text = (text or "").strip()
    # The prefix picks the form: "azureml:NAME" must not be read as a plain NAME:VERSION named "azureml".
    pattern = _AZURE if text.startswith("azureml:") else _MODELS if text.startswith("models:") else _PLAIN
    match = pattern.match(text)
    if not match:
        raise RegistryError(
            f"Cannot read the model reference {text!r}. Use one of: azureml:NAME@latest, azureml:NAME:3, "
            "models:/NAME/3, models:/NAME/latest, models:/NAME@alias, NAME@latest, NAME:3."
        )
    name, version, label = match["name"], match["version"], match["label"]
    if pattern is _AZURE and label and label != LATEST:
        hint = f"azureml:{name}:{label}" if label.isdigit() else f"azureml:{name}@latest"
        raise RegistryError(
            f"{text!r} is not a valid Azure ML reference: after '@' Azure ML expects a label and only "
            f"'latest' exists. Did you mean {hint!r}?"
        )
    if version is not None and version.lower() == LATEST:
        version, label = None, LATEST
    if version is not None and not version.isdigit():
        raise RegistryError(
            f"{text!r}: version {version!r} is not a number; use e.g. {name}:3 or {name}@latest."
        )
    return Reference(name, version, label)


def _versions(client: RegistryClient, name: str) -> list:
    return list(client.search_model_versions(f"name='{name}'"))


def _unknown_name(client: RegistryClient, name: str) -> RegistryError:
    from mlflow.exceptions import MlflowException

    try:
        known = sorted(m.name for m in client.search_registered_models())
    except MlflowException:  # MLflow 3 sends a tag filter Azure ML rejected (azure-sdk-for-python#42155)
        return RegistryError(f"No registered model named {name!r} (see the Models page for the names).")
    listed = ", ".join(known) if known else "none yet: register models first (notebook 02 or make run)"
    return RegistryError(f"No registered model named {name!r}. Registered models: {listed}.")


def _sorted_descending(versions: list) -> bool:
    numbers = [int(v.version) for v in versions]
    return numbers == sorted(numbers, reverse=True)


def _latest(client: RegistryClient, name: str) -> ModelVersion:
    """The highest version; one small ordered request once the registry proved it sorts (capabilities)."""
    known = capabilities.of(client).ordering
    if known:
        page = client.search_model_versions(f"name='{name}'", max_results=1, order_by=["version_number DESC"])
        if page:
            return page[0]
        raise _unknown_name(client, name)
    versions = None
    if known is None:  # ask once with the whole list, and check the answer really is sorted
        answer = capabilities.attempt(
            client,
            "ordering",
            client.search_model_versions,
            f"name='{name}'",
            order_by=["version_number DESC"],
        )
        if answer is not capabilities.UNSUPPORTED:
            versions = list(answer)
            if len(versions) > 1 and not _sorted_descending(versions):
                capabilities.learn(client, "ordering", False)  # accepted, but ignored
            elif len(versions) <= 1:
                capabilities.of(client).ordering = None  # too short to tell: ask again next time
    versions = _versions(client, name) if versions is None else versions
    if versions:
        return max(versions, key=lambda v: int(v.version))
    raise _unknown_name(client, name)


def _by_label(client: RegistryClient, name: str, label: str) -> ModelVersion:
    try:
        found = capabilities.attempt(client, "aliases", client.get_model_version_by_alias, name, label)
        if found is not capabilities.UNSUPPORTED:
            return found
    except Exception as error:
        if not is_not_found(error):  # a 403 or a timeout is not "no such alias"
            raise
        # no such alias: the lifecycle tag carries the state on every registry
    versions = _versions(client, name)
    if not versions:
        raise _unknown_name(client, name)
    holding = [v for v in versions if v.tags.get("lifecycle") == label]
    if not holding:
        states = sorted({v.tags.get("lifecycle", "none") for v in versions})
        raise RegistryError(
            f"{name} has no version with alias or lifecycle {label!r}; "
            f"lifecycles present: {', '.join(states)}."
        )
    return max(holding, key=lambda v: int(v.version))


def _exact(client: RegistryClient, name: str, version: str) -> ModelVersion:
    try:
        return client.get_model_version(name, version)
    except Exception as error:
        if not is_not_found(error):  # a 403 or a timeout is not "no such version"
            raise
        versions = _versions(client, name)
        if not versions:
            raise _unknown_name(client, name) from None
        numbers = ", ".join(sorted((v.version for v in versions), key=int))
        raise RegistryError(f"{name} has no version {version}; versions: {numbers}.") from None


def resolve(reference: str, client: RegistryClient | None = None) -> ModelVersion:
    """Resolve a reference to one concrete ``ModelVersion`` on the active backend.

    Args:
        reference: Any form listed in this module's docstring.
        client: An ``MlflowClient`` (default: one for the current tracking URI).

    Returns:
        The ``mlflow.entities.model_registry.ModelVersion``.

    Raises:
        RegistryError: Bad form, unknown name (lists the registered models) or unknown version (lists them).
    """
    ref = parse_reference(reference)
    client = registry_client(client)  # Azure ML's 429 and 503 retried on their own budget
    if ref.version:
        return _exact(client, ref.name, ref.version)
    if ref.label == LATEST:
        return _latest(client, ref.name)
    return _by_label(client, ref.name, ref.label or LATEST)
