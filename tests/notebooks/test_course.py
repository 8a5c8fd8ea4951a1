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

from labhelpers.core import config
from labhelpers.core.learner import BY_HAND, EXPERIMENT, namespace
from labhelpers.core.provenance import default_owner
from labhelpers.course import kernels
from labhelpers.course import run as course
from labhelpers.course.exercises import check
from labhelpers.course.summary import summary
from labhelpers.registry.pinning import deployed_model, read_pins
from labhelpers.server import azure_rules
from labhelpers.server import local as server

ROOT = config.PROJECT_ROOT
KEPT = ROOT / "build" / "test-notebooks"
SANITIZE = Path(__file__).with_name("sanitize.cfg")
LINEAR = config.LINEAR_MODEL_NAME
ADA = namespace("ada")  # the learner of the second course run
WORSE_FEATURES = "passenger_count,is_weekend"
# -o addopts=: the project's options are not nbval's; no cache folder in the temporary directory
NBVAL_OPTIONS = ["-p", "no:cacheprovider", "-o", "addopts=", "--nbval-lax", "--nbval-current-env"]
NBVAL_OPTIONS += ["--nbval-sanitize-with", str(SANITIZE), "--nbval-cell-timeout", "300"]


@contextlib.contextmanager
def _fresh_server(state: Path, port: int):
    info = server.start(port, state, timeout=180)  # generous, like the session server: machines can be loaded
    try:
        yield info
    finally:
        server.stop(info.port, state)


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
        "02_register_models.ipynb": [
            "mlflow.start_run(",
            "mlflow.set_tags(",
            "mlflow.log_metrics(",
            "mlflow.log_dict(",
            "mlflow.sklearn.log_model(",
            "registered_model_name=",
            "mlflow.sklearn.save_model(",  # the fallback where logged-models is refused (Azure ML)
            "client.log_artifacts(",
            'mlflow.register_model(f"runs:/',
        ],
        "03_inspect_registry.ipynb": [
            'search_model_versions(f"name = ',
            'search_model_versions("tags.',
            "set_model_version_tag(",
            "get_model_version(",
            "mlflow.search_runs(",
            'order_by=["metrics.rmse ASC"]',
            'mlflow.register_model(f"runs:/{best.run_id}/model"',
        ],
        "04_pin_and_promote.ipynb": [
            "set_registered_model_alias(",
            "get_model_version_by_alias(",
            'mlflow.pyfunc.load_model(f"models:/{model_name}/{first}")',
            'f"models:/{model_name}@production"',
            "azureml:{model_name}@3",
        ],
    }
    for name, expected in calls.items():
        missing = [call for call in expected if call not in code_of(name)]
        assert missing == [], name


