"""Registering the three taxi models on a real MLflow server: what a version carries, all-or-nothing
batches, a dead server, concurrent registrations, and version references resolved against the registry.
"""

from __future__ import annotations

import json
import sys
import threading
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest
import requests

from labhelpers.files.artifacts import sha256_file
from labhelpers.foundation.errors import RegistryError, ServerError
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.references import resolve
from labhelpers.registry.register import EXPERIMENT, register_batch, register_models
from labhelpers.training.outputs import (
    INPUT_EXAMPLE,
    SUPERVISED_METRICS,
    UNSUPERVISED_METRICS,
    pip_requirements,
)

ROOT = Path(__file__).resolve().parents[3]
KEYS = ("linear", "ridge", "kmeans")
EXPECTED = {
    "linear": ("regression", "LinearRegression", "linear_regression", SUPERVISED_METRICS),
    "ridge": ("regression", "Ridge", "ridge_regression", SUPERVISED_METRICS),
    "kmeans": ("clustering", "KMeans", "kmeans", UNSUPERVISED_METRICS),
}


def module_names() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {key: f"test-{key}-{tag}" for key in KEYS}


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def versions(client, name: str) -> list[str]:
    return sorted((v.version for v in client.search_model_versions(f"name='{name}'")), key=int)


def payloads(trained_dirs) -> dict[str, dict]:
    sup, uns = trained_dirs
    sup_json = json.loads((sup / SUPERVISED_METRICS).read_text())
    uns_json = json.loads((uns / UNSUPERVISED_METRICS).read_text())
    return {"linear": sup_json, "ridge": sup_json, "kmeans": uns_json}


@pytest.fixture(scope="module")
def two_batches(mlflow_server, trained_dirs):
    """The same outputs registered twice under fresh names, requirement inference watched throughout.

    Returns the names, both batches' results and the version-1 tags as they were before batch two.
    """
    import mlflow.models
    import mlflow.utils.environment

    names = module_names()
    # A new experiment: linear and ridge then log the same new dataset at the same moment.
    experiment = f"test-registry-{uuid.uuid4().hex[:8]}"
    inferred = []
    with pytest.MonkeyPatch.context() as patch:
        for module in (mlflow.models, mlflow.utils.environment):
            original = module.infer_pip_requirements
            patch.setattr(
                module,
                "infer_pip_requirements",
                lambda *a, _f=original, **k: inferred.append(a) or _f(*a, **k),
            )
        first = register_models(
            *trained_dirs, names=names, tracking_uri=mlflow_server.uri, experiment=experiment
        )
        client = client_for(mlflow_server.uri)
        v1_tags = {key: dict(client.get_model_version(names[key], "1").tags) for key in KEYS}
        asked = []  # every request of the second batch: (method, path)
        send = requests.Session.request
        patch.setattr(
            requests.Session,
            "request",
            lambda self, method, url, *a, **k: (
                asked.append((method.upper(), urlsplit(url).path)) or send(self, method, url, *a, **k)
            ),
        )
        second = register_models(
            *trained_dirs, names=names, tracking_uri=mlflow_server.uri, experiment=experiment
        )
    return {
        "names": names,
        "experiment": experiment,
        "first": first,
        "second": second,
        "v1_tags": v1_tags,
        "inferred": inferred,
        "asked": asked,
    }


