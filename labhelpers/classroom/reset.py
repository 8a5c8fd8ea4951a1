"""Reset between cohorts: delete learners' models, runs and artifacts, after listing them and asking.

Only the names of the namespaces given are looked up, so nothing outside them can be touched. What goes
depends on the backend:

- a local or classroom MLflow server: the registered models (with their versions), the runs and the
  experiment; on this machine's classroom or local server the artifacts too (MLflow's ``gc``), after which
  the classroom prepares the learners' empty namespaces again;
- Azure ML: the model versions only. Azure ML cannot delete a registered model as a whole, so the empty
  containers stay (a new cohort's versions then start after the old numbers); runs stay in the workspace.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labhelpers.foundation.learner import namespace
from labhelpers.registry.client import RegistryClient
from labhelpers.tracking.connection import is_azure_uri

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Plan:
    """What a reset of one learner deletes."""

    learner: str
    versions: dict[str, list[str]] = field(default_factory=dict)  # model name -> version numbers
    experiments: dict[str, str] = field(default_factory=dict)  # experiment name -> id
    runs: dict[str, list[str]] = field(default_factory=dict)  # experiment id -> its run ids

    @property
    def experiment_ids(self) -> list[str]:
        return list(self.experiments.values())

    def lines(self, azure: bool) -> list[str]:
        """Human-readable lines, one per model and one for the runs."""
        out = []
        for name, numbers in self.versions.items():
            what = f"{len(numbers)} version(s) {', '.join(numbers)}" if numbers else "no versions"
            out.append(f"  {name}: {what}" + ("" if azure else " and the model itself"))
        if not azure:
            for name, experiment_id in self.experiments.items():
                out.append(f"  experiment {name}: {len(self.runs[experiment_id])} run(s) and artifacts")
        return out


def plan(client: RegistryClient, learner: str, azure: bool) -> Plan:
    """Look up what a reset of ``learner`` would delete (reads only the learner's own names).

    The learner's names: the course's three models and experiment, notebook 02's model and experiment
    registered by hand, and notebook 06's shared production model.
    """
    from mlflow.exceptions import MlflowException

    space = namespace(learner)
    found = Plan(learner)
    for name in (*space.model_names, space.by_hand, space.shared_production):
        try:
            versions = client.search_model_versions(f"name='{name}'")
        except MlflowException:
            continue  # no such model
        exists = versions or (not azure and _model_exists(client, name))
        if exists:
            found.versions[name] = sorted((str(v.version) for v in versions), key=int)
    for name in () if azure else (space.experiment, space.by_hand_experiment):
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            found.experiments[name] = experiment.experiment_id
            runs = client.search_runs([experiment.experiment_id], run_view_type=3, max_results=10000)
            found.runs[experiment.experiment_id] = [run.info.run_id for run in runs]
    return found


def _model_exists(client: RegistryClient, name: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
        return True
    except MlflowException:
        return False


def apply(client: RegistryClient, found: Plan, azure: bool) -> None:
    """Delete what ``found`` lists."""
    for name, numbers in found.versions.items():
        if azure:
            for number in numbers:
                client.delete_model_version(name, number)
        else:
            client.delete_registered_model(name)  # its versions go with it
    for experiment_id in [] if azure else found.experiment_ids:
        for run_id in found.runs[experiment_id]:
            client.delete_run(run_id)
        client.delete_experiment(experiment_id)


def _collect_garbage(
    state_dir: str | Path | None, uri: str, experiment_ids: list[str], signed_in_uri: str
) -> str:
    """Remove deleted runs and their artifacts for good on a server of this machine; says what it did."""
    from labhelpers.classroom import folder
    from labhelpers.foundation import config

    root = folder.home(state_dir)
    record = folder.read_record(root)
    if record.get("uri") == uri:
        secret = folder.secrets_of(root)
        store = f"postgresql+psycopg2://mlflow:{secret['postgres']}@127.0.0.1:{record['pg_port']}/mlflow"
        artifacts = root / "artifacts"
    elif uri == config.local_tracking_uri():
        store, artifacts = (
            f"sqlite:///{(config.state_dir() / 'mlflow.db').as_posix()}",
            config.state_dir() / "artifacts",
        )
    else:
        return "artifacts stay on that server until its operator runs `mlflow gc`"
    from mlflow.cli import gc

    # the artifacts are deleted through the server (mlflow-artifacts:/), signed in as the caller
    args = [
        "--backend-store-uri",
        store,
        "--artifacts-destination",
        str(artifacts),
        "--tracking-uri",
        signed_in_uri,
    ]
    if experiment_ids:
        args += ["--experiment-ids", ",".join(experiment_ids)]
    gc.main(args, standalone_mode=False)  # in this process: the database password stays out of `ps`
    return "runs, experiments and artifacts removed for good (mlflow gc)"


def _without_credentials(uri: str) -> str:
    """``uri`` without ``user:password@`` (a rehearsal's per-learner URIs carry them): for display and
    for recognising this machine's servers."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def reset(
    learners: list[str] | None = None,
    *,
    state_dir: str | Path | None = None,
    tracking_uri: str | None = None,
    dry_run: bool = False,
    assume_yes: bool = False,
    client: RegistryClient | None = None,
    confirm: Callable[[str], str] = input,
    echo: Callable[[str], object] = print,
) -> bool:
    """List what the learners' namespaces hold, ask, then delete it.

    Args:
        learners: Learner names (default: the classroom's roster).
        state_dir: Classroom folder.
        tracking_uri: Registry (default ``$MLFLOW_TRACKING_URI``, else the classroom as instructor).
        dry_run: Only list.
        assume_yes: Do not ask.
        client: An ``MlflowClient`` to use instead (tests).
        confirm: Asks the question and returns the answer (default: ``input``).
        echo: Prints a line.

    Returns:
        True when something was deleted.
    """
    from labhelpers.classroom.folder import instructor_client, roster_learners

    learners = learners or roster_learners(state_dir)
    client = client or instructor_client(state_dir, tracking_uri)
    uri = _without_credentials(str(client.tracking_uri))
    azure = is_azure_uri(uri)
    plans = [plan(client, learner, azure) for learner in learners]
    _show(plans, uri, azure, echo)
    if not _go_ahead(plans, dry_run, assume_yes, confirm, echo):
        return False
    for found in plans:
        apply(client, found, azure)
    if not azure:
        ids = [experiment_id for p in plans for experiment_id in p.experiment_ids]
        echo(f"Deleted; {_collect_garbage(state_dir, uri, ids, str(client.tracking_uri))}.")
        _prepare_again(state_dir, uri, learners)
    else:
        echo("Deleted the versions.")
    return True


def _show(plans: list[Plan], uri: str, azure: bool, echo: Callable[[str], object]) -> None:
    """Print what each learner's reset would delete."""
    echo(f"Reset of {len(plans)} learner namespace(s) on {uri}:")
    for found in plans:
        echo(f"{found.learner}:")
        echo("\n".join(found.lines(azure)) or "  nothing registered")
    if azure:
        echo(
            "Azure ML keeps the registered models themselves (it cannot delete them), only their versions go."
        )


def _go_ahead(
    plans: list[Plan],
    dry_run: bool,
    assume_yes: bool,
    confirm: Callable[[str], str],
    echo: Callable[[str], object],
) -> bool:
    """Whether to delete: there is something, this is no dry run, and it was confirmed (says why not)."""
    if not any(p.versions or p.experiments for p in plans):
        echo("Nothing to delete.")
        return False
    if dry_run:
        echo("Dry run: nothing was deleted.")
        return False
    if (
        not assume_yes
        and confirm("Delete all of the above? Type 'yes' to confirm: ").strip().lower() != "yes"
    ):
        echo("Nothing was deleted.")
        return False
    return True


def _prepare_again(state_dir: str | Path | None, uri: str, learners: list[str]) -> None:
    """On the classroom server, give the reset learners their empty, protected namespaces back."""
    from labhelpers.classroom import folder
    from labhelpers.classroom.accounts import sync_accounts
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials

    root = folder.home(state_dir)
    record, credentials = folder.read_record(root), load_credentials(root / CREDENTIALS_FILE)
    if record.get("uri") == uri and credentials is not None:
        known = [learner for learner in learners if learner in credentials.learners]
        sync_accounts(uri, record["cert"], credentials, known)
