"""The course notebooks, executed as a learner runs them, then checked through the registry.

- papermill runs 01 -> 05 against a fresh local server (its own port and state folder), with the small
  sample; the registry is then checked with ``MlflowClient``. The whole course then runs a second time
  against the same server through the Azure-rules stand-in (``AzureRulesProxy``) and under the learner
  ``ada``: the notebooks' by-hand cells meet Azure ML's refusals and take their fallbacks, the learner's
  models end in the same lifecycle state, and the seed's names are left untouched. Then every "Your turn"
  check is tried on the registry the course left: it refuses the untouched registry and a wrong answer, and
  accepts the reference solution from ``solutions/solutions.py``.
- nbval runs the notebooks against another fresh server and compares the cells tagged
  ``nbval-check-output`` with the outputs stored in the committed notebooks: a stale stored output fails.
- Bad input stops a notebook at the first cell that needs it, with the library's one-line message.

Executed notebooks are kept under ``build/test-notebooks/`` (git-ignored) so a failure can be read.

Stored outputs: the committed notebooks carry every cell's output (sanitized, no execution counts), written by
``make notebooks-outputs`` from a course run on a fresh server. nbval refuses stored outputs on a cell without
an execution count, so the copies nbval runs get a count on every cell that has outputs
(:func:`_prepare_for_nbval`); in ``--nbval-lax`` mode only the tagged cells are compared.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.entities.model_registry import ModelVersion

from labhelpers.azure.mlflow_api import rules as azure_rules
from labhelpers.course import kernels
from labhelpers.course import run as course
from labhelpers.course.exercises import check
from labhelpers.course.summary import summary
from labhelpers.foundation import config
from labhelpers.foundation.learner import EXPERIMENT, namespace
from labhelpers.foundation.provenance import default_owner
from labhelpers.local_server import control as local_server
from labhelpers.registry.pinning import deployed_model, read_pins

ROOT = config.PROJECT_ROOT
KEPT = ROOT / "build" / "test-notebooks"
SANITIZE = Path(__file__).with_name("sanitize.cfg")
LINEAR = config.LINEAR_MODEL_NAME
ADA = namespace("ada")  # the learner of the second course run
WORSE_FEATURES = "passenger_count,is_weekend"
SHIPPED_FEATURES = (
    "trip_distance,duration_min,pickup_hour,is_night,is_weekday_peak,is_weekend,passenger_count"
)


def _roles_of_04(versions, name: str) -> tuple[int, int, int, int]:
    """The fare versions notebook 04 works with, read from the registry, never assumed from 01-03's count.

    04 starts from 02's pick, registered by hand from the best training run (the newest version when 04
    starts), and from the pipeline's version (02's batch, trained on the meter's features: the shipped
    model); it registers two batches: the June retrain and the worse model. Returns (02's pick, shipped,
    June, worse).
    """
    newest = max(n for model, n in versions if model == name)
    shipped = min(
        n
        for model, n in versions
        if model == name and versions[(model, n)].tags["features"] == SHIPPED_FEATURES
    )
    return newest - 2, shipped, newest - 1, newest


def _assert_every_version_links_to_its_training_run(client, versions) -> None:
    """Each version's run is the run that trained it (01's steps and sweep, 04's retrains): it logged the
    parameters and the held-out metrics the version records, never a run made at registration."""
    for (name, number), version in versions.items():
        run = client.get_run(version.run_id)
        assert not run.info.run_name.startswith("register-"), (name, number, run.info.run_name)
        assert run.data.params.get("features"), (name, number)
        if "rmse" in version.tags:  # a fare model: the run measured the rmse the version records
            logged = {value for key, value in run.data.metrics.items() if key.endswith("rmse")}
            assert any(math.isclose(value, float(version.tags["rmse"]), rel_tol=1e-5) for value in logged)


def _batch(versions, member) -> dict:
    """The versions registered in one batch with ``member``, by model name."""
    batch_id = member.tags["lab.batch_id"]
    return {name: v for (name, _), v in versions.items() if v.tags.get("lab.batch_id") == batch_id}


def _assert_each_batch_has_all_three(versions, names: list[str], linear: str, worse: int) -> None:
    """The fare model has one version more than the others: 02's pick, registered by hand, alone."""
    expected = [(name, n) for name in sorted(names) for n in range(1, worse + (name == linear))]
    assert sorted(versions) == expected


