"""The online endpoint and its two deployments: what notebook 04 pinned, deployed under the learner's names.

Notebook 04 (and ``python -m labhelpers course run``) keeps the run's own copy of ``ML/deployment`` in
``<output_dir>/deployment``, by default :data:`RUN_DEPLOYMENT_DIR` (``outputs/course/deployment``): its
``endpoint.yml`` names the learner's endpoint, its ``production-deployment.yml`` pins the learner's fare
model at the production version (``azureml:taxi-fare-linear-regression-<learner>:N``, written by
``promote``/``rollback``), its ``staging-deployment.yml`` names the same model ``@latest``
(:func:`labhelpers.course.session.run_deployment_dir` and :mod:`labhelpers.registry.pinning`). The commands
here name the files of that folder, never the tracked templates in ``ML/deployment``, whose placeholder
names (``taxi-fare-endpoint``, ``taxi-fare-linear-regression:1``) belong to nobody.

Every command names its workspace (``--resource-group``, ``--workspace-name``): the configured one where
labhelpers finds it (the variables or config.json, read offline), else placeholders to fill in. Each is
safe to type twice: the first-time commands create, the re-run commands update (``az ml online-deployment
create`` fails on a deployment that exists). Nothing here contacts Azure; the commands are for the
``az ml`` CLI, which signs in on its own (``az login``).
"""

from __future__ import annotations

import contextlib
import shlex
from dataclasses import dataclass
from pathlib import Path

from labhelpers.azure.ml.workspace import AzureError, workspace_names
from labhelpers.foundation import config
from labhelpers.foundation.config import DEPLOYMENT_DIR
from labhelpers.foundation.learner import Namespace, namespace

#: What the commands name when no workspace is configured here: fill in yours.
WORKSPACE_PLACEHOLDERS = ("<resource-group>", "<workspace-name>")
#: Where the course pins production by default: ``<output_dir>/deployment`` for notebook 04's default
#: ``output_dir`` (``../outputs/course`` from ``notebooks/``); a test keeps the two equal.
RUN_DEPLOYMENT_DIR = config.PROJECT_ROOT / "outputs" / "course" / "deployment"
#: The traffic split that tries staging on a tenth of the requests, and the one that ends the trial.
TRY_STAGING, ALL_TO_PRODUCTION = "production=90 staging=10", "production=100 staging=0"


@dataclass(frozen=True)
class Step:
    """One group of commands and when to type them."""

    when: str
    commands: tuple[str, ...]


def _shown(folder: Path) -> Path:
    with contextlib.suppress(ValueError):  # shorter commands from the repository root
        return folder.resolve().relative_to(config.PROJECT_ROOT)
    return folder


def deployment_steps(
    deployment_dir: str | Path | None = None,
    name: str | None = None,
    workspace: tuple[str, str] | None = None,
) -> list[Step]:
    """The ``az ml`` commands for the endpoint, grouped by when to type them (nothing is checked here).

    Args:
        deployment_dir: The deployment folder (default: :data:`RUN_DEPLOYMENT_DIR`, where notebook 04 pins).
        name: The endpoint name (default: the learner's, ``namespace().endpoint``: ``taxi-fare-<suffix>``).
        workspace: Resource group and workspace (default: the configured one, else the placeholders).
    """
    folder = _shown(Path(deployment_dir or RUN_DEPLOYMENT_DIR))
    endpoint = name or namespace().endpoint
    group, workspace_name = workspace or workspace_names() or WORKSPACE_PLACEHOLDERS
    production, staging = (f"--name {d} --endpoint-name {endpoint}" for d in ("production", "staging"))
    production_file, staging_file = folder / "production-deployment.yml", folder / "staging-deployment.yml"
    request = folder / "sample-request.json"
    steps = [
        Step(
            "once: create the endpoint and both deployments (production takes all traffic)",
            (
                f"az ml online-endpoint create --name {endpoint} --file {folder / 'endpoint.yml'}",
                f"az ml online-deployment create {production} --file {production_file} --all-traffic",
                f"az ml online-deployment create {staging} --file {staging_file}",
            ),
        ),
        Step(
            "after each promotion or rollback (production) or registration (staging), and on every re-run",
            (
                f"az ml online-deployment update {production} --file {production_file}",
                f"az ml online-deployment update {staging} --file {staging_file}",
            ),
        ),
        Step(
            "try both deployments with the sample request",
            tuple(
                f"az ml online-endpoint invoke --name {endpoint} --deployment-name {deployment} "
                f"--request-file {request}"
                for deployment in ("production", "staging")
            ),
        ),
        Step(
            "move traffic: a tenth to staging, then all of it back to production",
            tuple(
                f"az ml online-endpoint update --name {endpoint} --traffic {shlex.quote(split)}"
                for split in (TRY_STAGING, ALL_TO_PRODUCTION)
            ),
        ),
        Step(
            "when a deployment fails or answers 5xx: its inference server's log",
            (f"az ml online-deployment get-logs {production} --lines 100",),
        ),
        Step(
            "after class: delete the endpoint with both deployments (it costs money while it exists)",
            (f"az ml online-endpoint delete --name {endpoint} --yes",),
        ),
    ]
    where = f" --resource-group {group} --workspace-name {workspace_name}"
    return [Step(step.when, tuple(c + where for c in step.commands)) for step in steps]