def test_first_run_registers_promotes_and_pins(first_run, client, parameters):
    versions = _versions(client)
    assert {name for name, _ in versions} == set(config.MODEL_NAMES)
    # 02 registers twice, 04 twice: the fare models retrained on June, then the worse fare model
    assert sorted(versions) == [(name, n) for name in sorted(config.MODEL_NAMES) for n in (1, 2, 3, 4)]
    for (name, number), version in versions.items():
        assert version.tags["batch_status"] == "complete", (name, number)
        assert version.tags["git_commit"] != "unknown"
        assert version.tags["data_version"].startswith("sha256:")
        assert version.tags["owner"] == default_owner(), (name, number)
        if name != LINEAR:
            assert version.tags["lifecycle"] == "candidate", (name, number)
    assert versions[(LINEAR, 4)].tags["features"] == WORSE_FEATURES
    assert float(versions[(LINEAR, 4)].tags["rmse"]) > 2 * float(versions[(LINEAR, 2)].tags["rmse"])
    # the retrained version is a different model: other data, for both fare models; KMeans is re-registered
    for name in (LINEAR, config.RIDGE_MODEL_NAME):
        assert versions[(name, 3)].tags["data_version"] != versions[(name, 2)].tags["data_version"]
    kmeans = config.KMEANS_MODEL_NAME
    assert versions[(kmeans, 3)].tags["data_version"] == versions[(kmeans, 2)].tags["data_version"]
    # 2 -> production; 3 (retrained) and 4 (worse) are refused; 3 goes in by an override, the rollback
    # returns production to 2
    lifecycle = {n: versions[(LINEAR, n)].tags["lifecycle"] for n in (1, 2, 3, 4)}
    assert lifecycle == {1: "candidate", 2: "production", 3: "archived", 4: "rejected"}
    assert _production(client, LINEAR) == [2]
    assert versions[(LINEAR, 2)].tags["batch_id"] != versions[(LINEAR, 3)].tags["batch_id"]
    _assert_04_tells_the_truth_about_its_gates(client, versions)
    assert "Did you mean 'azureml:taxi-fare-linear-regression:3'?" in _cell_text(
        "first", "04_pin_and_promote.ipynb", "refuse-at-3"
    )
    pinned = f"azureml:{LINEAR}:2"
    assert read_pins(_deployment(parameters)) == {LINEAR: pinned}
    assert deployed_model(_deployment(parameters)) == pinned
    assert "agree: True" in _cell_text("first", "05_serve_pinned_model.ipynb", "agree")
    assert "the server's log holds it: True" in _cell_text(
        "first", "05_serve_pinned_model.ipynb", "answer-id"
    )
    refused = _cell_text("first", "05_serve_pinned_model.ipynb", "wrong-body")  # the server's own reason
    assert "answered HTTP 400: Bad request: " in refused and "without input_data (trip_distance" in refused
    assert _cell_text("first", "05_serve_pinned_model.ipynb", "exercise-1").startswith("05-1: not yet: ")
    by_hand = sorted(client.search_model_versions(f"name='{BY_HAND}'"), key=lambda v: int(v.version))
    assert [v.version for v in by_hand] == ["1", "2"] and "owner" not in by_hand[0].tags
    _assert_03_registered_the_best_run(client, by_hand[1], LINEAR, EXPERIMENT)
    print(f"\nfirst course run: {first_run:.0f} s")


_GATE = re.compile(
    r"rmse (?P<candidate>\d+\.\d+) on the held-out data; floor <= (?P<floor>\d+\.\d+) \(x0\.5 of the "
    r"mean-fare baseline's rmse (?P<baseline>\d+\.\d+)\)(; production version (?P<production>\d+): "
    r"(?P<production_rmse>\d+\.\d+) \(must not be worse\))?"
)


def _gate(text: str) -> dict:
    found = _GATE.search(text)
    assert found, text
    return {k: (v if k == "production" else float(v)) for k, v in found.groupdict().items() if v is not None}