@pytest.mark.registry
def test_a_batch_creates_three_versions_with_the_lineage_and_lifecycle_tags(
    two_batches, mlflow_server, trained_dirs
):
    names, first = two_batches["names"], two_batches["first"]
    client = client_for(mlflow_server.uri)
    manifest = json.loads((trained_dirs[0] / "manifest.json").read_text())["lineage"]
    data = payloads(trained_dirs)

    assert [(r.name, r.version) for r in first] == [(names[k], "1") for k in KEYS]
    assert len({r.batch_id for r in first}) == 1
    for key in KEYS:
        task_type, model_type, _, _ = EXPECTED[key]
        mv = client.get_model_version(names[key], "1")
        assert {k: mv.tags.get(k) for k in ("task_type", "dataset", "framework", "model_type")} == {
            "task_type": task_type,
            "dataset": "nyc-taxi",
            "framework": "scikit-learn",
            "model_type": model_type,
        }
        assert mv.tags["git_commit"] == manifest["git_commit"]
        assert mv.tags["git_dirty"] == manifest["git_dirty"]
        assert mv.tags["data_version"] == data[key]["data_version"]
        assert mv.tags["lifecycle"] == "candidate"
        assert mv.tags["lab.batch_status"] == "complete"
        assert mv.tags["lab.batch_id"] == first[0].batch_id
        assert model_type in mv.description and data[key]["data_version"][:19] in mv.description


@pytest.mark.registry
def test_registering_again_adds_version_2_and_leaves_version_1_as_it_was(two_batches, mlflow_server):
    names, second = two_batches["names"], two_batches["second"]
    client = client_for(mlflow_server.uri)

    assert [r.version for r in second] == ["2", "2", "2"]
    assert second[0].batch_id != two_batches["first"][0].batch_id
    for key in KEYS:
        assert versions(client, names[key]) == ["1", "2"]
        assert dict(client.get_model_version(names[key], "1").tags) == two_batches["v1_tags"][key]
        v2 = client.get_model_version(names[key], "2")
        assert v2.tags["lab.batch_id"] == second[0].batch_id and v2.tags["lifecycle"] == "candidate"
        # the local server mirrors the lifecycle as an alias: candidate now names the newest version
        assert client.get_model_version_by_alias(names[key], "candidate").version == "2"


@pytest.mark.registry
def test_a_batch_of_registered_names_reads_no_registered_model(two_batches):
    """No look-up before the versions, nor MlflowClient's prompt check before each tag or alias write:
    on a shared server those reads are among the heaviest requests (the whole model, every version)."""
    asked = two_batches["asked"]
    paths = [path for _, path in asked]
    assert paths.count("/api/2.0/mlflow/model-versions/create") == 3
    assert paths.count("/api/2.0/mlflow/model-versions/set-tag") == 3  # batch_status=complete
    assert not [path for path in paths if path.endswith("/registered-models/get")]
    # a run each, its metrics and inputs, its files; the twin check and the repair look-up per name
    assert len(asked) <= 60, sorted(set(paths))


@pytest.mark.registry
@pytest.mark.parametrize("key", KEYS)
def test_each_version_has_its_own_run_with_metrics_params_artifact_and_dataset(
    two_batches, mlflow_server, trained_dirs, key, tmp_path
):
    client = client_for(mlflow_server.uri)
    name = two_batches["names"][key]
    mv = client.get_model_version(name, "1")
    run = client.get_run(mv.run_id)
    payload = payloads(trained_dirs)[key]
    _, model_type, block, metrics_file = EXPECTED[key]

    assert run.info.run_name == f"register-{name}"
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == two_batches["experiment"]
    if key == "kmeans":
        assert run.data.metrics["silhouette"] == pytest.approx(payload["silhouette"])
        assert run.data.metrics["inertia"] == pytest.approx(payload["inertia"])
        assert run.data.params["n_clusters"] == str(payload["parameters"]["n_clusters"])
    else:
        for metric in ("rmse", "mae", "r2"):
            assert run.data.metrics[f"{block}_{metric}"] == pytest.approx(payload[block][metric])
    assert ("alpha" in run.data.params) == (key == "ridge")
    assert run.data.params["random_seed"] == str(payload["parameters"]["random_seed"])
    assert run.data.params["features"] == ",".join(payload["features_used"])
    assert run.data.tags["lab.batch_id"] == mv.tags["lab.batch_id"]

    logged = client.download_artifacts(mv.run_id, f"metrics/{metrics_file}", str(tmp_path))
    assert json.loads(Path(logged).read_text()) == payload

    datasets = [d.dataset for d in run.inputs.dataset_inputs]
    assert [d.name for d in datasets] == ["nyc-taxi"]
    assert datasets[0].digest and datasets[0].digest in payload["data_version"]


