"""The online endpoint and its two deployments: the commands that create them under your endpoint name.

The YAML files in ``ML/deployment`` carry the placeholder name ``taxi-fare-endpoint``; endpoint names must be
unique in an Azure region, so every command passes the name :func:`labhelpers.core.config.endpoint_name`
builds (the one place the suffix is chosen). Each command names its workspace (``--resource-group``,
``--workspace-name``): the configured one where labhelpers finds it (the variables or config.json, read
offline), else placeholders to fill in. Nothing here contacts Azure; the commands are for the ``az ml`` CLI,
which signs in on its own (``az login``).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from labhelpers.azure.workspace import workspace_names
from labhelpers.core import config
from labhelpers.core.config import DEPLOYMENT_DIR
from labhelpers.core.learner import namespace

#: What the commands name when no workspace is configured here: fill in yours.
WORKSPACE_PLACEHOLDERS = ("<resource-group>", "<workspace-name>")


def deployment_commands(
    deployment_dir: str | Path | None = None,
    name: str | None = None,
    workspace: tuple[str, str] | None = None,
) -> list[str]:
    """The ``az ml`` commands, in order: create the endpoint, both deployments, invoke, then delete it.

    Args:
        deployment_dir: The folder with the YAML files (default: ``ML/deployment``).
        name: The endpoint name (default: the learner's, ``namespace().endpoint``: ``taxi-fare-<suffix>``).
        workspace: Resource group and workspace name (default: the configured workspace, else
            :data:`WORKSPACE_PLACEHOLDERS`).
    """
    folder = Path(deployment_dir or DEPLOYMENT_DIR)
    with contextlib.suppress(ValueError):  # shorter commands from the repository root
        folder = folder.resolve().relative_to(config.PROJECT_ROOT)
    endpoint = name or namespace().endpoint
    group, workspace_name = workspace or workspace_names() or WORKSPACE_PLACEHOLDERS
    where = f" --resource-group {group} --workspace-name {workspace_name}"
    deployment = f"az ml online-deployment create --endpoint-name {endpoint} --file"
    commands = [
        f"az ml online-endpoint create --name {endpoint} --file {folder / 'endpoint.yml'}",
        f"{deployment} {folder / 'production-deployment.yml'} --all-traffic",
        f"{deployment} {folder / 'staging-deployment.yml'}",
        f"az ml online-endpoint invoke --name {endpoint} --deployment-name production "
        f"--request-file {folder / 'sample-request.json'}",
        f"az ml online-endpoint delete --name {endpoint} --yes",
    ]
    return [command + where for command in commands]
