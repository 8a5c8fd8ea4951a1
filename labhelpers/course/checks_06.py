"""The checks of the exercises of notebook 06: read a signature, describe a shared model, copy and delete.

Each ``check_06_N(answer, client)`` returns ``(passed, message)``; :func:`labhelpers.course.exercises.check`
calls them by number and turns that into a :class:`~labhelpers.course.exercises.Verdict`. A hint says what
is still missing, never the answer: no hint lists the signature's columns or names the version a copy came
from.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from labhelpers.foundation.errors import RegistryError
from labhelpers.foundation.learner import namespace

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from labhelpers.registry.client import RegistryClient

_COPY_SOURCE = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


def _production(client: RegistryClient, name: str) -> ModelVersion:
    """The version of ``name`` whose ``lifecycle`` tag is ``production``.

    Raises:
        RegistryError: None is (notebook 04 has not run): the hint says so.
    """
    for version in client.search_model_versions(f"name='{name}'"):
        if (version.tags or {}).get("lifecycle") == "production":
            return version
    raise RegistryError(f"{name} has no version in production: run notebook 04 first.")


def _input_names(name: str, version: str) -> list[str]:
    import mlflow.models

    signature = mlflow.models.get_model_info(f"models:/{name}/{version}").signature
    return signature.inputs.input_names() if signature is not None else []


def check_06_1(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The input column names of the production version's signature (any order, each once)."""
    linear = namespace().models["linear"]
    production = _production(client, linear)
    shape = "a list of column names (strings) read from the signature of the version in production"
    if answer is None:
        return False, f"put in `required` {shape}."
    try:
        given = [] if isinstance(answer, (str, bytes, dict)) else list(answer)
    except TypeError:  # a number, a version object...
        given = []
    if not given or not all(isinstance(item, str) for item in given):
        return False, f"`required` must be {shape}."
    expected = _input_names(linear, production.version)
    if len(set(given)) != len(given):
        return False, "a column is named twice in `required`: each input once."
    if set(given) == set(expected):
        return True, f"the production version (version {production.version}) requires {len(expected)} inputs."
    others = [v for v in client.search_model_versions(f"name='{linear}'") if v.version != production.version]
    for other in others:
        if set(given) == set(_input_names(linear, other.version)):
            lifecycle = (other.tags or {}).get("lifecycle", "no lifecycle")
            return False, (
                f"those are the inputs of version {other.version} ({lifecycle}), not of the version in "
                "production: take its number from the `lifecycle` tags."
            )
    extra = sorted(set(given) - set(expected))
    if extra:
        return False, f"{', '.join(map(repr, extra))}: not an input of the production version's signature."
    return False, f"{len(set(expected) - set(given))} of the signature's inputs are missing from `required`."


def check_06_2(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """The shared production model's own description names the newest copy's source model and version."""
    from mlflow.exceptions import MlflowException

    shared = namespace().shared_production
    try:
        model = client.get_registered_model(shared)
        copies = client.search_model_versions(f"name='{shared}'")
    except MlflowException:
        return False, f"there is no model {shared} yet: run section 4 of notebook 06 (the copy) first."
    newest = max(
        (v for v in copies if _COPY_SOURCE.match(v.source or "")), key=lambda v: int(v.version), default=None
    )
    found = _COPY_SOURCE.match(newest.source or "") if newest is not None else None
    if found is None:
        return False, f"{shared} holds no copy of a version: run section 4 of notebook 06 (the copy) first."
    text = (model.description or "").strip()
    if not text:
        described = [v.version for v in copies if (v.description or "").strip()]
        where = " (the descriptions of its versions are theirs, not the model's)" if described else ""
        return False, f"the registered model {shared} has no description of its own yet{where}."
    if found["name"] not in text:
        return False, f"the description of {shared} does not name the model its newest copy came from."
    rest = text.replace(found["name"], " ")  # a learner name may end in digits: "team-3"
    if not re.search(rf"(?<![\w.])v?{found['version']}(?!\.?\d)", rest):
        return False, (
            f"the description names {found['name']} but not the version its newest copy came from "
            "(read the copy's `source`)."
        )
    return True, f"{shared} says where its newest copy came from."


def check_06_3(answer: Any, client: RegistryClient) -> tuple[bool, str]:
    """A copy of the production version into the shared model, made by the learner, then deleted."""
    from mlflow.exceptions import MlflowException

    names = namespace()
    shared, linear = names.shared_production, names.models["linear"]
    if answer is None:
        return False, "keep what `copy_model_version` returns in `spare`, then pass it to the check."
    if not (hasattr(answer, "name") and hasattr(answer, "version") and hasattr(answer, "source")):
        return False, "pass the version object `copy_model_version` returned, not a number or a name."
    if answer.name != shared:
        own = " (never delete a version of the course's models)" if answer.name in names.model_names else ""
        return (
            False,
            f"`spare` is a version of {answer.name}: the copy goes to {shared} (`production_name`){own}.",
        )
    production = _production(client, linear)
    if answer.source != f"models:/{linear}/{production.version}":
        return False, f"`spare` was copied from {answer.source}, not from the version in production."
    try:
        client.get_model_version(shared, answer.version)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        return (
            True,
            f"version {answer.version} of {shared} is deleted; the version in production is untouched.",
        )
    return False, f"version {answer.version} of {shared} is still there: delete it."