@pytest.mark.registry
@pytest.mark.parametrize("key", KEYS)
def test_the_registered_model_is_the_trained_folder_byte_for_byte_and_predicts_like_it(
    two_batches, tracking_uri, trained_dirs, key, tmp_path
):
    import mlflow.artifacts
    import mlflow.pyfunc
    import pandas as pd

    name = two_batches["names"][key]
    folder = trained_dirs[0] if key != "kmeans" else trained_dirs[1]
    trained = folder / EXPECTED[key][2]
    recorded = json.loads((folder / "manifest.json").read_text())["artifacts"]
    raw = json.loads((folder / INPUT_EXAMPLE).read_text())
    example = pd.DataFrame(raw["data"], columns=raw["columns"])

    run_id = client_for(tracking_uri).get_model_version(name, "1").run_id
    local = Path(
        mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="model", dst_path=str(tmp_path))
    )
    uploaded = {p.relative_to(local).as_posix(): sha256_file(p) for p in local.rglob("*") if p.is_file()}
    served = mlflow.pyfunc.load_model(f"models:/{name}/1")

    prefix = f"{trained.name}/"
    assert uploaded == {k.removeprefix(prefix): v for k, v in recorded.items() if k.startswith(prefix)}
    np.testing.assert_allclose(
        np.asarray(served.predict(example)), mlflow.pyfunc.load_model(str(trained)).predict(example)
    )


@pytest.mark.registry
def test_registration_loads_no_model_in_a_fresh_process(trained_dirs, unique_names, tracking_uri):
    import subprocess

    code = """
import json, pickle, sys
calls = []
for attribute in ("load", "loads"):
    setattr(pickle, attribute, lambda *a, **k: calls.append(a))
from labhelpers.registry.register import register_models
register_models(sys.argv[1], sys.argv[2], names=json.loads(sys.argv[3]), tracking_uri=sys.argv[4])
loaded = [m for m in ("sklearn", "skops", "joblib") if m in sys.modules]
print(json.dumps({"unpickled": len(calls), "imported": loaded}))
"""
    args = [*map(str, trained_dirs), json.dumps(unique_names), tracking_uri]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)

    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == {"unpickled": 0, "imported": []}
    assert versions(client_for(tracking_uri), unique_names["kmeans"]) == ["1"]


@pytest.mark.registry
def test_the_mlmodel_has_signature_example_and_exactly_the_explicit_requirements(
    two_batches, tracking_uri, tmp_path
):
    import mlflow.artifacts
    from mlflow.models import Model

    name = two_batches["names"]["ridge"]
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/2", dst_path=str(tmp_path)))
    model = Model.load(str(local / "MLmodel"))
    example = model.load_input_example(str(local))
    assert isinstance(example, pd.DataFrame)

    assert model.signature is not None
    assert model.signature.inputs.input_names() == list(example.columns)
    assert model.signature.outputs is not None
    assert len(example) == 5
    assert (local / "requirements.txt").read_text().split() == pip_requirements()
    assert two_batches["inferred"] == []  # MLflow never spent seconds inferring requirements


