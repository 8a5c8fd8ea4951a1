"""Pin production versions into the deployment configuration under ``ML/deployment``.

Production is always a concrete version, ``azureml:NAME:N``: azure-ai-ml resolves ``@latest`` to whatever
version is newest when a deployment is created or updated, so a deployment that names it would ship an
unreviewed model at its next update.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from labhelpers.core.config import PROJECT_ROOT
from labhelpers.core.errors import RegistryError

DEPLOYMENT_DIR = PROJECT_ROOT / "ML" / "deployment"
PINS_FILE = "production-models.yml"
DEPLOYMENT_FILE = "production-deployment.yml"
_HEADER = (
    "# Production versions, written by labhelpers.registry.promotion (promote / rollback).\n"
    "# Do not edit by hand: promote or roll back instead, then commit this file with the deployment change.\n"
)


def pinned_reference(name: str, version) -> str:
    """``azureml:NAME:N``, the only form production may use."""
    if not str(version).isdigit():
        raise RegistryError(f"Production must pin a version number, got {version!r} for {name}.")
    return f"azureml:{name}:{version}"


def read_pins(deployment_dir: str | Path | None = None) -> dict[str, str]:
    """The pinned production references by model name (empty when nothing was promoted yet)."""
    path = Path(deployment_dir or DEPLOYMENT_DIR) / PINS_FILE
    if not path.is_file():
        return {}
    return dict(yaml.safe_load(path.read_text()) or {})


def pin_production(name: str, version, deployment_dir: str | Path | None = None) -> str:
    """Record ``azureml:NAME:N`` as the production version of ``name``.

    Writes it to ``production-models.yml`` and, when ``production-deployment.yml`` deploys this model,
    rewrites that file's ``model:`` line (comments and everything else kept).

    Returns:
        The pinned reference.
    """
    folder = Path(deployment_dir or DEPLOYMENT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    reference = pinned_reference(name, version)
    pins = {**read_pins(folder), name: reference}
    (folder / PINS_FILE).write_text(_HEADER + yaml.safe_dump(dict(sorted(pins.items())), sort_keys=False))
    deployment = folder / DEPLOYMENT_FILE
    if deployment.is_file():
        text = deployment.read_text()
        line = re.compile(rf"^model:\s*azureml:{re.escape(name)}(?:[:@][^\s#]*)?\s*$", re.MULTILINE)
        if line.search(text):
            deployment.write_text(line.sub(f"model: {reference}", text, count=1))
    return reference


def deployed_model(deployment_dir: str | Path | None = None) -> str | None:
    """The ``model:`` reference of the production deployment YAML, if the file exists."""
    path = Path(deployment_dir or DEPLOYMENT_DIR) / DEPLOYMENT_FILE
    if not path.is_file():
        return None
    return (yaml.safe_load(path.read_text()) or {}).get("model")
