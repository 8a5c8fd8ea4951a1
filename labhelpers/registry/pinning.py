"""Pin production versions into the deployment configuration under ``ML/deployment``.

Production is always a concrete version, ``azureml:NAME:N``: azure-ai-ml resolves ``@latest`` to whatever
version is newest when a deployment is created or updated, so a deployment that names it would ship an
unreviewed model at its next update.

The deployment YAML is rewritten with ruamel.yaml's round trip, so its comments, key order and ``$schema``
line stay as the author wrote them. ``production-models.yml`` is generated whole (its header says not to
edit it), so plain PyYAML writes it.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from labhelpers.files.artifacts import write_text_atomically
from labhelpers.foundation.config import DEPLOYMENT_DIR
from labhelpers.foundation.errors import RegistryError

if TYPE_CHECKING:
    from ruamel.yaml import YAML

PINS_FILE = "production-models.yml"
DEPLOYMENT_FILE = "production-deployment.yml"
STAGING_FILE = "staging-deployment.yml"
ENDPOINT_FILE = "endpoint.yml"
#: The endpoint name the tracked YAML files carry; a course run's copy carries the learner's instead.
PLACEHOLDER_ENDPOINT = "taxi-fare-endpoint"
_HEADER = (
    "# Production versions, written by labhelpers.registry.promotion (promote / rollback).\n"
    "# Do not edit by hand: promote or roll back instead, then commit this file with the deployment change.\n"
)
_RESTORE = "restore it (`git checkout -- {path}`) or fix it by hand, then promote again"


def pinned_reference(name: str, version: str | int) -> str:
    """``azureml:NAME:N``, the only form production may use."""
    if not str(version).isdigit():
        raise RegistryError(f"Production must pin a version number, got {version!r} for {name}.")
    return f"azureml:{name}:{version}"


def _safe_load(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RegistryError(f"{path} is not valid YAML ({error}); {_RESTORE.format(path=path)}.") from None


def read_pins(deployment_dir: str | Path | None = None) -> dict[str, str]:
    """The pinned production references by model name (empty when nothing was promoted yet)."""
    path = Path(deployment_dir or DEPLOYMENT_DIR) / PINS_FILE
    if not path.is_file():
        return {}
    pins = _safe_load(path) or {}
    if not isinstance(pins, dict):
        raise RegistryError(f"{path} should map model names to azureml:NAME:N; {_RESTORE.format(path=path)}.")
    return dict(pins)


def _round_trip() -> YAML:
    from ruamel.yaml import YAML

    parser = YAML()  # round-trip mode: comments, order and quoting are kept
    parser.preserve_quotes = True
    parser.width = 4096  # never fold a long line the author wrote on one
    return parser


def _deployment_document(deployment: Path, name: str) -> dict:
    """The deployment YAML as a round-trip mapping, checked to hold a ``model:`` line."""
    from ruamel.yaml import YAMLError

    try:
        document = _round_trip().load(deployment.read_text())
    except YAMLError as error:
        raise RegistryError(
            f"{deployment} is not valid YAML ({error}); {_RESTORE.format(path=deployment)}."
        ) from None
    if not isinstance(document, dict) or "model" not in document:
        raise RegistryError(
            f"{deployment} has no `model:` line, so production of {name} cannot be pinned there and "
            f"nothing was changed. Add a line `model: azureml:{name}:<version>`, or "
            f"{_RESTORE.format(path=deployment)}."
        )
    return document


def model_name_of(reference: object) -> str:
    """The model name of ``azureml:NAME:N``, ``azureml:NAME@latest`` or ``NAME``."""
    return str(reference).removeprefix("azureml:").replace("@", ":").split(":")[0]


def _deploys(document: dict, name: str) -> bool:
    """True when the deployment's ``model:`` names ``name`` (pinned, ``@latest`` or bare)."""
    return model_name_of(document["model"]) == name


def _load_round_trip(path: Path) -> dict:
    from ruamel.yaml import YAMLError

    try:
        document = _round_trip().load(path.read_text())
    except (OSError, YAMLError) as error:
        raise RegistryError(
            f"{path} cannot be read as YAML ({error}); {_RESTORE.format(path=path)}."
        ) from None
    if not isinstance(document, dict):
        raise RegistryError(f"{path} is not a YAML mapping; {_RESTORE.format(path=path)}.")
    return document


