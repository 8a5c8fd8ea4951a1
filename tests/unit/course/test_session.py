"""What the notebooks call between lessons: the course's own deployment folder, and the retraining month."""

from __future__ import annotations

import pytest

from labhelpers.course import run as course
from labhelpers.course.session import retraining_month, run_deployment_dir
from labhelpers.foundation.learner import namespace
from labhelpers.registry.pinning import DEPLOYMENT_DIR, DEPLOYMENT_FILE, PINS_FILE


def test_the_course_pins_into_a_copy_of_the_deployment_configuration_without_the_repos_pins(tmp_path):
    folder = run_deployment_dir(tmp_path / "outputs")
    assert folder == (tmp_path / "outputs" / "deployment").resolve()
    # the copy differs from the template only in the endpoint's name: yours, not the placeholder
    tracked = (DEPLOYMENT_DIR / DEPLOYMENT_FILE).read_text()
    mine = tracked.replace("endpoint_name: taxi-fare-endpoint", f"endpoint_name: {namespace().endpoint}")
    assert (folder / DEPLOYMENT_FILE).read_text() == mine != tracked
    assert not (folder / PINS_FILE).exists()
    (folder / PINS_FILE).write_text("kept: yes\n")
    assert run_deployment_dir(tmp_path / "outputs") == folder and (folder / PINS_FILE).is_file()


def test_a_learners_copy_deploys_the_learners_fare_model(tmp_path):
    from labhelpers.foundation.config import LINEAR_MODEL_NAME
    from labhelpers.registry.pinning import deployed_model, pin_production, read_pins

    folder = run_deployment_dir(tmp_path / "outputs", learner="ada")
    ada = f"{LINEAR_MODEL_NAME}-ada"
    assert deployed_model(folder) == f"azureml:{ada}:1"
    assert f"model: azureml:{ada}@latest" in (folder / "staging-deployment.yml").read_text()
    pin_production(ada, 2, folder)
    assert deployed_model(folder) == f"azureml:{ada}:2" and read_pins(folder) == {ada: f"azureml:{ada}:2"}


def test_run_course_gives_notebooks_04_and_05_the_runs_deployment_folder_unless_told(tmp_path):
    sources = [course.NOTEBOOK_DIR / name for name in course.NOTEBOOKS]
    given = course.with_run_deployment({"output_dir": str(tmp_path / "out")}, sources)
    assert given["deployment_dir"] == str((tmp_path / "out" / "deployment").resolve())
    explicit: dict[str, object] = {"output_dir": str(tmp_path / "out"), "deployment_dir": "/somewhere"}
    assert course.with_run_deployment(explicit, sources) == explicit
    assert course.with_run_deployment({}, sources[:3]) == {}  # 01-03 pin nothing


def test_the_retraining_month_is_june_with_its_own_data_version(tmp_path):
    import pandas as pd

    from labhelpers.training.steps import prepare_data

    month = retraining_month(tmp_path)
    pickups = pd.read_csv(month, parse_dates=["tpepPickupDateTime"])["tpepPickupDateTime"]
    assert pickups.dt.month.eq(6).all() and pickups.dt.year.eq(2016).all()
    assert prepare_data(month)[2]["data_version"] != prepare_data(None)[2]["data_version"]


def _trained(root):
    from labhelpers.files.artifacts import MANIFEST

    for step in ("supervised", "unsupervised"):
        (root / "run-20261205-031500-000000" / step).mkdir(parents=True)
        (root / "run-20261205-031500-000000" / step / MANIFEST).write_text("{}")
    return root


def _registered(fake_registry, *names):
    """The shared fake registry holding one version of each of ``names``."""
    registry = fake_registry()
    for name in names:
        registry.add(name, {})
    return registry


