"""What the notebooks call between lessons: the course's own deployment folder, and the retraining month."""

from __future__ import annotations

from labhelpers.course import run as course
from labhelpers.course.session import retraining_month, run_deployment_dir
from labhelpers.registry.pinning import DEPLOYMENT_DIR, DEPLOYMENT_FILE, PINS_FILE


def test_the_course_pins_into_a_copy_of_the_deployment_configuration_without_the_repos_pins(tmp_path):
    folder = run_deployment_dir(tmp_path / "outputs")
    assert folder == (tmp_path / "outputs" / "deployment").resolve()
    assert (folder / DEPLOYMENT_FILE).read_text() == (DEPLOYMENT_DIR / DEPLOYMENT_FILE).read_text()
    assert not (folder / PINS_FILE).exists()
    (folder / PINS_FILE).write_text("kept: yes\n")
    assert run_deployment_dir(tmp_path / "outputs") == folder and (folder / PINS_FILE).is_file()


def test_a_learners_copy_deploys_the_learners_fare_model(tmp_path):
    from labhelpers.core.config import LINEAR_MODEL_NAME
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
    explicit = {"output_dir": str(tmp_path / "out"), "deployment_dir": "/somewhere"}
    assert course.with_run_deployment(explicit, sources) == explicit
    assert course.with_run_deployment({}, sources[:3]) == {}  # 01-03 pin nothing


def test_the_retraining_month_is_june_with_its_own_data_version(tmp_path):
    import pandas as pd

    from labhelpers.training.steps import prepare_data

    month = retraining_month(tmp_path)
    pickups = pd.read_csv(month, parse_dates=["tpepPickupDateTime"])["tpepPickupDateTime"]
    assert pickups.dt.month.eq(6).all() and pickups.dt.year.eq(2016).all()
    assert prepare_data(month)[2]["data_version"] != prepare_data(None)[2]["data_version"]
