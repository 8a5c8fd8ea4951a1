"""batch.collect: what reaches the registry is exactly three verified models, or nothing at all.

Every refusal goes through ``register_models`` with every HTTP request intercepted: a refused batch must be
refused before any request reaches a registry, so it can leave nothing behind there (the integration tier
checks the all-or-nothing rule for failures that happen on a real server). Nothing from a training output is
loaded or executed on the way. The trained folders are session-shared, so each test damages its own copy.
"""

from __future__ import annotations

import importlib
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labhelpers.files.artifacts import MANIFEST, sha256_file
from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.register import register_models
from labhelpers.training.outputs import SUPERVISED_METRICS, UNSUPERVISED_METRICS

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def copies(trained_dirs, tmp_path) -> tuple[Path, Path]:
    """This test's own copy of both training outputs, free to damage."""
    supervised, unsupervised = (
        Path(shutil.copytree(folder, tmp_path / folder.name)) for folder in trained_dirs
    )
    return supervised, unsupervised


def rewrite(folder: Path, relative: str, data: bytes) -> Path:
    """Replace a file and record its new SHA-256 in the manifest, as if the training step had written it."""
    path = folder / relative
    path.write_bytes(data)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["artifacts"][relative] = sha256_file(path)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    return path


def model_file(folder: Path) -> tuple[Path, str]:
    """The model file of an MLflow model folder and its format (skops; a pickle under MLflow 2)."""
    sklearn = yaml.safe_load((folder / "MLmodel").read_text())["flavors"]["sklearn"]
    return folder / sklearn["pickled_model"], sklearn["serialization_format"]


@pytest.fixture
def requests_sent(monkeypatch) -> list[str]:
    """Every HTTP request that registration tries to send; none is sent anywhere."""
    import requests

    sent: list[str] = []

    def intercept(self, request, **kwargs):
        sent.append(f"{request.method} {request.url}")
        raise requests.ConnectionError("intercepted by the test: refusals must not need a server")

    monkeypatch.setattr(requests.Session, "send", intercept)
    return sent