@pytest.mark.registry
@pytest.mark.parametrize(("failing", "where"), [("ridge", "log_files"), ("kmeans", "create_model_version")])
def test_a_failure_halfway_removes_every_version_of_the_batch(
    trained_dirs, unique_names, tracking_uri, monkeypatch, failing, where
):
    from mlflow import MlflowClient

    created = []
    others_done = threading.Event()
    create = MlflowClient.create_model_version
    log_files = sys.modules["labhelpers.registry.all_or_nothing.upload"].log_files

    def create_version(self, name, *args, **kwargs):
        if where == "create_model_version" and name == unique_names[failing]:
            others_done.wait(30)  # fail only once the other two versions exist, so undo has work to do
            raise RuntimeError("simulated registry failure")
        version = create(self, name, *args, **kwargs)
        created.append((name, version.version))
        if len(created) == 2:
            others_done.set()
        return version

    def failing_log_files(client, run_id, candidate):
        if candidate.name == unique_names[failing]:
            raise RuntimeError("simulated artifact upload failure")
        return log_files(client, run_id, candidate)

    monkeypatch.setattr(MlflowClient, "create_model_version", create_version)
    monkeypatch.setattr("labhelpers.registry.all_or_nothing.upload.log_files", failing_log_files)

    with pytest.raises(RegistryError, match="simulated .* failure.*Nothing from this batch remains"):
        register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)

    client = client_for(tracking_uri)
    assert sorted(name for name, _ in created) == sorted(unique_names[k] for k in KEYS if k != failing)
    assert {k: versions(client, n) for k, n in unique_names.items()} == {k: [] for k in KEYS}
    # the names were new, so the batch created the registered models too: they go with it
    assert [
        m.name for n in unique_names.values() for m in client.search_registered_models(f"name='{n}'")
    ] == []
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    for name in unique_names.values():
        runs = client.search_runs([experiment], f"attributes.run_name = 'register-{name}'")
        assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.parametrize("uri_kind", ["argument", "environment"])
def test_a_dead_server_fails_fast_saying_how_to_start_one(
    trained_dirs, unique_names, monkeypatch, uri_kind, free_port, connections
):
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    explicit = dead if uri_kind == "argument" else None

    with pytest.raises(ServerError) as caught:
        register_models(*trained_dirs, names=unique_names, tracking_uri=explicit)

    assert connections == [("127.0.0.1", int(dead.rsplit(":", 1)[1]))]  # fast: one probe, no request retried
    assert f"No MLflow server answers at {dead}" in str(caught.value)
    assert "make server" in str(caught.value)


CONCURRENT = r"""
import json, os, sys
import mlflow
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.register import register_batch

sup, uns, names, uri, count, out = sys.argv[1:7]
candidates = collect(sup, uns, json.loads(names))
start_r, start_w = os.pipe()
children = []
for _ in range(int(count)):
    pid = os.fork()
    if pid == 0:
        os.close(start_w)
        os.read(start_r, 1)  # every child waits here, then all register at once
        try:
            done = register_batch(candidates, tracking_uri=uri)
            with open(os.path.join(out, f"{os.getpid()}.json"), "w") as handle:
                json.dump({item.name: item.version for item in done}, handle)
            os._exit(0)
        except BaseException as error:
            print(f"child failed: {error!r}", file=sys.stderr, flush=True)
            os._exit(1)
    children.append(pid)
os.close(start_r)
os.write(start_w, b"go" * int(count))
sys.exit(max(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children))
"""


@pytest.mark.registry
def test_eight_processes_registering_the_same_names_at_once_lose_no_version(
    trained_dirs, unique_names, tracking_uri, tmp_path
):
    import subprocess

    # Eight forked processes of one interpreter: each makes its own connections and its own batch; the
    # imports are paid once. Each registration also checks the others' pending batches: all live (their
    # leases run), so none may be touched.
    args = [*map(str, trained_dirs), json.dumps(unique_names), tracking_uri, "8", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-c", CONCURRENT, *args], capture_output=True, text=True, timeout=240, cwd=ROOT
    )

    assert done.returncode == 0, done.stderr[-3000:]
    reported = [json.loads(path.read_text()) for path in tmp_path.glob("*.json")]  # one file per process
    assert len(reported) == 8
    client = client_for(tracking_uri)
    batches: dict[str, set[str]] = {}
    for name in unique_names.values():
        got = sorted((r[name] for r in reported), key=int)
        # eight distinct versions, each in the registry, and nothing else (a version a retried request
        # created twice is deleted again, so numbers may skip, as MLflow never renumbers)
        assert len(set(got)) == 8
        assert versions(client, name) == got
        for mv in client.search_model_versions(f"name='{name}'"):
            assert mv.tags["lab.batch_status"] == "complete"
            batches.setdefault(mv.tags["lab.batch_id"], set()).add(name)
    assert len(batches) == 8
    assert all(members == set(unique_names.values()) for members in batches.values())