# -o addopts=: the project's options are not nbval's; no cache folder in the temporary directory
NBVAL_OPTIONS = ["-p", "no:cacheprovider", "-o", "addopts=", "--nbval-lax", "--nbval-current-env"]
NBVAL_OPTIONS += ["--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "300"]


@contextlib.contextmanager
def _fresh_server(state: Path, port: int):
    info = local_server.start(
        port, state, timeout=180
    )  # generous, like the session server: machines can be loaded
    try:
        yield info
    finally:
        local_server.stop(info.port, state)


def _parameters(root: Path, data: Path | None) -> dict:
    """Small parameters, with every folder the notebooks write under ``root``.

    No ``deployment_dir``: the course pins into its run's own copy, ``<output_dir>/deployment``.
    """
    small = {"silhouette_sample": 2000, "output_dir": str(root / "outputs")}
    return {**small, "data": str(data)} if data else small


def _deployment(parameters: dict) -> Path:
    return Path(parameters["output_dir"]) / "deployment"


@pytest.fixture(scope="module")
def course_server(tmp_path_factory, free_port, seeded_state):
    """A fresh server for this module, exported as MLFLOW_TRACKING_URI (the kernels inherit it)."""
    with (
        _fresh_server(seeded_state(tmp_path_factory.mktemp("course-mlflow")), free_port()) as info,
        pytest.MonkeyPatch.context() as env,
    ):
        env.setenv("MLFLOW_TRACKING_URI", info.uri)
        env.setenv(config.PORT_ENV, str(info.port))  # backend="local" (notebook 05) means the lab's server
        yield info


@pytest.fixture
def kernel_server(tracking_uri, mlflow_server, monkeypatch):
    """The session's server for a notebook that registers nothing, as ``course_server`` exports its own."""
    monkeypatch.setenv(config.PORT_ENV, str(mlflow_server.port))
    return mlflow_server


@pytest.fixture(scope="module")
def client(course_server):
    from mlflow import MlflowClient

    return MlflowClient(course_server.uri, course_server.uri)


@pytest.fixture(scope="module")
def parameters(tmp_path_factory, sample_csv):
    return _parameters(tmp_path_factory.mktemp("course"), sample_csv)


def _run(folder: str, parameters: dict, learner: str | None = None, notebooks=course.NOTEBOOKS) -> float:
    started = time.monotonic()
    shutil.rmtree(KEPT / folder, ignore_errors=True)
    course.run_course(KEPT / folder, parameters, notebooks=notebooks, echo=None, learner=learner)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def first_run(nbval_job, course_server, parameters):
    """The whole course once, on the fresh server (nbval runs meanwhile); returns its duration in seconds."""
    repo_deployment = {p: p.read_text() for p in (ROOT / "ML" / "deployment").rglob("*") if p.is_file()}
    seconds = _run("first", parameters)
    assert {
        p: p.read_text() for p in (ROOT / "ML" / "deployment").rglob("*") if p.is_file()
    } == repo_deployment
    return seconds


def _versions(client, names=config.MODEL_NAMES) -> dict[tuple[str, int], ModelVersion]:
    return {
        (v.name, int(v.version)): v for name in names for v in client.search_model_versions(f"name='{name}'")
    }


def _production(client, name: str) -> list[int]:
    versions = _versions(client).items()
    return sorted(n for (model, n), v in versions if model == name and v.tags["lifecycle"] == "production")


def test_notebooks_are_clean_and_take_literal_parameters():
    import nbformat
    import papermill

    for name in course.NOTEBOOKS:
        path = course.NOTEBOOK_DIR / name
        notebook = nbformat.read(path, as_version=4)
        assert notebook.metadata.kernelspec.name == "python3", name
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{name}: {len(tagged)} parameters cells"
        code = [c for c in notebook.cells if c.cell_type == "code"]
        assert all(c.execution_count is None for c in code), f"{name}: stored execution counts"
        values = course.notebook_parameters(path)  # ast.literal_eval per assignment, or CourseError
        comments = [line for line in tagged[0].source.splitlines() if line.strip()]
        assert all("  # " in line for line in comments), f"{name}: a parameter without its comment"
        # papermill's own parser (papermill --help-notebook) skips lines with a second '=': it must see all
        assert set(papermill.inspect_notebook(str(path))) == set(values), name
        if name != "01_train_models.ipynb":
            assert values["backend"] == "local" and values["tracking_uri"] is None, name
            assert values["learner"] is None, name  # the seed's names unless a learner is given


def test_the_notebooks_show_the_registry_calls_by_hand():
    import nbformat

    def code_of(name):
        cells = nbformat.read(course.NOTEBOOK_DIR / name, as_version=4).cells
        return "\n".join(c.source for c in cells if c.cell_type == "code")

    calls = {
        "01_train_models.ipynb": [
            "mlflow.set_experiment(names.experiment)",
            "mlflow.start_run(",
            "mlflow.log_params(",
            "mlflow.log_metrics(",
            "mlflow.sklearn.log_model(",
            "signature=signature, input_example=",
            "mlflow.sklearn.save_model(",  # the Azure way where logged-models is refused
            "mlflow.log_artifacts(",
        ],
        "02_register_models.ipynb": [
            "mlflow.search_runs(",
            'order_by=["metrics.rmse ASC"], max_results=1',
            'mlflow.register_model(f"runs:/{run_id}/model"',
        ],
        "03_inspect_registry.ipynb": [
            'search_model_versions(f"name = ',
            'search_model_versions("tags.',
            "set_model_version_tag(",
            "get_model_version(",
            "client.get_run(",
        ],
        "04_pin_and_promote.ipynb": [
            'mlflow.sklearn.load_model(f"models:/{model_name}/{version}")',
            "score_fare_model(",
            "MetricThreshold(threshold=0.5 * baseline_rmse",
            "min_relative_change=0.0",
            "mlflow.validate_evaluation_results(",
            "except ModelValidationFailedException",
            'client.set_registered_model_alias(model_name, "production", candidate)',
            'client.set_registered_model_alias(model_name, "production", shipped)',  # the rollback by hand
            'client.set_model_version_tag(model_name, candidate, "lifecycle", "production")',
            "if has_aliases:",
            "get_model_version_by_alias(",
            'mlflow.pyfunc.load_model(f"models:/{model_name}/{candidate}")',
            'f"models:/{model_name}@production"',
            "azureml:{model_name}@3",
        ],
    }
    for name, expected in calls.items():
        missing = [call for call in expected if call not in code_of(name)]
        assert missing == [], name
    for name in course.NOTEBOOKS[:3]:  # a cell that teaches a call makes it bare, never through a helper
        assert "capabilities.attempt" not in code_of(name), name
        assert not re.search(r"lambda\s*:\s*(client|mlflow)\.", code_of(name)), name


def test_first_run_registers_promotes_and_pins(first_run, client, parameters):
    versions = _versions(client)
    assert {name for name, _ in versions} == set(config.MODEL_NAMES)
    best, shipped, june, worse = _roles_of_04(versions, LINEAR)
    _assert_each_batch_has_all_three(versions, list(config.MODEL_NAMES), LINEAR, worse)
    _assert_every_version_links_to_its_training_run(client, versions)
    for (name, number), version in versions.items():
        if "lab.batch_id" in version.tags:  # 02's version 2 of the fare model was registered by hand
            assert version.tags["lab.batch_status"] == "complete", (name, number)
        assert version.tags["git_commit"] != "unknown"
        assert version.tags["data_version"].startswith("sha256:")
        assert version.tags["owner"] == default_owner(), (name, number)
        if name != LINEAR:
            assert version.tags["lifecycle"] == "candidate", (name, number)
    assert versions[(LINEAR, worse)].tags["features"] == WORSE_FEATURES
    assert versions[(LINEAR, shipped)].tags["features"] == SHIPPED_FEATURES
    assert float(versions[(LINEAR, worse)].tags["rmse"]) > 2 * float(versions[(LINEAR, best)].tags["rmse"])
    # the shipped model (no rate codes) is measurably worse than 02-03's pick on the held-out set
    assert float(versions[(LINEAR, shipped)].tags["rmse"]) > 1.2 * float(
        versions[(LINEAR, best)].tags["rmse"]
    )
    # the retrained batch holds different models: other data, for both fare models; KMeans is re-registered
    retrained, pipeline = (
        _batch(versions, versions[(LINEAR, june)]),
        _batch(versions, versions[(LINEAR, shipped)]),
    )
    for name in (LINEAR, config.RIDGE_MODEL_NAME):
        assert retrained[name].tags["data_version"] != pipeline[name].tags["data_version"]
    kmeans = config.KMEANS_MODEL_NAME
    assert retrained[kmeans].tags["data_version"] == pipeline[kmeans].tags["data_version"]
    # by hand: shipped -> production, then the candidate; rolled back by hand; through promote() the candidate
    # replaces the shipped model; June is refused, overridden in, rolled back; the worse is never validated
    lifecycle = {n: versions[(LINEAR, n)].tags["lifecycle"] for n in (best, shipped, june, worse)}
    assert lifecycle == {best: "production", shipped: "archived", june: "archived", worse: "candidate"}
    assert _production(client, LINEAR) == [best]
    assert client.get_model_version_by_alias(LINEAR, "production").version == str(best)
    _assert_04_tells_the_truth_about_its_gates(client, versions)
    assert "Did you mean 'azureml:taxi-fare-linear-regression:3'?" in _cell_text(
        "first", "04_pin_and_promote.ipynb", "refuse-at-3"
    )
    pinned = f"azureml:{LINEAR}:{best}"
    assert read_pins(_deployment(parameters)) == {LINEAR: pinned}
    assert deployed_model(_deployment(parameters)) == pinned
    assert "agree: True" in _cell_text("first", "05_serve_pinned_model.ipynb", "agree")
    assert "the server's log holds it: True" in _cell_text(
        "first", "05_serve_pinned_model.ipynb", "answer-id"
    )
    refused = _cell_text("first", "05_serve_pinned_model.ipynb", "wrong-body")  # the server's own reason
    assert "answered HTTP 400: Bad request: " in refused and "without input_data (trip_distance" in refused
    assert _cell_text("first", "05_serve_pinned_model.ipynb", "exercise-1").startswith("05-1: not yet: ")
    _assert_01_03_tracked_and_linked(client, namespace())
    print(f"\nfirst course run: {first_run:.0f} s")


_GATE = re.compile(
    r"rmse (?P<candidate>\d+\.\d+) on the held-out data; floor <= (?P<floor>\d+\.\d+) \(x0\.5 of the "
    r"mean-fare baseline's rmse (?P<baseline>\d+\.\d+)\)(; production version (?P<production>\d+): "
    r"(?P<production_rmse>\d+\.\d+) \(must not be worse\))?"
)
_VALIDATION = re.compile(
    r"rmse (?P<candidate>\d+\.\d+) on the held-out data; recorded (?P<recorded>\d+\.\d+) "
    r"\((?P<reproduced>reproduced|NOT reproduced)[^)]*\); floor <= (?P<floor>\d+\.\d+)"
)


def _gate(text: str, pattern=_GATE) -> dict:
    found = pattern.search(text)
    assert found, text
    return {
        k: (v if k in ("production", "reproduced") else float(v))
        for k, v in found.groupdict().items()
        if v is not None
    }


def _assert_04_tells_the_truth_about_its_gates(client, versions) -> None:
    """What notebook 04's markdown says of each gate is what its outputs and the registry show.

    The June retrain's fate depends on the data notebook 01 trained production on: with the shipped sample
    (the stored outputs; nbval compares them) it is slightly worse and refused, with another sample it may
    pass. Either way the outputs must say what happened, with numbers that agree.
    """
    nb = "04_pin_and_promote.ipynb"
    best, shipped, june_number, worse_number = _roles_of_04(versions, LINEAR)
    # by hand: the floor alone for the shipped model, then 02-03's pick against it, on the same held-out trips
    assert f"version {shipped}: rmse " in _cell_text("first", nb, "first-gate")
    assert ": pass" in _cell_text("first", nb, "first-gate")
    by_hand = _cell_text("first", nb, "second-gate")
    assert f"version {best} against production version {shipped}: pass" in by_hand
    side_by_side = _cell_text("first", nb, "side-by-side").splitlines()
    assert side_by_side[-1].split() == ["verdict", "pass", "pass"]  # your gate, promote()'s: the same verdict
    for row in side_by_side[1:3]:  # the same numbers
        assert row.split()[-1] == row.split()[-2], row
    first = _cell_text("first", nb, "promote-first")  # the candidate replaces the shipped model
    assert "not worse than production   rmse" in first and f"production version {shipped}" in first
    assert "fail" not in first
    retrained, june = _cell_text("first", nb, "promote-retrained"), versions[(LINEAR, june_number)]
    june_gate = _gate(june.tags["production_gate"])
    assert june_gate["production"] == str(best) and june_gate["candidate"] <= june_gate["floor"]
    refused = "override_reason" in june.tags
    if refused:  # refused (slightly worse), then overridden on the record in section 10
        assert (
            f"Refused: taxi-fare-linear-regression version {june_number} fails the production gate"
            in retrained
        )
        assert june_gate["production_rmse"] < june_gate["candidate"] < 1.05 * june_gate["production_rmse"]
        assert f"version {june_number}: lifecycle rejected, aliases []" in _cell_text("first", nb, "refused")
        assert june.tags["override_reason"] == "course: ship June's trips despite the gate"
        assert "rejected -> production" in _cell_text("first", nb, "override")
    else:  # it passed: no worse than production, which it replaced; the override cell had nothing to do
        assert "validated -> production" in retrained and "fail" not in retrained
        assert june_gate["candidate"] <= june_gate["production_rmse"]
        assert _cell_text("first", nb, "override") == ""
    # the worse version: its file reproduces its record, no better than the mean fare: never validated
    text = _cell_text("first", nb, "refuse")
    worse = _gate(text, _VALIDATION)
    assert worse["reproduced"] == "reproduced" and worse["candidate"] > worse["floor"]
    assert f"version {worse_number} failed validation" in text and "It stays 'candidate'" in text
    # a refused version holds no alias that says it passed; nothing holds @validated at the end
    assert not {"validated", "production"} & set(client.get_model_version(LINEAR, str(worse_number)).aliases)
    assert client.get_model_version(LINEAR, str(june_number)).aliases == []
    assert "validated" not in client.get_registered_model(LINEAR).aliases
    # every version that entered production through the gate is no worse than the one it replaced
    for (name, number), version in versions.items():
        if name == LINEAR and "production_since" in version.tags and "override_reason" not in version.tags:
            gate = _gate(version.tags["production_gate"])
            assert gate["candidate"] <= gate.get("production_rmse", gate["floor"]), (number, gate)


def _assert_01_03_tracked_and_linked(client, names) -> None:
    """01's runs differ measurably; every version 02 made links to the training run that logged its model,
    and the fare model's version 2 is the sweep's best LinearRegression run, better than version 1."""
    experiment = client.get_experiment_by_name(names.experiment).experiment_id
    runs = {r.info.run_id: r for r in client.search_runs([experiment], max_results=1000)}
    sweep = {i: r for i, r in runs.items() if "model_type" in r.data.params and "rmse" in r.data.metrics}
    assert len(sweep) >= 7  # the run by hand and the nine of the sweep (on the small sample, all of them)
    assert len({round(r.data.metrics["rmse"], 2) for r in sweep.values()}) >= 6  # they differ measurably
    for name in names.model_names:
        first = client.get_model_version(name, "1")
        run = runs[first.run_id]  # a run of 01's experiment, not a registration run
        assert run.info.run_name in ("train-supervised", "train-unsupervised"), (name, run.info.run_name)
        key = first.source.rsplit("/", 1)[-1]
        assert f"{key}/MLmodel" in {f.path for f in client.list_artifacts(first.run_id, key)}
        if "rmse" in first.tags:  # the version's held-out metrics are the run's
            assert float(first.tags["rmse"]) == pytest.approx(run.data.metrics[f"{key}_rmse"], rel=1e-5)
    linear = names.models["linear"]
    second = client.get_model_version(linear, "2")
    best = min(
        (r for r in sweep.values() if r.data.params["model_type"] == "LinearRegression"),
        key=lambda r: r.data.metrics["rmse"],
    )
    assert second.run_id == best.info.run_id  # (its lifecycle is 04's business: production by the end)
    assert float(second.tags["rmse"]) == pytest.approx(best.data.metrics["rmse"], rel=1e-5)
    first_rmse = float(client.get_model_version(linear, "1").tags["rmse"])
    assert first_rmse - float(second.tags["rmse"]) > 1.0  # measurably better on the same held-out trips


def _state(client, names) -> dict:
    versions = _versions(client, names)
    return {key: (v.source, v.run_id, v.tags) for key, v in versions.items()}


def test_second_run_through_the_azure_rules_stand_in_under_a_learner(
    first_run, client, parameters, course_server
):
    """The course again, through the Azure-rules stand-in and as learner ``ada``: the same end state in ada's
    names, the seed's versions untouched.

    The by-hand cells of 01-04 meet the refusals Azure ML makes (MLflow 3's logged-models endpoint, a run
    search ordered by a metric, a tag filter on version search, aliases) and take the fallbacks the notebooks
    show. 01 tracks ada's own runs in ada's experiment.
    """
    seed = config.MODEL_NAMES
    before = _state(client, seed)
    own = {**parameters, "output_dir": str(Path(parameters["output_dir"]).with_name("outputs-ada"))}
    with azure_rules.AzureRulesProxy(course_server.uri) as proxy:
        seconds = _run("second", {**own, "tracking_uri": proxy.uri}, ADA.learner)
        refused = {rule for rule, _, _ in proxy.refused}
    expected_refusals = {
        azure_rules.LOGGED_MODELS,
        azure_rules.VERSION_FILTER,
        azure_rules.ALIASES,
        azure_rules.RUN_ORDER,  # 03 sorts the runs in pandas instead
    }
    assert {rule.name for rule in expected_refusals} <= refused, refused
    assert _state(client, seed) == before  # no seed version added or changed, not even a tag
    versions, linear = _versions(client, ADA.model_names), ADA.models["linear"]
    best, shipped, june, worse = _roles_of_04(versions, linear)
    _assert_each_batch_has_all_three(versions, list(ADA.model_names), linear, worse)
    assert {v.tags["learner"] for v in versions.values()} == {"ada"}
    # the same end state as the first run, with the lifecycle tag alone (no alias got through)
    lifecycle = {n: versions[(linear, n)].tags["lifecycle"] for n in (best, shipped, june, worse)}
    assert lifecycle == {best: "production", shipped: "archived", june: "archived", worse: "candidate"}
    assert read_pins(_deployment(own)) == {linear: f"azureml:{linear}:{best}"}
    assert deployed_model(_deployment(own)) == f"azureml:{linear}:{best}"
    assert "agree: True" in _cell_text("second", "05_serve_pinned_model.ipynb", "agree")
    _assert_01_03_tracked_and_linked(client, ADA)
    by_hand = _cell_text("second", "04_pin_and_promote.ipynb", "to-production")
    assert "no aliases here:" in by_hand and by_hand.endswith("{}")  # the by-hand cells took the Azure way
    assert "pass" in _cell_text("second", "04_pin_and_promote.ipynb", "second-gate")
    _assert_06_tells_the_truth(client, "second", ADA, course_server.uri)  # nothing 06 calls is refused
    print(f"\nsecond course run (01-06), through the Azure-rules stand-in, as ada: {seconds:.0f} s")


def test_summary_lists_models_pins_and_ui(first_run, course_server, parameters):
    text = summary(deployment_dir=_deployment(parameters))
    for name in config.MODEL_NAMES:
        assert f"  {name}: v" in text
    assert f"{LINEAR}: azureml:{LINEAR}:" in text and "(matches the registry)" in text
    assert text.splitlines()[-1] == f"MLflow UI: {course_server.uri}"


def _cell_text(folder: str, notebook: str, cell_id: str) -> str:
    import nbformat

    cell = next(
        c for c in nbformat.read(KEPT / folder / notebook, as_version=4).cells if c.get("id") == cell_id
    )
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def _prepare_for_nbval(folder: Path, parameters: dict) -> list[Path]:
    """Copies of the notebooks with the parameters injected and a count on each cell with outputs."""
    import nbformat
    import papermill

    sources = [course.NOTEBOOK_DIR / name for name in course.NOTEBOOKS]
    parameters = course.with_run_deployment(parameters, sources)
    copies = []
    for source, values in course.split_parameters(parameters, sources).items():
        target = folder / source.name
        folder.mkdir(parents=True, exist_ok=True)
        papermill.execute_notebook(
            str(source), str(target), parameters=values, prepare_only=True, kernel_name=kernels.KERNEL
        )
        notebook = nbformat.read(target, as_version=4)
        for (
            cell
        ) in notebook.cells:  # a checked cell without a stored output is compared too: it must have none
            if cell.cell_type == "code" and (
                cell.outputs or "nbval-check-output" in cell.metadata.get("tags", [])
            ):
                cell.execution_count = 1
        nbformat.write(notebook, target)
        copies.append(target)
    return copies


@pytest.fixture(scope="module")
def nbval_job(tmp_path_factory, free_port, seeded_state):
    """nbval over the notebooks on its own fresh server, started in the background.

    It runs while papermill executes the course (two cores: most of either run is waiting on a kernel or a
    server); :func:`test_nbval_checked_outputs_on_a_fresh_server` waits for it. Its report is kept beside
    the executed notebooks.
    """
    root = tmp_path_factory.mktemp("nbval")
    # the notebooks' own defaults (the shipped sample, the full silhouette sample): the stored outputs' run
    copies = _prepare_for_nbval(root / "notebooks", {"output_dir": str(root / "outputs")})
    report = KEPT / "nbval.log"
    report.parent.mkdir(parents=True, exist_ok=True)
    with _fresh_server(seeded_state(root / "mlflow"), free_port()) as info, open(report, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", *NBVAL_OPTIONS, "--rootdir", str(root), *map(str, copies)],
            cwd=root,
            env={**os.environ, "MLFLOW_TRACKING_URI": info.uri, config.PORT_ENV: str(info.port)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its kernels and scoring server go with it if it has to be killed
        )
        try:
            yield process, time.monotonic(), report
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_nbval_checked_outputs_on_a_fresh_server(nbval_job):
    process, started, report = nbval_job
    returncode = process.wait(timeout=600)
    summary = report.read_text().strip().splitlines()[-1]
    assert returncode == 0, report.read_text()[-8000:]
    assert "passed" in summary and "failed" not in summary and "error" not in summary, summary
    print(f"\nnbval: {summary} (finished {time.monotonic() - started:.0f} s after it started)")


def _stopped(notebook: str, values: dict, target: Path):
    """Run ``notebook`` with papermill until it stops; its error and the executed notebook's cells."""
    import nbformat
    import papermill

    target.parent.mkdir(parents=True, exist_ok=True)
    with pytest.raises(papermill.PapermillExecutionError) as caught:
        papermill.execute_notebook(
            str(course.NOTEBOOK_DIR / notebook),
            str(target),
            parameters=values,
            kernel_name=kernels.kernel_name(),
            cwd=str(course.NOTEBOOK_DIR),
            execution_timeout=120,
            progress_bar=False,
        )
    return caught.value, nbformat.read(target, as_version=4).cells


@pytest.mark.parametrize(
    ("notebook", "given", "cell_id", "ename", "message"),
    [
        ("01_train_models.ipynb", {"data": "/nonexistent/trips.csv"}, "load", "DataError",
         "/nonexistent/trips.csv: no such file"),
        ("02_register_models.ipynb", {"tracking_uri": "http://127.0.0.1:{closed}"}, "connect", "ServerError",
         "No MLflow server answers at http://127.0.0.1:{closed}. Start the local one with `make server`"),
        ("04_pin_and_promote.ipynb", {"model_name": "no-such-model"}, "latest", "RegistryError",
         "No registered model named 'no-such-model'. Registered models: "),
    ],
    ids=["missing-data-file", "unreachable-server", "unknown-model-reference"],
)  # fmt: skip
def test_bad_input_stops_at_the_first_cell_that_needs_it(
    notebook, given, cell_id, ename, message, free_port, request
):

    closed = free_port()  # nothing listens there
    values = {key: value.format(closed=closed) for key, value in given.items()}
    if notebook.startswith("04"):  # 01 and 02 have run (04 checks that first): only the model name is wrong
        request.getfixturevalue("first_run")
        values["output_dir"] = request.getfixturevalue("parameters")["output_dir"]
    else:  # stopped before any registry call: the session's server will do (tests/conftest.py GROUPS)
        request.getfixturevalue("kernel_server")
    error, cells = _stopped(notebook, values, KEPT / "bad-input" / notebook)
    assert error.ename == ename
    assert message.format(closed=closed) in error.evalue
    assert error.traceback == [f"{ename}: {error.evalue}"]  # one line, not a 40-line MLflow traceback
    failed = [c.id for c in cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert failed == [cell_id]
    later = cells[[c.get("id") for c in cells].index(cell_id) + 1 :]
    assert all(c.get("execution_count") is None for c in later if c.cell_type == "code")


@pytest.mark.parametrize(
    ("notebook", "ename", "first"),
    [
        ("02_register_models.ipynb", "TrainingError", "01"),
        ("03_inspect_registry.ipynb", "RegistryError", "02"),
        ("04_pin_and_promote.ipynb", "TrainingError", "01"),
        ("05_serve_pinned_model.ipynb", "RegistryError", "04"),
        ("06_govern_the_registry.ipynb", "RegistryError", "04"),
    ],
)  # fmt: skip
def test_a_notebook_run_too_early_says_which_to_do_first_in_one_line(
    kernel_server, notebook, ename, first, tmp_path
):
    """A learner (``zed``, who registered nothing) opens a notebook before the ones it builds on."""

    values = {"learner": "zed", "output_dir": str(tmp_path / "outputs")}
    if notebook.startswith("05"):
        values["deployment_dir"] = str(tmp_path / "outputs" / "deployment")
    error, cells = _stopped(notebook, values, KEPT / "out-of-order" / notebook)
    assert error.ename == ename and error.evalue.startswith(f"Do notebook {first} first: "), error.evalue
    assert error.traceback == [f"{ename}: {error.evalue}"]  # one line, no traceback
    failed = [c.id for c in cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert failed == ["connect"]


def test_course_command_prints_one_line_and_exits_2(tmp_path):
    command = ["course", "run", "--output-dir", str(tmp_path), "--set", "data=/nonexistent/trips.csv"]
    done = subprocess.run(
        [sys.executable, "-m", "labhelpers", *command], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith("error: 01_train_models.ipynb stopped at cell [")
    assert "DataError: /nonexistent/trips.csv: no such file" in errors[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "02_register_models.ipynb").exists()


def test_unknown_parameter_names_are_refused_before_anything_runs(tmp_path):
    with pytest.raises(
        course.CourseError, match=r"Unknown parameter\(s\) silhouete_sample; the notebooks take: "
    ):
        course.run_course(tmp_path, {"silhouete_sample": 2000})
    assert list(tmp_path.iterdir()) == []


def _solutions():
    import importlib.util

    spec = importlib.util.spec_from_file_location("solutions", ROOT / "solutions" / "solutions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def learner_registry(first_run, course_server, client):
    """The course server as the learner's kernel sees it: MLflow's default tracking and registry URI."""
    import mlflow

    before = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    mlflow.set_tracking_uri(course_server.uri)
    mlflow.set_registry_uri(course_server.uri)
    yield client
    mlflow.set_tracking_uri(before[0])
    mlflow.set_registry_uri(before[1])


def _refused(verdict) -> str:
    assert not verdict, f"accepted: {verdict}"
    return verdict.message


def _log_ridge(frame, alpha: float, feature_set: str, *, train_metrics: bool = False) -> str:
    """A learner's wrong answer to 01-1: a Ridge run logged like the reference, with one thing changed."""
    import mlflow
    import mlflow.sklearn
    from sklearn.linear_model import Ridge

    from labhelpers.training.features import supervised_xy
    from labhelpers.training.held_out import score_fare_model
    from labhelpers.training.sweep import FEATURE_SETS
    from labhelpers.training.train import regression_metrics

    features = FEATURE_SETS[feature_set]
    X, y = supervised_xy(frame, features)
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run() as run:
        model = Ridge(alpha=alpha).fit(X, y)
        params = {"model_type": "Ridge", "feature_set": feature_set, "features": ",".join(features)}
        mlflow.log_params({**params, "alpha": alpha})
        scores = (
            regression_metrics(y, model.predict(X)) if train_metrics else score_fare_model(model, features)
        )
        mlflow.log_metrics(scores)
        mlflow.sklearn.log_model(model, name="model", pip_requirements=["scikit-learn"])
    return run.info.run_id


def test_01_1_solution(learner_registry, sample_csv):
    from labhelpers import prepare_data

    frame = prepare_data(sample_csv)[0]
    assert "log a Ridge run with alpha 10" in _refused(check("01-1"))
    experiment = learner_registry.get_experiment_by_name(EXPERIMENT).experiment_id
    [linear] = learner_registry.search_runs(
        [experiment], "params.model_type = 'LinearRegression'", max_results=1
    )
    assert "the task asks for a Ridge" in _refused(check("01-1", linear.info.run_id))
    assert "alpha=1.0; the task asks for another" in _refused(check("01-1", _log_ridge(frame, 1.0, "all")))
    assert "on other features" in _refused(check("01-1", _log_ridge(frame, 10.0, "meter")))
    on_training_rows = _log_ridge(frame, 10.0, "all", train_metrics=True)  # not the held-out trips
    assert "scores differently on the held-out trips" in _refused(check("01-1", on_training_rows))
    assert check("01-1", _solutions().solve_01_1(frame))


def test_01_2_solution(learner_registry):
    client = learner_registry
    assert "lowest `metrics.rmse` in `best_ridge`" in _refused(check("01-2", client=client))
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    worst = client.search_runs([experiment], "params.model_type = 'Ridge'", order_by=["metrics.rmse DESC"])[0]
    assert "another Ridge run scores lower" in _refused(check("01-2", worst.info.run_id, client=client))
    linear = "params.model_type = 'LinearRegression'"  # the best of the other model: a search without filter
    best_linear = client.search_runs([experiment], linear, order_by=["metrics.rmse ASC"])[0].info.run_id
    assert "asks for the Ridge runs" in _refused(check("01-2", best_linear, client=client))
    assert check("01-2", _solutions().solve_01_2(), client=client)


def test_02_1_solution(learner_registry):
    import mlflow

    from labhelpers.registry.register import tags_from_run

    client, ridge = learner_registry, config.RIDGE_MODEL_NAME
    assert "not one of notebook 01's Ridge runs" in _refused(check("02-1", client=client))  # the pipeline's
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    ordered = client.search_runs([experiment], "params.model_type = 'Ridge'", order_by=["metrics.rmse ASC"])
    worst, best = ordered[-1].info.run_id, ordered[0].info.run_id
    mlflow.register_model(f"runs:/{worst}/model", ridge, tags=tags_from_run(worst))
    assert "another Ridge run scores lower" in _refused(check("02-1", client=client))
    mlflow.register_model(f"runs:/{best}/model", ridge)  # the right run, without the course's tags
    assert "lacks the version tags" in _refused(check("02-1", client=client))
    _solutions().solve_02_1(default_owner())
    assert check("02-1", client=client)


def test_02_2_solution(learner_registry):
    client = learner_registry
    assert "version 2 has no description yet" in _refused(check("02-2", client=client))
    client.update_model_version(LINEAR, "1", description="The pipeline's model.")  # another version
    described = _refused(check("02-2", client=client))  # 04's registrations carry descriptions too
    assert re.search(r"\(versions? 1(, \d+)*: not the one asked for\)", described), described
    rmse_1 = float(client.get_model_version(LINEAR, "1").tags["rmse"])
    client.update_model_version(LINEAR, "2", description=f"Best run of the sweep: rmse {rmse_1:.2f}.")
    assert "gives no rmse matching its run's" in _refused(check("02-2", client=client))
    _solutions().solve_02_2("2")
    assert check("02-2", client=client)


def test_03_1_solution(learner_registry):
    import mlflow.pyfunc

    from labhelpers.course.checks_01_03 import fare_trips

    client, trips = learner_registry, fare_trips()
    assert "with mlflow.pyfunc.load_model" in _refused(check("03-1", client=client))
    latest = [float(f) for f in mlflow.pyfunc.load_model(f"models:/{LINEAR}/2").predict(trips)]
    assert "those are the fares of version 2, not version 1" in _refused(check("03-1", latest, client=client))
    fares = _solutions().solve_03_1(trips)
    assert "of the 5 fares differ" in _refused(check("03-1", fares[::-1], client=client))
    assert check("03-1", fares, client=client)


def test_03_2_solution(learner_registry):
    client, ridge = learner_registry, config.RIDGE_MODEL_NAME
    assert "open its run with get_run(run_id)" in _refused(check("03-2", client=client))
    metrics = client.get_run(client.get_model_version(ridge, "1").run_id).data.metrics
    linear = metrics["linear_regression_rmse"]  # the same run trained both fare models
    assert "read the Ridge's rmse" in _refused(check("03-2", linear, client=client))
    newest = max(client.search_model_versions(f"name='{ridge}'"), key=lambda v: int(v.version))
    other = client.get_run(newest.run_id).data.metrics.get("rmse", 99.0)
    assert "follow that version's run_id" in _refused(check("03-2", other, client=client))
    assert check("03-2", _solutions().solve_03_2(), client=client)


def test_04_1_solution(learner_registry):
    from labhelpers.registry.references import resolve

    latest = resolve(f"{LINEAR}@latest", learner_registry).version
    assert "with the lowest rmse in `best`" in _refused(check("04-1", client=learner_registry))
    assert "That is @latest" in _refused(check("04-1", latest, client=learner_registry))
    assert check("04-1", _solutions().solve_04_1(LINEAR), client=learner_registry)


def test_04_2_solution(learner_registry):
    production = _production(learner_registry, LINEAR)[0]
    refused = _refused(check("04-2", f"azureml:{LINEAR}@3", client=learner_registry))
    assert "a version number after a colon" in refused and ":3" not in refused
    assert "@latest moves" in _refused(check("04-2", f"azureml:{LINEAR}@latest", client=learner_registry))
    other = f"azureml:{LINEAR}:{production + 1}"
    assert "not the one in production" in _refused(check("04-2", other, client=learner_registry))
    assert check("04-2", _solutions().solve_04_2(LINEAR), client=learner_registry)


def test_05_1_solution(learner_registry, parameters, tmp_path):
    import pandas as pd
    import requests

    from labhelpers.serving.inference import (
        SAMPLE_REQUEST,
        read_sample_request,
        request_body,
        serve_inference,
    )
    from labhelpers.serving.scoring import pinned_version

    client, trips = learner_registry, read_sample_request(SAMPLE_REQUEST)
    assert "build a trip of your own" in _refused(check("05-1", (None, None), client=client))
    sample_trip = trips.iloc[0].to_dict()
    assert "in the sample request already" in _refused(check("05-1", (sample_trip, [10.0]), client=client))
    inference = serve_inference(pinned_version(LINEAR, _deployment(parameters), client), log_dir=tmp_path)
    try:
        my_trip, my_fare = _solutions().solve_05_1(inference, trips)
        sample_fare = inference.invoke(trips.head(1))  # the answer for another trip
        # the same trip sent with requests.post, the response kept whole, is right too; its JSON alone is not
        body = request_body(pd.DataFrame([my_trip]))
        posted = requests.post(f"{inference.url}/score", json=body, timeout=30)
        assert check("05-1", (my_trip, posted), client=client)
        assert "keep the response itself" in _refused(check("05-1", (my_trip, posted.json()), client=client))
    finally:
        inference.stop()
    assert "send `my_trip` with" in _refused(check("05-1", (my_trip, None), client=client))
    wrong = _refused(check("05-1", (my_trip, sample_fare), client=client))
    assert "for another trip than `my_trip`" in wrong and f"{my_fare[0]:.2f}" not in wrong
    in_process = list(my_fare)  # the right number, but not the server's answer
    assert "must be what `inference.invoke(...)` returned" in _refused(
        check("05-1", (my_trip, in_process), client=client)
    )
    assert check("05-1", (my_trip, my_fare), client=client)


def test_04_3_solution(learner_registry):
    from mlflow.models import MetricThreshold

    from labhelpers.training.held_out import held_out_trips

    floor = _solutions().solve_04_3(held_out_trips()[0])["rmse"].threshold
    assert "put your gate in `my_gate`" in _refused(check("04-3", client=learner_registry))
    course_gate = {"rmse": MetricThreshold(threshold=floor, min_relative_change=0.0, greater_is_better=False)}
    assert "passed a version equal to production" in _refused(
        check("04-3", course_gate, client=learner_registry)
    )
    no_floor = {"rmse": MetricThreshold(min_relative_change=0.01, greater_is_better=False)}
    assert "passed a model that learned little" in _refused(check("04-3", no_floor, client=learner_registry))
    assert check("04-3", _solutions().solve_04_3(held_out_trips()[0]), client=learner_registry)


def test_05_2_solution(learner_registry):
    from labhelpers.registry.references import resolve
    from labhelpers.serving.inference import SAMPLE_REQUEST, read_sample_request

    client, trips = learner_registry, read_sample_request(SAMPLE_REQUEST)
    production = _production(client, LINEAR)[0]
    latest = int(resolve(f"{LINEAR}@latest", client).version)
    assert latest != production  # the worse version was registered after production's
    assert "put the models:/ URI" in _refused(check("05-2", (None, None), client=client))
    assert "which is not in production" in _refused(
        check("05-2", (f"models:/{LINEAR}/latest", None), client=client)
    )
    assert "which is not in production" in _refused(
        check("05-2", (f"models:/{LINEAR}/{latest}", None), client=client)
    )
    assert "a models:/ URI here" in _refused(
        check("05-2", (f"azureml:{LINEAR}:{production}", None), client=client)
    )
    uri, fares = _solutions().solve_05_2(LINEAR, trips)
    assert uri == f"models:/{LINEAR}@production"  # the local server has aliases
    import mlflow.pyfunc

    other = list(mlflow.pyfunc.load_model(f"models:/{LINEAR}/{latest}").predict(trips))  # @latest's fares
    assert "is not what that version predicts" in _refused(check("05-2", (uri, other), client=client))
    assert "is not what that version predicts" in _refused(check("05-2", (uri, fares[:1]), client=client))
    assert check("05-2", (f"models:/{LINEAR}/{production}", fares), client=client)
    assert check("05-2", (uri, fares), client=client)


GOVERN = "06_govern_the_registry.ipynb"


def _printed(folder: str, cell_id: str) -> str:
    """What a cell of notebook 06 printed or returned, without MLflow's messages on stderr."""
    import nbformat

    cells = nbformat.read(KEPT / folder / GOVERN, as_version=4).cells
    cell = next(c for c in cells if c.get("id") == cell_id)
    shown = [o for o in cell.outputs if o.get("name") != "stderr"]
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in shown)


def _assert_06_tells_the_truth(client, folder: str, names, tracking_uri: str) -> None:
    """Notebook 06's outputs say what its markdown says, and the registry shows the same.

    It governed the version in production (read from the ``lifecycle`` tags), moved no alias of the fare
    model, copied that version into the shared production model, and archived, then deleted, only its
    own copy.
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.models import Model

    linear, shared = names.models["linear"], names.shared_production
    versions = client.search_model_versions(f"name='{linear}'")
    (production,) = [v for v in versions if v.tags["lifecycle"] == "production"]
    number, uri = production.version, f"models:/{linear}/{production.version}"
    assert client.get_registered_model(linear).aliases.get("production", number) == number  # not moved
    assert _printed(folder, "production") == (
        f"in production: {uri} (held-out rmse {production.tags['rmse']})\n"
    )
    files = client.get_model_version_download_uri(linear, number)
    mlmodel = mlflow.artifacts.download_artifacts(artifact_uri=f"{files}/MLmodel", tracking_uri=tracking_uri)
    inputs = Model.load(mlmodel).signature.inputs.input_names()
    assert all(f"'{name}': double" in _printed(folder, "signature") for name in inputs)
    # refused, naming the missing column; refused, naming the wrong-typed one; numbers as text pass
    assert _printed(folder, "missing") == (
        f"INVALID_PARAMETER_VALUE | Model is missing inputs ['{inputs[0]}'].\n"
    )
    wrong_type = f"Failed to convert column {inputs[0]} from type object to DataType.double."
    assert _printed(folder, "wrong-type") == f"INVALID_PARAMETER_VALUE | {wrong_type}\n"
    assert _printed(folder, "converted") == "same fares: True\n"
    # the release: a copy of the production version, with its run and tags, under the shared name
    copied = re.fullmatch(
        rf"{shared} version (\d+): source {uri}\nsame run: True, lifecycle tag copied: production\n",
        _printed(folder, "copy"),
    )
    assert copied, _printed(folder, "copy")
    released = client.get_model_version(shared, copied[1])
    assert released.source == uri and released.run_id == production.run_id
    assert released.description.startswith(f"Release of {uri}. ")
    described = client.get_registered_model(linear).description
    assert _printed(folder, "describe").splitlines() == [described, f"Release of {uri}"]
    # the copy made by mistake: archived (a tag, still listed), then deleted; the release stays
    mistake = str(int(copied[1]) + 1)
    assert _printed(folder, "archive") == (
        f"version {mistake}: lifecycle archived, aliases [], still listed: True\n"
    )
    assert _printed(folder, "delete") == (
        f"version {mistake} deleted: still listed: False; the release, version {copied[1]}, stays: True\n"
    )
    with pytest.raises(MlflowException, match="RESOURCE_DOES_NOT_EXIST"):
        client.get_model_version(shared, mistake)
    # no accounts on this server: the cell says so and what the classroom answers (tested in the classroom
    # tier: tests/integration/classroom/test_course_as_learner.py)
    who = _printed(folder, "who")
    assert "the lab's local server checks no accounts" in who and "HTTP 403 PERMISSION_DENIED" in who
    logged = _printed(folder, "logged-model")
    if production.model_id:
        assert f"comes from LoggedModel {client.get_logged_model(production.model_id).name!r}" in logged
    else:
        assert logged == f"version {number}: model_id None (registered from files logged to a run)\n"
    for k in (1, 2, 3):
        assert _printed(folder, f"exercise-{k}").startswith(f"06-{k}: not yet: ")


def test_06_governs_the_production_version_and_tells_the_truth(first_run, client, course_server):
    _assert_06_tells_the_truth(client, "first", namespace(None), course_server.uri)


def test_06_makes_its_governance_calls_bare():
    import nbformat

    cells = nbformat.read(course.NOTEBOOK_DIR / GOVERN, as_version=4).cells
    code = "\n".join(c.source for c in cells if c.cell_type == "code")
    calls = [
        "mlflow.models.get_model_info(production_uri)",
        "mlflow.pyfunc.load_model(production_uri",
        "model.predict(trips.drop(columns=",
        "client.copy_model_version(production_uri, production_name)",
        "client.update_registered_model(",
        "client.update_model_version(",
        'client.set_model_version_tag(production_name, mistake.version, "lifecycle", "archived")',
        "client.delete_model_version(production_name, mistake.version)",
        'client.set_registered_model_alias(target, "production"',
        "client.get_logged_model(",
    ]
    assert [call for call in calls if call not in code] == []
    assert "capabilities" not in code and "labhelpers.registry" not in code  # MLflow's calls, no helper


def test_06_az_ml_commands_use_flags_the_ml_extension_accepts():
    import nbformat
    import yaml

    flags = yaml.safe_load((ROOT / "tests/unit/azure/az_ml_flags.yaml").read_text())
    cells = nbformat.read(course.NOTEBOOK_DIR / GOVERN, as_version=4).cells
    text = "\n".join(c.source for c in cells if c.cell_type == "markdown").replace("\\\n>", "")
    commands = re.findall(r"^> (az ml .*)$", text, re.M)
    assert {" ".join(c.split()[2:4]) for c in commands} == {"model archive", "model restore", "model share"}
    for command in commands:
        words = command.split()
        spec = flags["commands"][" ".join(words[2:4])]
        accepted = {*spec["flags"], *flags["common"], *flags["global"]}
        assert [w for w in words[4:] if w.startswith("-") and w not in accepted] == [], command


def test_06_1_solution(learner_registry):
    from mlflow.models import get_model_info

    client = learner_registry
    required = _solutions().solve_06_1(LINEAR)
    assert "put in `required`" in _refused(check("06-1", client=client))
    assert "must be a list of column names" in _refused(check("06-1", ",".join(required), client=client))
    extra = _refused(check("06-1", [*required, "fare_amount"], client=client))  # the target is no input
    assert "'fare_amount': not an input" in extra
    missing = _refused(check("06-1", required[1:], client=client))
    assert "1 of the signature's inputs are missing" in missing and required[0] not in missing
    # the inputs of another version (the deliberately worse one has fewer features)
    versions = client.search_model_versions(f"name='{LINEAR}'")
    others = {
        v.version: get_model_info(f"models:/{LINEAR}/{v.version}").signature.inputs.input_names()
        for v in versions
        if v.tags["lifecycle"] != "production"
    }
    number, inputs = next((n, names) for n, names in others.items() if set(names) != set(required))
    assert f"those are the inputs of version {number}" in _refused(check("06-1", inputs, client=client))
    assert check("06-1", required, client=client)


def test_06_2_solution(learner_registry):
    from labhelpers.registry.references import resolve

    client, shared = learner_registry, namespace(None).shared_production
    assert "has no description of its own yet" in _refused(check("06-2", client=client))
    newest = max(client.search_model_versions(f"name='{shared}'"), key=lambda v: int(v.version))
    source = newest.source.rsplit("/", 1)[1]  # models:/NAME/N
    latest = resolve(f"{LINEAR}@latest", client).version
    assert latest != source  # the newest fare version is not the one in production
    client.update_registered_model(shared, description=f"Copies of {LINEAR}, newest version {latest}.")
    wrong = _refused(check("06-2", client=client))
    assert "not the version its newest copy came from" in wrong and source not in wrong
    client.update_registered_model(shared, description=f"Release: version {source}.")
    assert "does not name the model" in _refused(check("06-2", client=client))
    client.update_registered_model(shared, description=f"rmse 3.{source} of {LINEAR}")  # a number, no version
    assert "not the version its newest copy came from" in _refused(check("06-2", client=client))
    _solutions().solve_06_2(shared)
    assert check("06-2", client=client)


def test_06_3_solution(learner_registry):
    from labhelpers.registry.references import resolve

    client, shared = learner_registry, namespace(None).shared_production
    (production,) = [
        v for v in client.search_model_versions(f"name='{LINEAR}'") if v.tags["lifecycle"] == "production"
    ]
    assert "keep what `copy_model_version` returns" in _refused(check("06-3", client=client))
    assert "not a number or a name" in _refused(check("06-3", production.version, client=client))
    # a version of the fare model itself: refused before anything is looked up, and never deleted
    assert "never delete a version of the course's models" in _refused(
        check("06-3", production, client=client)
    )
    latest = resolve(f"{LINEAR}@latest", client).version
    wrong = client.copy_model_version(f"models:/{LINEAR}/{latest}", shared)  # @latest, not production
    client.delete_model_version(shared, wrong.version)
    assert "not from the version in production" in _refused(check("06-3", wrong, client=client))
    kept = client.copy_model_version(f"models:/{LINEAR}/{production.version}", shared)  # copied, not deleted
    refused = _refused(check("06-3", kept, client=client))
    assert f"version {kept.version} of {shared} is still there" in refused
    client.delete_model_version(shared, kept.version)
    assert check("06-3", _solutions().solve_06_3(LINEAR, shared), client=client)
    assert client.get_model_version(LINEAR, production.version).tags["lifecycle"] == "production"