def _assert_04_tells_the_truth_about_its_gates(client, versions) -> None:
    """What notebook 04's markdown says of each gate is what its outputs and the registry show.

    The June retrain's fate depends on the data notebook 01 trained production on: with the shipped sample
    (the stored outputs; nbval compares them) it is slightly worse and refused, with this run's smaller
    sample it may pass. Either way the outputs must say what happened, with numbers that agree.
    """
    nb = "04_pin_and_promote.ipynb"
    first = _cell_text("first", nb, "promote-first")  # nothing in production yet: the floor alone
    assert "floor" in first and "not worse than production" not in first and "fail" not in first
    retrained, june = _cell_text("first", nb, "promote-retrained"), versions[(LINEAR, 3)]
    june_gate = _gate(june.tags["production_gate"])
    assert june_gate["production"] == "2" and june_gate["candidate"] <= june_gate["floor"]
    refused = "override_reason" in june.tags
    if refused:  # refused (slightly worse), then overridden on the record in section 10
        assert "Refused: taxi-fare-linear-regression version 3 fails the production gate" in retrained
        assert june_gate["production_rmse"] < june_gate["candidate"] < 1.05 * june_gate["production_rmse"]
        assert "version 3: lifecycle rejected, aliases []" in _cell_text("first", nb, "refused")
        assert june.tags["override_reason"] == "course: ship June's trips despite the gate"
        assert "rejected -> production" in _cell_text("first", nb, "override")
    else:  # it passed: no worse than production, which it replaced; the override cell had nothing to do
        assert "validated -> production" in retrained and "fail" not in retrained
        assert june_gate["candidate"] <= june_gate["production_rmse"]
        assert _cell_text("first", nb, "override") == ""
    worse = _gate(_cell_text("first", nb, "refuse"))  # no better than the mean fare: under the floor
    in_production = "3" if not refused else "2"
    assert worse["candidate"] >= worse["baseline"] and worse["candidate"] > worse["floor"]
    assert worse["candidate"] > 2 * worse["production_rmse"] and worse["production"] == in_production
    assert (
        f"Production stays at version {in_production}; version 4 is now 'rejected' (no @validated)"
        in _cell_text("first", nb, "refuse")
    )
    # a refused version holds no alias; nothing holds @validated (2 and 3 went on or were refused, 4 refused)
    assert client.get_model_version(LINEAR, "4").aliases == []
    assert "validated" not in client.get_registered_model(LINEAR).aliases
    # every version that entered production through the gate is no worse than the one it replaced
    for (name, number), version in versions.items():
        if name == LINEAR and "production_since" in version.tags and "override_reason" not in version.tags:
            gate = _gate(version.tags["production_gate"])
            assert gate["candidate"] <= gate.get("production_rmse", gate["floor"]), (number, gate)


def _assert_03_registered_the_best_run(client, version, linear: str, experiment: str) -> None:
    """03's section 7: the version made from ``runs:/<run_id>/model`` of the best LinearRegression run."""
    runs = client.search_runs(
        [client.get_experiment_by_name(experiment).experiment_id], "tags.model_type = 'LinearRegression'"
    )
    at_03 = [run for run in runs if run.info.start_time < version.creation_timestamp]  # 04's came later
    best = min(run.data.metrics["rmse"] for run in at_03)
    chosen = client.get_run(version.run_id)
    assert chosen.data.tags["model_type"] == "LinearRegression" and chosen.data.metrics["rmse"] == best
    assert chosen.data.tags.get("mlflow.runName", "").startswith(f"register-{linear}")


def _state(client, names) -> dict:
    versions = _versions(client, names)
    return {key: (v.source, v.run_id, v.tags) for key, v in versions.items()}