def test_each_notebook_run_too_early_says_which_notebook_to_do_first(tmp_path, monkeypatch, fake_registry):

    from labhelpers.course.session import ready_for
    from labhelpers.foundation.errors import RegistryError, TrainingError
    from labhelpers.foundation.learner import namespace

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    names, nothing = namespace(), _registered(fake_registry)
    with pytest.raises(TrainingError, match=r"^Do notebook 01 first: No complete training run under "):
        ready_for("02", names, output_dir=tmp_path / "empty")
    with pytest.raises(RegistryError, match=r"^Do notebook 02 first: the registry has no version of taxi-"):
        ready_for("03", names, client=nothing)
    with pytest.raises(TrainingError, match=r"^Do notebook 01 first"):
        ready_for("04", names, output_dir=tmp_path / "empty", client=nothing)
    with pytest.raises(RegistryError, match=r"^Do notebook 02 first"):
        ready_for("04", names, output_dir=_trained(tmp_path / "out"), client=nothing)
    with pytest.raises(RegistryError, match=r"^Do notebook 04 first: nothing is pinned in production in "):
        ready_for("05", names, deployment_dir=run_deployment_dir(tmp_path / "out"))
    partly = _registered(fake_registry, names.models["linear"])  # 02 stopped half-way: one model registered
    with pytest.raises(RegistryError, match="no version of taxi-fare-ridge-regression, taxi-trip-kmeans yet"):
        ready_for("03", names, client=partly)


def test_notebooks_whose_earlier_notebooks_ran_pass_the_check(tmp_path, monkeypatch, fake_registry):
    from labhelpers.course.session import ready_for
    from labhelpers.foundation.learner import namespace
    from labhelpers.registry.pinning import pin_production

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    names = namespace()
    everything = _registered(fake_registry, *names.model_names)
    out = _trained(tmp_path / "out")
    ready_for("02", names, output_dir=out)
    ready_for("03", names, client=everything)
    ready_for("04", names, output_dir=out, client=everything)
    deployment = run_deployment_dir(out)
    pin_production(names.models["linear"], 2, deployment)
    ready_for("05", names, deployment_dir=deployment)


def test_every_notebook_after_01_checks_its_order_in_its_first_cell_that_connects():
    import json

    for name in course.NOTEBOOKS[1:]:
        cells = json.loads((course.NOTEBOOK_DIR / name).read_text())["cells"]
        code = [
            "".join(c["source"])
            for c in cells
            if c["cell_type"] == "code" and "parameters" not in c["metadata"].get("tags", [])
        ]
        connect = next(source for source in code if "connect(" in source and "import" not in source)
        assert f'ready_for("{name[:2]}", names' in connect, name


def test_brief_errors_show_a_lab_error_as_one_line_and_any_other_with_its_traceback(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from labhelpers.course.session import brief_errors

    shell = InteractiveShell.instance()
    try:
        brief_errors()
        capsys.readouterr()
        failed = shell.run_cell(
            "from labhelpers.foundation.errors import DataError\nraise DataError('trips.csv: no such file')"
        )
        shown = capsys.readouterr().out
        assert type(failed.error_in_exec).__name__ == "DataError"
        assert shown.strip() == "DataError: trips.csv: no such file"  # one line, no frames
        shell.run_cell("def f():\n    raise KeyError('k')\nf()")
        assert "Traceback" in capsys.readouterr().out  # any other error keeps its frames
    finally:
        InteractiveShell.clear_instance()


def test_06_needs_a_production_version_of_the_fare_model(monkeypatch, fake_registry):
    from labhelpers.course.session import ready_for
    from labhelpers.foundation.errors import RegistryError
    from labhelpers.foundation.learner import namespace

    monkeypatch.delenv("LAB_LEARNER", raising=False)
    names = namespace()
    registry = _registered(fake_registry, *names.model_names)  # versions, none in production
    with pytest.raises(RegistryError, match=r"^Do notebook 04 first: no version of taxi-fare-linear-regr"):
        ready_for("06", names, client=registry)
    registry.add(names.models["linear"], {"lifecycle": "production"})
    ready_for("06", names, client=registry)
