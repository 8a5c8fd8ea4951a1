"""After class: one learner's Azure ML resources listed, then removed or put to rest.

What belongs to a learner follows the names the course gives them (:mod:`labhelpers.foundation.learner`): the
endpoint ``taxi-fare-<learner>`` with its deployments, the compute instance ``ci-<learner>`` (the name
docs/azure.md creates it under; ``instance=`` for another), and the versions of the learner's models
(``taxi-fare-linear-regression-<learner>``, the other two, notebook 02's ``taxi-fare-by-hand-<learner>`` and
notebook 06's ``taxi-fare-production-<learner>``).

What is done with each: the endpoint is deleted, which deletes its deployments (they cost money while they
exist); the compute instance is stopped (or deleted with ``delete_compute=True``); every active model
version is archived, which hides it from lists and keeps it restorable (``az ml model restore``). Azure ML
cannot delete a registered model as a whole. Everything goes through azure-ai-ml's ``MLClient`` (from
``connect("azure")``); azure-ai-ml is imported only inside the functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from labhelpers.foundation.learner import Namespace, namespace

#: The compute instance name docs/azure.md gives a learner's instance (``ci-<learner>``).
INSTANCE_PREFIX = "ci-"


@dataclass
class CleanupPlan:
    """What :func:`plan_cleanup` found for one learner."""

    learner: str
    endpoint: str | None = None  # the learner's endpoint, if it exists
    deployments: list[str] = field(default_factory=list)
    instance: str | None = None  # the learner's compute instance, if it exists
    instance_state: str = ""
    versions: list[tuple[str, str]] = field(default_factory=list)  # (model, version), active ones only

    def describe(self, delete_compute: bool = False) -> str:
        """The plan as lines a person reads before anything happens."""
        lines = [f"learner {self.learner}:"]
        if self.endpoint:
            with_them = ", ".join(self.deployments) or "no deployments"
            lines.append(f"  delete endpoint {self.endpoint} (with its deployments: {with_them})")
        else:
            lines.append("  no endpoint")
        if self.instance:
            verb = "delete" if delete_compute else "stop"
            lines.append(
                f"  {verb} compute instance {self.instance} (now {self.instance_state or 'unknown'})"
            )
        else:
            lines.append("  no compute instance")
        by_model: dict[str, list[str]] = {}
        for model, version in self.versions:
            by_model.setdefault(model, []).append(version)
        for model, versions in by_model.items():
            lines.append(f"  archive {model} version(s) {', '.join(versions)}")
        if not self.versions:
            lines.append("  no active model versions")
        return "\n".join(lines)

    @property
    def empty(self) -> bool:
        return not (self.endpoint or self.instance or self.versions)


def _not_found(error: Exception) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    return isinstance(error, ResourceNotFoundError)


def plan_cleanup(ml_client: Any, learner: str, instance: str | None = None) -> CleanupPlan:
    """List what belongs to ``learner`` in the workspace; changes nothing.

    Args:
        ml_client: An ``azure.ai.ml.MLClient`` for the workspace.
        learner: The learner (checked as every learner name is).
        instance: The learner's compute instance name (default ``ci-<learner>``).

    Raises:
        LearnerError: The learner name is invalid.
    """
    names: Namespace = namespace(learner)
    plan = CleanupPlan(names.learner or learner)
    try:
        plan.endpoint = ml_client.online_endpoints.get(names.endpoint).name
        plan.deployments = sorted(d.name for d in ml_client.online_deployments.list(names.endpoint))
    except Exception as error:
        if not _not_found(error):
            raise
    wanted = instance or f"{INSTANCE_PREFIX}{names.learner}"
    try:
        found = ml_client.compute.get(wanted)
        plan.instance, plan.instance_state = found.name, str(getattr(found, "state", "") or "")
    except Exception as error:
        if not _not_found(error):
            raise
    for model in (*names.model_names, names.by_hand, names.shared_production):
        try:
            versions = list(ml_client.models.list(name=model))  # active versions only (the default view)
        except Exception as error:
            if not _not_found(error):
                raise
            continue
        plan.versions += [(model, str(v.version)) for v in sorted(versions, key=lambda v: int(v.version))]
    return plan


def run_cleanup(
    ml_client: Any, plan: CleanupPlan, *, delete_compute: bool = False, echo: Callable[[str], object] = print
) -> list[str]:
    """Do what ``plan`` lists: delete the endpoint, stop (or delete) the instance, archive the versions.

    Each step is reported through ``echo`` as it finishes; a failure stops there and is raised, and the
    steps done so far stay done (running it again lists only what is left).

    Returns:
        One line per step done.
    """
    done = []

    def report(line: str) -> None:
        done.append(line)
        echo(line)

    if plan.endpoint:
        ml_client.online_endpoints.begin_delete(name=plan.endpoint).result()
        deployments = ", ".join(plan.deployments) or "none"
        report(f"deleted endpoint {plan.endpoint} and its deployments ({deployments})")
    if plan.instance:
        if delete_compute:
            ml_client.compute.begin_delete(plan.instance).result()
            report(f"deleted compute instance {plan.instance}")
        elif plan.instance_state.lower() in ("stopped", "stopping"):
            report(f"compute instance {plan.instance} is {plan.instance_state.lower()} already")
        else:
            ml_client.compute.begin_stop(plan.instance).result()
            report(f"stopped compute instance {plan.instance}")
    for model, version in plan.versions:
        ml_client.models.archive(name=model, version=version)
        report(f"archived {model} version {version}")
    return done