def name_deployment(deployment_dir: str | Path, endpoint: str, model: str) -> None:
    """Write ``endpoint`` into a deployment folder's three files, after checking they deploy ``model``.

    ``endpoint.yml`` gets ``name: <endpoint>`` and both deployments ``endpoint_name: <endpoint>`` (comments
    and everything else kept), so every file the ``az ml`` commands name says whose endpoint it is. Safe to
    run again: only a name that differs is rewritten.

    Raises:
        RegistryError: A file is missing or unreadable, or a deployment's ``model:`` names another model
            (the folder belongs to another learner, or to the course's own names); nothing is written.
    """
    folder = Path(deployment_dir)
    found = {}
    keys = {ENDPOINT_FILE: "name", DEPLOYMENT_FILE: "endpoint_name", STAGING_FILE: "endpoint_name"}
    for file, key in keys.items():
        path = folder / file
        if not path.is_file():
            raise RegistryError(
                f"{path} is missing: a deployment folder holds {ENDPOINT_FILE}, {DEPLOYMENT_FILE} and "
                f"{STAGING_FILE}. Delete {folder} to have it copied afresh from ML/deployment."
            )
        document = _load_round_trip(path)
        deploys = model_name_of(document.get("model", ""))
        if key == "endpoint_name" and deploys != model:
            raise RegistryError(
                f"{path} deploys {deploys!r}, not {model!r}: {folder} belongs "
                "to another learner's run (or to the course's own names). Use another output_dir, or delete "
                f"{folder} to have it copied afresh from ML/deployment; nothing was changed."
            )
        found[path] = (document, key)
    for path, (document, key) in found.items():
        if document.get(key) != endpoint:
            document[key] = endpoint
            buffer = io.StringIO()
            _round_trip().dump(document, buffer)
            write_text_atomically(path, buffer.getvalue())


def check_pinnable(name: str, deployment_dir: str | Path | None = None) -> None:
    """Refuse before any registry change when the deployment configuration could not take the pin.

    Raises:
        RegistryError: The deployment YAML or the pins file is unreadable, or the deployment has no
            ``model:`` line; the message names the file and how to repair it.
    """
    folder = Path(deployment_dir or DEPLOYMENT_DIR)
    read_pins(folder)
    if (folder / DEPLOYMENT_FILE).is_file():
        _deployment_document(folder / DEPLOYMENT_FILE, name)


def pin_production(name: str, version: str | int, deployment_dir: str | Path | None = None) -> str:
    """Record ``azureml:NAME:N`` as the production version of ``name``.

    Writes it to ``production-models.yml`` and, when ``production-deployment.yml`` deploys this model,
    rewrites that file's ``model:`` line (comments and everything else kept). Both files are checked before
    either is written.

    Returns:
        The pinned reference.

    Raises:
        RegistryError: A file is unreadable or the deployment has no ``model:`` line (nothing written).
    """
    folder = Path(deployment_dir or DEPLOYMENT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    reference = pinned_reference(name, version)
    pins = {**read_pins(folder), name: reference}
    deployment = folder / DEPLOYMENT_FILE
    rewritten = None
    if deployment.is_file():
        document = _deployment_document(deployment, name)
        if _deploys(document, name):
            document["model"] = reference
            buffer = io.StringIO()
            _round_trip().dump(document, buffer)
            rewritten = buffer.getvalue()
    write_text_atomically(
        folder / PINS_FILE, _HEADER + yaml.safe_dump(dict(sorted(pins.items())), sort_keys=False)
    )
    if rewritten is not None:
        write_text_atomically(deployment, rewritten)
    return reference


def deployed_model(deployment_dir: str | Path | None = None) -> str | None:
    """The ``model:`` reference of the production deployment YAML, if the file exists."""
    path = Path(deployment_dir or DEPLOYMENT_DIR) / DEPLOYMENT_FILE
    if not path.is_file():
        return None
    document = _safe_load(path) or {}
    return document.get("model") if isinstance(document, dict) else None
