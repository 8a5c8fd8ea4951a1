"""A small cohort at once on the classroom server, SIGKILL of MLflow and PostgreSQL mid-load, restart.

Eight simulated learners (threads of this process, each signed in with its own account) register two
batches, promote twice and roll back; each also tries to write to its neighbour's model. The 30-learner
version with latency figures is ``bench/bench_classroom.py``.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from bench.rehearsal import Outcome, Script, check_batches, rehearse


def _admin(classroom):
    from mlflow import MlflowClient

    from bench.rehearsal import learner_uri

    s, record, credentials = classroom
    uri = learner_uri(record["uri"], "instructor", credentials.instructor)
    return MlflowClient(uri, uri)


@pytest.fixture(scope="module")
def loaded(classroom, cohort, trained_dirs, validation_csv, tmp_path_factory):
    """The cohort's rehearsal, run once for this module: (outcomes, admin client)."""
    import mlflow

    _, record, credentials = classroom
    saved = {k: os.environ.pop(k, None) for k in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD")}
    os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = record["cert"]
    script = Script(record["uri"], trained_dirs, validation_csv, batches=2, promote=True)
    try:
        outcomes = rehearse({who: credentials.password(who) for who in cohort}, script)
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    mlflow.set_tracking_uri(None)  # type: ignore[arg-type]  # None resets it (MLflow's hint omits it)
    return outcomes, _admin(classroom)


def test_every_learner_registers_promotes_and_rolls_back_at_once(loaded, cohort):
    outcomes, admin = loaded
    assert {o.learner: o.failures for o in outcomes} == {who: [] for who in cohort}
    assert sum(len(batch["versions"]) for o in outcomes for batch in o.batches) == len(cohort) * 3 * 2
    assert check_batches(admin, outcomes) == []
    from labhelpers.registry.promotion import current_production

    for outcome in outcomes:  # rolled back: production is the first version again, in every namespace
        name = f"taxi-fare-linear-regression-{outcome.learner}"
        first = outcome.batches[0]["versions"][name]
        assert getattr(current_production(name, admin), "version", None) == first
        assert admin.get_model_version(name, first).tags["learner"] == outcome.learner


def test_no_learner_could_write_to_another_learners_model(loaded):
    outcomes, admin = loaded
    assert {o.cross_write for o in outcomes} == {"403"}
    assert {o.cross_read for o in outcomes} == {"200"}
    victims = [admin.get_registered_model(f"taxi-trip-kmeans-{o.learner}").tags for o in outcomes]
    assert all("intruder" not in tags for tags in victims)


def test_progress_shows_each_learner_where_they_got(loaded, classroom, spare):
    from labhelpers.classroom.progress import STEPS, progress

    outcomes, admin = loaded
    s, _, _ = classroom
    table = progress(state_dir=s.root, client=admin).set_index("learner")
    assert list(table.index)[: len(outcomes)] == [o.learner for o in outcomes]
    assert table.loc[[o.learner for o in outcomes], list(STEPS)].all().all()
    assert not table.loc[spare, list(STEPS)].any().any()


def test_reset_of_one_learner_empties_that_namespace_only(loaded, classroom, cohort):
    from labhelpers.classroom.reset import reset

    outcomes, admin = loaded
    s, record, credentials = classroom
    gone, kept = cohort[-1], cohort[0]
    before = len(admin.search_model_versions(f"name='taxi-trip-kmeans-{kept}'"))
    files = s.root / "artifacts" / admin.get_experiment_by_name(f"taxi-model-registry-{gone}").experiment_id
    assert any(path.is_file() for path in files.rglob("*"))
    said: list[str] = []
    assert reset([gone], state_dir=s.root, client=admin, echo=said.append, confirm=lambda _: "yes")
    assert any("removed for good" in line for line in said)
    assert admin.search_model_versions(f"name='taxi-trip-kmeans-{gone}'") == []
    assert admin.get_registered_model(f"taxi-trip-kmeans-{gone}").name  # prepared again, empty
    assert admin.get_experiment_by_name(f"taxi-model-registry-{gone}").lifecycle_stage == "active"
    assert len(admin.search_model_versions(f"name='taxi-trip-kmeans-{kept}'")) == before
    assert not any(path.is_file() for path in files.rglob("*"))  # artifacts removed too


def _kill_everything(s) -> None:
    from labhelpers.classroom import postgres, stack

    mlflow_pid = stack.mlflow_pid(s.root)
    assert mlflow_pid is not None
    os.killpg(mlflow_pid, signal.SIGKILL)
    cluster = postgres.Cluster(s.root / "postgres", s.pg_port, postgres.find_binaries(), None)
    postmaster = postgres.postmaster_pid(cluster)
    assert postmaster is not None
    os.kill(postmaster, signal.SIGKILL)


def test_sigkill_mid_load_loses_no_batch_that_reported_success(
    loaded, classroom, cohort, trained_dirs, validation_csv, no_signed_in_user
):
    from labhelpers.classroom import stack

    s, record, credentials = classroom
    script = Script(record["uri"], trained_dirs, validation_csv, batches=4, promote=False)
    outcomes: list[Outcome] = []
    passwords = {who: credentials.password(who) for who in cohort}
    load = threading.Thread(target=rehearse, args=(passwords, script, outcomes))
    load.start()
    deadline = time.monotonic() + 600
    while sum(len(o.batches) for o in outcomes) < 3 and time.monotonic() < deadline and load.is_alive():
        time.sleep(0.2)
    assert sum(len(o.batches) for o in outcomes) >= 3, [o.failures for o in outcomes]
    with pytest.MonkeyPatch.context() as fail_fast:
        # MLflow reads this on every request: the learners' calls to the dead server fail at once instead
        # of each retrying with backoff (about 30 s of waiting in all, which tests nothing)
        fail_fast.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        _kill_everything(s)
        load.join(timeout=900)
    assert not load.is_alive()
    assert any(o.failures for o in outcomes)  # the kill did land mid-load
    again = stack.start(s, timeout=240)
    assert not again["already_running"]
    admin = _admin(classroom)
    assert check_batches(admin, outcomes) == []  # every batch that reported success is there, complete
    # the restarted server serves again (two learners: the first signed-in requests after a restart check
    # password hashes, slow on a loaded machine; the load above already measured concurrency)
    two = dict(list(passwords.items())[:2])
    after = rehearse(two, Script(record["uri"], trained_dirs, validation_csv, batches=1, promote=False))
    assert [o.failures for o in after] == [[], []]
    assert check_batches(admin, after) == []
