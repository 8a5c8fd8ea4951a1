"""ML/register_models.py run the way a learner or a pipeline step runs it: a subprocess, its exit status,
what it prints, and what it leaves in the registry.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "ML" / "register_models.py"


def run_script(*args: str, tracking_uri: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if tracking_uri:
        env["MLFLOW_TRACKING_URI"] = tracking_uri
    # From another folder, so nothing depends on the caller's working directory.
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT / "ML",
        env=env,
    )


def name_options(names: dict[str, str]) -> list[str]:
    return [
        f"--linear-model-name={names['linear']}",
        f"--ridge-model-name={names['ridge']}",
        f"--unsupervised-model-name={names['kmeans']}",
    ]


@pytest.mark.registry
def test_registers_three_versions_and_prints_them(trained_dirs, unique_names, tracking_uri):
    from mlflow import MlflowClient

    supervised, unsupervised = trained_dirs

    folders = ["--supervised-dir", str(supervised), "--unsupervised-dir", str(unsupervised)]

    done = run_script(*folders, *name_options(unique_names), tracking_uri=tracking_uri)

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    client = MlflowClient(tracking_uri, tracking_uri)
    batch = re.search(r"^batch (\S+): registered$", done.stdout, re.MULTILINE)
    assert batch, done.stdout
    for name in unique_names.values():
        assert re.search(
            rf"^  {re.escape(name)} version 1  \(lifecycle=candidate, from run \w+\)$", done.stdout, re.M
        )
        [mv] = client.search_model_versions(f"name='{name}'")
        assert (mv.version, mv.tags["lab.batch_id"], mv.tags["lab.batch_status"]) == (
            "1",
            batch[1],
            "complete",
        )


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing-dir", r"^error: --supervised-dir \S+/no-such-run does not exist; point it at"),
        ("bad-name", r"^error: Invalid --ridge-model-name 'fare model': use 1-255 letters"),
        (
            "dead-server",
            r"^error: No MLflow server answers at http://127\.0\.0\.1:\d+\. Start the local one with",
        ),
    ],
)
def test_a_bad_input_exits_2_with_a_one_line_error_and_no_traceback(
    trained_dirs, unique_names, tmp_path, case, expected, free_port
):
    supervised, unsupervised = trained_dirs
    names = {**unique_names, "ridge": "fare model"} if case == "bad-name" else unique_names
    if case == "missing-dir":
        supervised = tmp_path / "no-such-run"

    folders = ["--supervised-dir", str(supervised), "--unsupervised-dir", str(unsupervised)]

    done = run_script(*folders, *name_options(names), tracking_uri=f"http://127.0.0.1:{free_port()}")

    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert re.match(expected, done.stderr)
    assert "Traceback" not in done.stderr


def test_a_missing_required_option_is_a_usage_error():
    done = run_script("--supervised-dir", "somewhere")

    assert done.returncode == 2
    assert "the following arguments are required: --unsupervised-dir" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_describes_every_option():
    source = SCRIPT.read_text()
    options = re.findall(r'add_argument\(\s*"(--[a-z-]+)"', source)

    done = run_script("--help")

    assert done.returncode == 0
    assert done.stdout.startswith("usage: register_models.py")
    assert "all-or-nothing batch" in done.stdout  # the module docstring is the description
    assert set(options) >= {"--supervised-dir", "--unsupervised-dir", "--tracking-uri"}
    for option in options:
        # "  --option METAVAR   help text", the help text possibly on the next line
        described = re.search(rf"^  {option}(?: [A-Z_]+)?(?: {{2,}}|\n {{10,}})(\w.*)$", done.stdout, re.M)
        assert described, f"{option} has no help text in:\n{done.stdout}"


@pytest.mark.registry
def test_learner_flag_registers_into_that_learners_namespace(trained_dirs, tracking_uri):
    import uuid

    from mlflow import MlflowClient

    learner = "s" + uuid.uuid4().hex[:8]
    supervised, unsupervised = trained_dirs
    folders = ["--supervised-dir", str(supervised), "--unsupervised-dir", str(unsupervised)]
    done = run_script(*folders, "--learner", learner, tracking_uri=tracking_uri)
    assert done.returncode == 0, done.stderr
    client = MlflowClient(tracking_uri, tracking_uri)
    for base in ("taxi-fare-linear-regression", "taxi-fare-ridge-regression", "taxi-trip-kmeans"):
        assert f"  {base}-{learner} version 1  (lifecycle=candidate" in done.stdout
        assert client.get_model_version(f"{base}-{learner}", "1").tags["learner"] == learner


def test_an_invalid_learner_is_refused_with_the_rule(trained_dirs):
    supervised, unsupervised = trained_dirs
    folders = ["--supervised-dir", str(supervised), "--unsupervised-dir", str(unsupervised)]
    done = run_script(*folders, "--learner", "Bob Smith", tracking_uri="http://127.0.0.1:9")
    assert done.returncode == 2
    assert "Invalid learner name 'Bob Smith'" in done.stderr and "Traceback" not in done.stderr


def _train(script: str, out: Path, *args: str, env: dict) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "ML" / script), "--output-dir", str(out), *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    assert "logged as MLflow run " in done.stdout


@pytest.mark.registry
def test_tracked_training_then_registration_links_every_version_to_its_training_run(
    sample_csv, tmp_path, unique_names, tracking_uri
):
    """The pipeline as a job runs it: both steps log a run, registration makes each version from it, and
    the registration's own run (MLFLOW_RUN_ID, as in an Azure ML job) names the training run of each."""
    import json
    import uuid

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri, tracking_uri)
    experiment = f"test-tracked-{uuid.uuid4().hex[:8]}"
    common = ["--data", str(sample_csv), "--experiment", experiment]
    _train("train_supervised.py", tmp_path / "sup", *common, "--alpha", "3.0", env={})
    _train("train_unsupervised.py", tmp_path / "uns", *common, "--silhouette-sample", "500", env={})
    job = client.create_run(client.create_experiment(f"{experiment}-job")).info.run_id
    folders = ["--supervised-dir", str(tmp_path / "sup"), "--unsupervised-dir", str(tmp_path / "uns")]

    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking_uri, "MLFLOW_RUN_ID": job}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *folders, *name_options(unique_names)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT / "ML",
        env=env,
    )

    assert done.returncode == 0, done.stderr
    payload = json.loads((tmp_path / "sup" / "supervised_metrics.json").read_text())
    trained = {"linear": payload["training_run"], "ridge": payload["training_run"]}
    trained["kmeans"] = json.loads((tmp_path / "uns" / "unsupervised_metrics.json").read_text())[
        "training_run"
    ]
    assert trained["linear"] != trained["kmeans"]
    recorded = client.get_run(job).data.params
    folders_of = {"linear": "linear_regression", "ridge": "ridge_regression", "kmeans": "kmeans"}
    for key, name in unique_names.items():
        [version] = client.search_model_versions(f"name='{name}'")
        assert version.run_id == trained[key] and recorded[f"training_run.{name}"] == trained[key]
        assert version.source and version.source.endswith(f"/{folders_of[key]}")
        assert version.run_id is not None
        run = client.get_run(version.run_id)
        found = client.get_experiment_by_name(experiment)
        assert found is not None and run.info.experiment_id == found.experiment_id
        assert run.info.status == "FINISHED"
        files = {f.path for f in client.list_artifacts(run.info.run_id, folders_of[key])}
        assert f"{folders_of[key]}/MLmodel" in files
    sup = client.get_run(trained["linear"]).data
    assert sup.params["alpha"] == "3.0" and sup.params["features"] == ",".join(payload["features_used"])
    for model in ("linear_regression", "ridge_regression"):  # the held-out metrics, as the JSON has them
        for metric in ("rmse", "mae", "r2"):
            assert sup.metrics[f"{model}_{metric}"] == pytest.approx(payload[model][metric])
    assert payload["held_out"]["rows"] > 4000 and payload["held_out"]["month"] == "2016-07-01-2016-08-01"
