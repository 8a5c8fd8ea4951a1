"""The promotion path: candidate -> validated -> production, with gates, an audit trail and rollback.

The lesson's steps, top-down in :func:`promote`: find the version; refuse a step out of order; at
``validated``, check that its run can be reproduced and recompute its metrics on the held-out set (the
validation gate); at ``production``, compare it with the version in production (the production gate), record
the move, archive the version it replaces and pin it in the deployment folder. Each move is recorded on the
version itself (:func:`~labhelpers.registry.moves.record_move`: the ``lifecycle`` tag, who, when, why, a JSON
history, an alias mirroring it where the registry has aliases); the evidence of the gate that decided it rides
on the returned :class:`Move`, shown as a table in a notebook.

A version the production gate refuses is recorded as ``rejected``: it loses ``@validated`` (no alias says it
passed) and reaches production only by an override, whose reason is recorded.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.catalog import reproducibility_problems
from labhelpers.registry.client import RegistryClient, is_not_found
from labhelpers.registry.moves import (
    ARCHIVED,
    CANDIDATE,
    PRODUCTION,
    REJECTED,
    VALIDATED,
    GateRefused,
    Move,
    actor_name,
    record_move,
    recorded_moves,
)
from labhelpers.registry.throttling import registry_client
from labhelpers.registry.validation import Check, production_check, recompute_metrics

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

NEXT = {CANDIDATE: VALIDATED, VALIDATED: PRODUCTION}


def promote(
    name: str,
    version: str | int,
    to: str,
    *,
    reason: str = "",
    validation_data: str | Path | None = None,
    override_reason: str | None = None,
    actor: str | None = None,
    client: RegistryClient | None = None,
    deployment_dir: str | Path | None = None,
) -> Move:
    """Move a version one step along candidate -> validated -> production.

    Args:
        name: Registered model name.
        version: Version number.
        to: ``"validated"`` or ``"production"``.
        reason: Why (recorded).
        validation_data: Path or URL of validation trips (default: the course's held-out set).
        override_reason: Promote to production despite the production gate's refusal (a regression, or a
            model under the floor), also a version it refused before (``rejected``); recorded on the version.
        actor: Who (default ``$LAB_ACTOR`` or the login name).
        client: An ``MlflowClient`` (default: the current tracking URI).
        deployment_dir: Deployment folder to pin production in (``production-models.yml``, the ``model:``
            line of ``production-deployment.yml``); None: only the ``lifecycle`` tag records production.

    Returns:
        The recorded move, with the gate's evidence (a table in a notebook).

    Raises:
        GateRefused: A gate refused; ``.move`` holds the evidence. At the production gate the version becomes
            ``rejected`` (``@validated`` removed), production and pins unchanged; at the validation gate
            nothing changes.
        RegistryError: Another refusal (validation, a step out of order); nothing changed.
    """
    from labhelpers.registry.catalog import require_version

    client = registry_client(client)
    mv = require_version(name, version, client)
    _check_step(mv, to, override_reason)
    if to == VALIDATED:
        return _validate(client, mv, validation_data, reason, actor)
    from labhelpers.registry.pinning import check_pinnable, pin_production

    if deployment_dir is not None:  # no file unless a folder is given; one that cannot take the pin refuses
        check_pinnable(name, deployment_dir)  # before the registry moves
    move = _to_production(client, mv, validation_data, reason, actor, override_reason)
    if deployment_dir is not None:
        pin_production(name, mv.version, deployment_dir)
    return move


def _check_step(mv: ModelVersion, to: str, override_reason: str | None) -> None:
    """Refuse a step out of order, and a rejected version to production without an override."""
    state = (mv.tags or {}).get("lifecycle", CANDIDATE)
    if state == REJECTED and to == PRODUCTION and not override_reason:
        raise RegistryError(
            f"{mv.name} version {mv.version} is {REJECTED!r}: the production gate refused it "
            f"({(mv.tags or {}).get('production_gate', 'see its lifecycle_reason tag')}) Register a better "
            "version, or pass override_reason='...' to promote it anyway (it is recorded)."
        )
    if NEXT.get(state) != to and not (state == REJECTED and to == PRODUCTION):
        allowed = NEXT.get(state)
        hint = (
            f"its next step is {allowed!r}" if allowed else "it cannot move further; promote a newer version"
        )
        raise RegistryError(f"{mv.name} version {mv.version} is {state!r}: cannot go to {to!r}; {hint}.")


def _validate(
    client: RegistryClient,
    mv: ModelVersion,
    validation_data: str | Path | None,
    reason: str,
    actor: str | None,
) -> Move:
    problems = reproducibility_problems(mv, _run_params(client, mv))
    if problems:
        raise RegistryError(f"{mv.name} version {mv.version} cannot be validated: {'; '.join(problems)}.")
    check = recompute_metrics(mv, validation_data)
    if not check.passed:
        state = (mv.tags or {}).get("lifecycle", CANDIDATE)
        why = f"refused at the validation gate: {check.summary}"
        unmoved = Move(
            mv.name, str(mv.version), state, state, actor_name(actor), "", why, tuple(check.evidence)
        )
        raise GateRefused(
            f"{mv.name} version {mv.version} failed validation: {check.summary} It stays {state!r} "
            "(no @validated); nothing changed.",
            unmoved,
        )
    extra = {f"validation_{k}": f"{v:.6g}" for k, v in check.metrics.items()}
    extra["validation_data_version"] = check.data_version
    return record_move(
        client, mv, VALIDATED, reason or f"validated: {check.summary}", actor, extra, check.evidence
    )


def _run_params(client: RegistryClient, mv: ModelVersion) -> dict | None:
    """The parameters of the version's training run; None when it has none or the registry has no such run.

    Any other failure (no permission, a timeout) is raised as it is: it says nothing about the run.
    """
    if not mv.run_id:
        return None
    try:
        return dict(client.get_run(mv.run_id).data.params)
    except Exception as error:
        if is_not_found(error):
            return None
        raise


def _to_production(
    client: RegistryClient,
    mv: ModelVersion,
    validation_data: str | Path | None,
    reason: str,
    actor: str | None,
    override_reason: str | None,
) -> Move:
    previous = current_production(mv.name, client)
    if previous is not None and previous.version == mv.version:
        raise RegistryError(f"{mv.name} version {mv.version} is already in production.")
    check = production_check(mv, validation_data, previous)
    extra: dict[str, str | None] = {"production_gate": check.summary}
    if previous is not None:
        extra["compared_with_production"] = f"{previous.version}: {check.summary}"
    if not check.passed and not override_reason:
        _refuse(client, mv, previous, check, actor, extra)
    if not check.passed:
        extra["override_reason"] = override_reason
    extra["production_since"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    why = reason or override_reason or "promoted"
    move = record_move(client, mv, PRODUCTION, why, actor, extra, check.evidence)
    if previous is not None:
        ended = {"production_until": move.at}
        record_move(client, previous, ARCHIVED, f"replaced by version {mv.version}", actor, ended)
    return move


def _refuse(
    client: RegistryClient,
    mv: ModelVersion,
    previous: ModelVersion | None,
    check: Check,
    actor: str | None,
    extra: dict,
) -> None:
    """Record the production gate's refusal (``rejected``, no ``@validated``) and raise it, evidence included.

    A version refused before is not recorded again: its tags and history already say so.
    """
    why = f"refused at the production gate: {check.summary}"
    if (mv.tags or {}).get("lifecycle") != REJECTED:
        refused = record_move(client, mv, REJECTED, why, actor, extra, check.evidence)
    else:
        refused = Move(
            mv.name, str(mv.version), REJECTED, REJECTED, actor_name(actor), "", why, tuple(check.evidence)
        )
    stays = f"Production stays at version {previous.version}" if previous else "Nothing is in production"
    raise GateRefused(
        f"Refused: {mv.name} version {mv.version} fails the production gate: {check.summary} {stays}; "
        f"version {mv.version} is now {REJECTED!r} (no @validated). "
        "To promote anyway, pass override_reason='...' (it is recorded).",
        refused,
    )


def current_production(name: str, client: RegistryClient | None = None) -> ModelVersion | None:
    """The version of ``name`` whose lifecycle is production, or None."""
    client = registry_client(client)
    holding = [
        v for v in client.search_model_versions(f"name='{name}'") if v.tags.get("lifecycle") == PRODUCTION
    ]
    return max(holding, key=lambda v: int(v.version)) if holding else None


def rollback(
    name: str,
    *,
    reason: str = "rollback",
    actor: str | None = None,
    client: RegistryClient | None = None,
    deployment_dir: str | Path | None = None,
) -> Move:
    """Return production to the version that held it before the current one, and record it.

    Safe to run again: when production already came back by a rollback (archived -> production), nothing
    changes and the returned move, not recorded, says so; a version that left production by a rollback
    returns only through the gates (``promote``).

    Raises:
        RegistryError: No version is in production, or none held it before.
    """
    client = registry_client(client)
    versions = client.search_model_versions(f"name='{name}'")
    current = [v for v in versions if v.tags.get("lifecycle") == PRODUCTION]
    if not current:
        raise RegistryError(f"{name} has no production version to roll back.")
    now = max(current, key=lambda v: int(v.version))
    if now.tags.get("lifecycle_from") == ARCHIVED:  # only a rollback brings an archived version back
        return _already_rolled_back(name, now)
    earlier = [v for v in versions if v.tags.get("production_until") and v.version != now.version]
    if not earlier:
        raise RegistryError(
            f"{name} version {now.version} is the first production version: nothing to return to."
        )
    # whole-second timestamps tie when production changed twice within a second: the higher version is newer
    previous = max(earlier, key=lambda v: (v.tags["production_until"], int(v.version)))
    from labhelpers.registry.pinning import check_pinnable, pin_production

    if deployment_dir is not None:
        check_pinnable(name, deployment_dir)
    record_move(
        client,
        now,
        ARCHIVED,
        f"rolled back: {reason}",
        actor,
        {"production_until": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    )
    move = record_move(
        client,
        previous,
        PRODUCTION,
        f"rollback from version {now.version}: {reason}",
        actor,
        {"production_since": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    )
    if deployment_dir is not None:  # as in promote: no file unless a folder is given
        pin_production(name, previous.version, deployment_dir)
    return move


def _already_rolled_back(name: str, now: ModelVersion) -> Move:
    """The move a second rollback reports, unrecorded: production stays where the first one put it."""
    why = (
        f"production is already rolled back: version {now.version} since "
        f"{now.tags.get('production_since', '?')} ({now.tags.get('lifecycle_reason', 'rollback')}); "
        "nothing changed. To replace it, promote a version through the gates."
    )
    by, at = now.tags.get("lifecycle_by", ""), now.tags.get("lifecycle_at", "")
    return Move(name, str(now.version), PRODUCTION, PRODUCTION, by, at, why)


def history(name: str, version: str | int, client: RegistryClient | None = None) -> list[dict]:
    """Every recorded move of one version, oldest first."""
    from labhelpers.registry.catalog import require_version

    mv = require_version(name, version, registry_client(client))
    return recorded_moves(mv.tags)