def test_second_run_through_the_azure_rules_stand_in_under_a_learner(
    first_run, client, parameters, course_server
):
    """The course again, through the Azure-rules stand-in and as learner ``ada``: the same end state in ada's
    names, the seed's versions untouched.

    The by-hand cells of 02-04 meet the refusals Azure ML makes (MLflow 3's logged-models endpoint, a tag
    filter on version search, aliases) and take the fallbacks the notebooks show. 01 trains offline, the
    same way for every learner: ada starts from a copy of the first run's training folder.
    """
    seed = (*config.MODEL_NAMES, BY_HAND)
    before = _state(client, seed)
    own = {k: v for k, v in parameters.items() if k != "silhouette_sample"}  # 01's only
    own["output_dir"] = str(Path(parameters["output_dir"]).with_name("outputs-ada"))
    trained = sorted(Path(parameters["output_dir"]).glob("run-*"))[0]  # 01's (04 retrains into a later one)
    shutil.copytree(trained, Path(own["output_dir"]) / trained.name)
    with azure_rules.AzureRulesProxy(course_server.uri) as proxy:
        seconds = _run("second", {**own, "tracking_uri": proxy.uri}, ADA.learner, course.NOTEBOOKS[1:])
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
    assert sorted(versions) == [(name, n) for name in sorted(ADA.model_names) for n in (1, 2, 3, 4)]
    assert {v.tags["learner"] for v in versions.values()} == {"ada"}
    # 2 -> production; 3 and 4 refused; 3 overridden in, then the rollback returns production to 2
    lifecycle = {n: versions[(linear, n)].tags["lifecycle"] for n in (1, 2, 3, 4)}
    assert lifecycle == {1: "candidate", 2: "production", 3: "archived", 4: "rejected"}
    assert read_pins(_deployment(own)) == {linear: f"azureml:{linear}:2"}
    assert deployed_model(_deployment(own)) == f"azureml:{linear}:2"
    assert "agree: True" in _cell_text("second", "05_serve_pinned_model.ipynb", "agree")
    by_hand = sorted(client.search_model_versions(f"name='{ADA.by_hand}'"), key=lambda v: int(v.version))
    assert [v.version for v in by_hand] == ["1", "2"]  # 02: saved, uploaded, create_model_version; 03: runs:/
    _assert_03_registered_the_best_run(client, by_hand[1], linear, ADA.experiment)
    assert (
        client.get_run(by_hand[0].run_id).info.experiment_id
        == client.get_experiment_by_name(ADA.by_hand_experiment).experiment_id
    )
    assert _cell_text("second", "04_pin_and_promote.ipynb", "aliases") == "{}"  # no alias got through
    print(f"\nsecond course run (02-05), through the Azure-rules stand-in, as ada: {seconds:.0f} s")


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


def test_01_1_solution(learner_registry, parameters, tmp_path, sample_csv):
    from labhelpers.course.session import latest_run_dir

    assert "pass the run folder" in _refused(check("01-1"))
    assert "alpha=1.0" in _refused(check("01-1", latest_run_dir(parameters["output_dir"])))
    assert check("01-1", _solutions().solve_01_1(tmp_path, data=sample_csv))


def test_02_1_solution(learner_registry):
    client = learner_registry
    newest = client.get_model_version(BY_HAND, "1")  # notebook 02's; 03 registered version 2 from a run
    assert "has no `owner` version tag" in _refused(check("02-1", client=client))
    client.set_tag(newest.run_id, "owner", default_owner())  # the run, not the version: still wrong
    assert "versions keep their own tags" in _refused(check("02-1", client=client))
    client.set_model_version_tag(BY_HAND, newest.version, "owner", "someone-else")
    assert "not the course's owner" in _refused(check("02-1", client=client))
    _solutions().solve_02_1(default_owner(), newest.version)
    assert check("02-1", client=client)


def test_03_1_solution(learner_registry):
    from labhelpers.course.exercises import cluster_trips

    assert "with mlflow.pyfunc.load_model" in _refused(check("03-1", client=learner_registry))
    clusters = _solutions().solve_03_1(cluster_trips())
    assert "of the 5 clusters differ" in _refused(
        check("03-1", [(c + 1) % 8 for c in clusters], client=learner_registry)
    )
    zeros = _solutions().solve_03_1(cluster_trips() * 0)  # a frame of zeros: the right shape, wrong trips
    assert "outside New York" in _refused(check("03-1", zeros, client=learner_registry))
    assert check("03-1", clusters, client=learner_registry)


def test_03_2_solution(learner_registry):
    client = learner_registry
    assert "`run_id` of the one with the lowest `metrics.rmse`" in _refused(check("03-2", client=client))
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    ridge = client.search_runs([experiment], "tags.model_type = 'Ridge'", order_by=["metrics.rmse DESC"])
    assert "another Ridge run scores lower" in _refused(check("03-2", ridge[0].info.run_id, client=client))
    linear = client.search_runs([experiment], "tags.model_type = 'LinearRegression'")[0].info.run_id
    assert "asks for the Ridge model's runs" in _refused(check("03-2", linear, client=client))
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