@pytest.fixture
def tracking_uri(free_port, requests_sent) -> str:
    """An address where nothing listens; requests to it are intercepted and recorded anyway."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def refused(tracking_uri, requests_sent):
    """``refused(names, supervised, unsupervised)``: register, expect a RegistryError raised before any
    request left the process, and return its message."""

    def check(names: dict, supervised, unsupervised) -> str:
        with pytest.raises(RegistryError) as caught:
            register_models(supervised, unsupervised, names=names, tracking_uri=tracking_uri)
        assert requests_sent == [], "a refused batch contacted the registry"
        return str(caught.value)

    return check


def test_intact_outputs_give_three_candidates_with_the_metrics_json_values(trained_dirs, unique_names):
    supervised, unsupervised = trained_dirs
    candidates = collect(supervised, unsupervised, unique_names)
    sup = json.loads((supervised / SUPERVISED_METRICS).read_text())
    uns = json.loads((unsupervised / UNSUPERVISED_METRICS).read_text())

    assert [c.name for c in candidates] == [unique_names[k] for k in ("linear", "ridge", "kmeans")]
    assert [c.model.model_class for c in candidates] == ["LinearRegression", "Ridge", "KMeans"]
    assert [c.model_dir.name for c in candidates] == ["linear_regression", "ridge_regression", "kmeans"]
    assert candidates[0].metrics == {k: sup["linear_regression"][k] for k in ("rmse", "mae", "r2")}
    assert candidates[1].metrics == {k: sup["ridge_regression"][k] for k in ("rmse", "mae", "r2")}
    assert candidates[2].metrics["silhouette"] == uns["silhouette"]
    assert [c.data_version for c in candidates] == [sup["data_version"]] * 2 + [uns["data_version"]]
    assert [column["name"] for column in candidates[0].model.input_schema] == sup["features_used"]


def test_checking_outputs_loads_no_model_and_imports_neither_sklearn_nor_skops(trained_dirs):
    # A fresh interpreter: what collect() imports is all that is in sys.modules afterwards.
    code = (
        "import sys; from labhelpers.registry.all_or_nothing.candidates import collect; "
        "collect(sys.argv[1], sys.argv[2]); "
        "print(sorted(m for m in ('sklearn', 'skops', 'joblib', 'pandas', 'mlflow') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, trained_dirs)], capture_output=True, text=True, cwd=ROOT
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.registry
def test_missing_model_file_is_refused_naming_it(copies, unique_names, refused):
    supervised, unsupervised = copies
    missing, _ = model_file(supervised / "ridge_regression")
    missing.unlink()

    message = refused(unique_names, supervised, unsupervised)

    assert f"{missing} is missing" in message
    assert "re-run the training step" in message


@pytest.mark.registry
def test_a_whole_model_folder_missing_is_refused_naming_its_mlmodel(copies, unique_names, refused):
    supervised, unsupervised = copies
    shutil.rmtree(unsupervised / "kmeans")

    message = refused(unique_names, supervised, unsupervised)

    assert f"{unsupervised / 'kmeans'}/" in message and "is missing" in message


@pytest.mark.registry
def test_a_cut_short_model_file_with_matching_checksum_is_refused_as_unreadable(
    copies, unique_names, refused
):
    supervised, unsupervised = copies
    model, kind = model_file(unsupervised / "kmeans")
    # A truncated file whose SHA-256 was rewritten too: the checksum passes, so reading it must catch it.
    rewrite(unsupervised, f"kmeans/{model.name}", model.read_bytes()[: model.stat().st_size // 2])

    message = refused(unique_names, supervised, unsupervised)

    assert f"{model} cannot be read as a {kind} model file" in message
    assert "SHA-256" not in message


@pytest.mark.registry
def test_a_model_file_changed_after_training_is_refused(copies, unique_names, refused):
    supervised, unsupervised = copies
    swapped, _ = model_file(supervised / "linear_regression")
    shutil.copyfile(model_file(supervised / "ridge_regression")[0], swapped)  # loadable, but not this one

    message = refused(unique_names, supervised, unsupervised)

    assert f"{swapped} does not match the SHA-256 recorded in {supervised / MANIFEST}" in message


@pytest.mark.registry
def test_another_models_folder_with_a_rewritten_manifest_is_refused_naming_the_class(
    copies, unique_names, refused
):
    supervised, unsupervised = copies
    model, _ = model_file(supervised / "linear_regression")
    ridge, _ = model_file(supervised / "ridge_regression")
    rewrite(supervised, f"linear_regression/{model.name}", ridge.read_bytes())

    message = refused(unique_names, supervised, unsupervised)

    assert (
        f"{model} holds a sklearn.linear_model._ridge.Ridge, expected a scikit-learn LinearRegression"
        in message
    )


class _RunsCode:
    """Unpickling this calls print(): what any pickle can do with a more harmful function."""

    def __reduce__(self):
        return (print, ("code from the model file ran",))


@pytest.mark.registry
def test_a_pickle_that_runs_code_vouched_for_by_its_manifest_is_refused_and_never_run(
    copies, unique_names, refused, monkeypatch, capsys
):
    supervised, unsupervised = copies
    folder = supervised / "ridge_regression"
    # Whoever can write the folder rewrites the model, its MLmodel and the manifest, all consistently.
    trained, _ = model_file(folder)
    trained.unlink()
    manifest = json.loads((supervised / MANIFEST).read_text())
    del manifest["artifacts"][f"ridge_regression/{trained.name}"]
    (supervised / MANIFEST).write_text(json.dumps(manifest))
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    mlmodel["flavors"]["sklearn"].update(pickled_model="model.pkl", serialization_format="cloudpickle")
    rewrite(supervised, "ridge_regression/MLmodel", yaml.safe_dump(mlmodel).encode())
    rewrite(supervised, "ridge_regression/model.pkl", pickle.dumps(_RunsCode()))
    unpickled = []
    for module_name in ("pickle", "joblib"):
        module = importlib.import_module(module_name)
        for attribute in ("load", "loads"):
            monkeypatch.setattr(module, attribute, lambda *a, **k: unpickled.append(a), raising=False)

    message = refused(unique_names, supervised, unsupervised)

    assert f"{folder / 'model.pkl'} holds a builtins.print, expected a scikit-learn Ridge" in message
    assert unpickled == []
    assert "code from the model file ran" not in capsys.readouterr().out


@pytest.mark.registry
def test_a_file_added_to_a_model_folder_after_training_is_refused(copies, unique_names, refused):
    supervised, unsupervised = copies
    extra = supervised / "linear_regression" / "extra.py"
    extra.write_text("print('uploaded with the model')\n")

    message = refused(unique_names, supervised, unsupervised)

    assert f"{extra} is not listed in {supervised / MANIFEST}" in message


@pytest.mark.registry
@pytest.mark.parametrize(
    ("step", "drop", "named"),
    [
        ("supervised", ("ridge_regression", "rmse"), "ridge_regression.rmse"),
        ("supervised", (None, "data_version"), "data_version"),
        ("unsupervised", (None, "silhouette"), "silhouette"),
        ("unsupervised", (None, "features_used"), "features_used"),
    ],
)
def test_metrics_json_missing_a_key_is_refused_naming_the_key(
    copies, unique_names, refused, step, drop, named
):
    folder = copies[0] if step == "supervised" else copies[1]
    relative = SUPERVISED_METRICS if step == "supervised" else UNSUPERVISED_METRICS
    payload = json.loads((folder / relative).read_text())
    block, key = drop
    del (payload[block] if block else payload)[key]
    path = rewrite(folder, relative, json.dumps(payload).encode())

    message = refused(unique_names, *copies)

    assert f"{path} lacks {named}" in message


@pytest.mark.registry
@pytest.mark.parametrize(
    ("step", "block", "key"),
    [("supervised", "linear_regression", "rmse"), ("unsupervised", None, "silhouette")],
)
def test_metrics_json_holding_nan_is_refused(copies, unique_names, refused, step, block, key):
    folder = copies[0] if step == "supervised" else copies[1]
    relative = SUPERVISED_METRICS if step == "supervised" else UNSUPERVISED_METRICS
    payload = json.loads((folder / relative).read_text())
    (payload[block] if block else payload)[key] = float("nan")
    text = json.dumps(payload)  # Python's json writes the bare NaN token other parsers reject
    assert f'"{key}": NaN' in text
    path = rewrite(folder, relative, text.encode())

    message = refused(unique_names, *copies)

    assert f"{path}: metric(s) {{'{key}': nan}} are not finite numbers" in message


@pytest.mark.registry
def test_a_file_given_as_a_directory_is_refused_naming_the_option(copies, unique_names, refused):
    supervised, unsupervised = copies
    a_file = supervised / SUPERVISED_METRICS

    message = refused(unique_names, a_file, unsupervised)

    assert message.startswith(f"--supervised-dir {a_file} is a file")
    assert "ML/train_supervised.py" in message


@pytest.mark.registry
def test_a_missing_directory_is_refused_naming_the_option(copies, unique_names, refused, tmp_path):
    supervised, _ = copies
    nowhere = tmp_path / "no-such-run"

    message = refused(unique_names, supervised, nowhere)

    assert message.startswith(f"--unsupervised-dir {nowhere} does not exist")
    assert "ML/train_unsupervised.py" in message


@pytest.mark.registry
def test_the_unsupervised_output_passed_as_supervised_is_refused(copies, unique_names, refused):
    _, unsupervised = copies

    message = refused(unique_names, unsupervised, unsupervised)

    assert f"{unsupervised / SUPERVISED_METRICS} is missing" in message
    assert "output of the supervised training step" in message


@pytest.mark.registry
@pytest.mark.parametrize("bad", ["taxi fare", "taxi:fare", "taxi@fare", "", "-taxi", "taxi/fare"])
@pytest.mark.parametrize(
    ("key", "option"), [("ridge", "--ridge-model-name"), ("kmeans", "--unsupervised-model-name")]
)
def test_an_invalid_model_name_is_refused_naming_the_option(
    trained_dirs, unique_names, refused, bad, key, option
):
    names = {**unique_names, key: bad}

    message = refused(names, *trained_dirs)

    assert message.startswith(f"Invalid {option} {bad!r}")
    assert "NAME:3" in message


@pytest.mark.registry
def test_duplicate_names_are_refused(trained_dirs, unique_names, refused):
    names = {**unique_names, "ridge": unique_names["linear"]}

    message = refused(names, *trained_dirs)

    assert "must differ" in message
    assert unique_names["linear"] in message