def deployment_commands(
    deployment_dir: str | Path | None = None,
    name: str | None = None,
    workspace: tuple[str, str] | None = None,
) -> list[str]:
    """Every command of :func:`deployment_steps`, in order (same arguments)."""
    return [c for step in deployment_steps(deployment_dir, name, workspace) for c in step.commands]


def _run_04(names: Namespace) -> str:
    learner = f" --learner {names.learner}" if names.learner else ""
    return (
        f"run notebook 04 (or `python -m labhelpers course run{learner}`), which pins production there, "
        "or pass --deployment-dir <output_dir>/deployment"
    )


def check_deployment_dir(deployment_dir: str | Path | None = None, names: Namespace | None = None) -> str:
    """Check that the folder holds what notebook 04 pinned for this learner; return the production pin.

    Args:
        deployment_dir: The folder (default: :data:`RUN_DEPLOYMENT_DIR`).
        names: The learner's names (default: ``namespace()``, from ``$LAB_LEARNER``).

    Returns:
        The pinned production reference, ``azureml:<fare model>:N``.

    Raises:
        AzureError: The folder is the tracked templates, is missing a file, names another endpoint or
            model, or nothing was promoted to production yet; the message says what to run.
    """
    from labhelpers.foundation.errors import RegistryError
    from labhelpers.registry import pinning

    names = names or namespace()
    folder = Path(deployment_dir or RUN_DEPLOYMENT_DIR)
    model, run_04 = names.models["linear"], _run_04(names)
    if folder.resolve() == DEPLOYMENT_DIR.resolve():
        raise AzureError(
            f"{_shown(folder)} holds the tracked templates (placeholder endpoint and model names), never "
            f"what you deploy: {run_04}."
        )
    if not folder.is_dir():
        raise AzureError(f"No deployment folder at {_shown(folder)}: {run_04}.")
    files = [pinning.ENDPOINT_FILE, pinning.DEPLOYMENT_FILE, pinning.STAGING_FILE, "sample-request.json"]
    for file in files:
        if not (folder / file).is_file():
            raise AzureError(f"{_shown(folder / file)} is missing: {run_04}.")
    import yaml

    try:
        pins = pinning.read_pins(folder)
        deployed = pinning.deployed_model(folder)
        endpoint = yaml.safe_load((folder / pinning.ENDPOINT_FILE).read_text())
    except RegistryError as error:
        raise AzureError(str(error)) from None
    except yaml.YAMLError as error:
        where = _shown(folder / pinning.ENDPOINT_FILE)
        raise AzureError(f"{where} is not valid YAML ({error}): {run_04}.") from None
    named = endpoint.get("name") if isinstance(endpoint, dict) else None
    if named != names.endpoint:
        raise AzureError(
            f"{_shown(folder / pinning.ENDPOINT_FILE)} names endpoint {named!r}, but yours is "
            f"{names.endpoint!r}: that folder is another learner's run (pass --learner, or the right "
            f"--deployment-dir), or delete {_shown(folder)} and run notebook 04 again."
        )
    if model not in pins:
        raise AzureError(f"{_shown(folder)} pins no production version of {model} yet: {run_04}.")
    if deployed != pins[model]:
        raise AzureError(
            f"{_shown(folder / pinning.DEPLOYMENT_FILE)} deploys {deployed}, but production of {model} is "
            f"pinned at {pins[model]}: promote or roll back again so both agree."
        )
    return pins[model]