@pytest.mark.registry
def test_a_create_request_retried_after_the_server_acted_leaves_one_version(
    trained_dirs, unique_names, tracking_uri, monkeypatch
):
    from mlflow import MlflowClient

    create = MlflowClient.create_model_version

    def created_twice(self, *args, **kwargs):  # what a timed-out, retried POST does on the server
        create(self, *args, **kwargs)
        return create(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "create_model_version", created_twice)
    done = register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    client = client_for(tracking_uri)
    for item in done:
        assert versions(client, item.name) == [item.version] == ["2"]  # v1 was the twin, deleted


@pytest.fixture(scope="module")
def three_versions(mlflow_server, trained_dirs):
    """One fresh name with versions 1..3; alias ``champion`` on 2; lifecycle production (tag only) on 1."""
    names = module_names()
    linear = collect(trained_dirs[0], trained_dirs[1], names)[0]
    for _ in range(3):
        register_batch([linear], tracking_uri=mlflow_server.uri)
    client = client_for(mlflow_server.uri)
    client.set_registered_model_alias(linear.name, "champion", "2")
    client.set_model_version_tag(linear.name, "1", "lifecycle", "production")
    return linear.name


@pytest.mark.registry
@pytest.mark.parametrize(
    ("form", "version"),
    [
        ("azureml:{n}@latest", "3"),
        ("azureml:{n}:3", "3"),
        ("azureml:{n}:2", "2"),
        ("models:/{n}/2", "2"),
        ("models:/{n}/latest", "3"),
        ("models:/{n}@champion", "2"),
        ("{n}@champion", "2"),
        ("{n}@latest", "3"),
        ("{n}:1", "1"),
        ("{n}@production", "1"),  # no such alias: the lifecycle tag carries it (as on Azure ML)
        ("models:/{n}@production", "1"),
    ],
)
def test_every_reference_form_resolves_to_the_right_version(three_versions, mlflow_server, form, version):
    mv = resolve(form.format(n=three_versions), client_for(mlflow_server.uri))

    assert (mv.name, mv.version) == (three_versions, version)


@pytest.mark.registry
@pytest.mark.parametrize("form", ["nobody-{tag}:1", "nobody-{tag}@latest", "models:/nobody-{tag}@production"])
def test_an_unknown_name_is_refused_listing_the_registered_names(three_versions, mlflow_server, form):
    with pytest.raises(RegistryError) as caught:
        resolve(form.format(tag=uuid.uuid4().hex[:6]), client_for(mlflow_server.uri))

    message = str(caught.value)
    assert message.startswith("No registered model named 'nobody-")
    assert three_versions in message.split("Registered models:")[1]


@pytest.mark.registry
def test_an_unknown_version_is_refused_listing_the_versions(three_versions, mlflow_server):
    with pytest.raises(RegistryError, match=rf"^{three_versions} has no version 9; versions: 1, 2, 3\.$"):
        resolve(f"azureml:{three_versions}:9", client_for(mlflow_server.uri))


@pytest.mark.registry
def test_an_unknown_label_is_refused_listing_the_lifecycles_present(three_versions, mlflow_server):
    with pytest.raises(RegistryError, match="lifecycles present: candidate, production"):
        resolve(f"{three_versions}@staging", client_for(mlflow_server.uri))
