"""The endpoint name, built in one place, and the az ml commands that use it (offline)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from labhelpers.azure.ml.deployment import (
    DEPLOYMENT_DIR,
    RUN_DEPLOYMENT_DIR,
    check_deployment_dir,
    deployment_commands,
)
from labhelpers.azure.ml.workspace import AzureError
from labhelpers.foundation import config
from labhelpers.foundation.errors import LabError
from labhelpers.foundation.learner import namespace


def test_the_suffix_comes_from_the_variable_else_differs_per_user_and_machine(monkeypatch):
    monkeypatch.setenv(config.ENDPOINT_SUFFIX_ENV, "Course7")
    assert config.endpoint_name() == "taxi-fare-course7"
    monkeypatch.delenv(config.ENDPOINT_SUFFIX_ENV)
    names = set()
    for user, host in [("azureuser", "ci-anna"), ("azureuser", "ci-ben"), ("anna", "laptop")]:
        monkeypatch.setattr("getpass.getuser", lambda user=user: user)
        monkeypatch.setattr("socket.gethostname", lambda host=host: host)
        name = config.endpoint_name()
        assert re.fullmatch(r"taxi-fare-[0-9a-f]{8}", name) and name == config.endpoint_name()
        names.add(name)
    assert len(names) == 3  # compute instances all log in as azureuser: the host name separates them


@pytest.mark.parametrize("suffix", ["a-suffix-far-too-long-for-azure-ml", "bad_name!"])
def test_a_suffix_azure_would_refuse_is_refused_here(monkeypatch, suffix):
    monkeypatch.setenv(config.ENDPOINT_SUFFIX_ENV, suffix)
    with pytest.raises(LabError, match=config.ENDPOINT_SUFFIX_ENV):
        config.endpoint_name()


def test_every_command_names_your_endpoint_and_the_run_s_files_never_the_templates(monkeypatch):
    monkeypatch.setenv(config.ENDPOINT_SUFFIX_ENV, "lab1")
    commands = deployment_commands()
    assert [c.split()[2:4] for c in commands] == [
        ["online-endpoint", "create"],
        ["online-deployment", "create"],
        ["online-deployment", "create"],
        ["online-deployment", "update"],
        ["online-deployment", "update"],
        ["online-endpoint", "invoke"],
        ["online-endpoint", "invoke"],
        ["online-endpoint", "update"],
        ["online-endpoint", "update"],
        ["online-deployment", "get-logs"],
        ["online-endpoint", "delete"],
    ]
    placeholder = yaml.safe_load((DEPLOYMENT_DIR / "endpoint.yml").read_text())["name"]
    assert all("taxi-fare-lab1" in c and f" {placeholder}" not in c for c in commands)
    assert all("ML/deployment" not in c for c in commands)  # the tracked templates are never deployed
    files = {word for c in commands for word in c.split() if word.endswith((".yml", ".json"))}
    assert {str(Path(f).parent) for f in files} == {"outputs/course/deployment"}
    assert "--all-traffic" in commands[1] and "production-deployment.yml" in commands[1]
    assert "--traffic 'production=90 staging=10'" in commands[7]


def test_the_default_folder_is_where_notebook_04_pins_by_default():
    from labhelpers.course.notebooks import NOTEBOOK_DIR, notebook_parameters

    output_dir = str(notebook_parameters(NOTEBOOK_DIR / "04_pin_and_promote.ipynb")["output_dir"])
    assert (NOTEBOOK_DIR / output_dir / "deployment").resolve() == RUN_DEPLOYMENT_DIR


def _run_folder(tmp_path, learner):
    from labhelpers.course.session import run_deployment_dir

    return run_deployment_dir(tmp_path / "outputs", learner)


def test_the_endpoint_command_refuses_the_templates_and_a_folder_with_nothing_pinned(tmp_path, monkeypatch):
    from labhelpers.registry.pinning import pin_production

    monkeypatch.delenv(config.ENDPOINT_SUFFIX_ENV, raising=False)
    alice = namespace("alice")
    with pytest.raises(AzureError, match="tracked templates"):
        check_deployment_dir(DEPLOYMENT_DIR, alice)
    with pytest.raises(AzureError, match="No deployment folder .* run notebook 04 .*--learner alice"):
        check_deployment_dir(tmp_path / "nowhere", alice)
    folder = _run_folder(tmp_path, "alice")
    with pytest.raises(AzureError, match="pins no production version of taxi-fare-linear-regression-alice"):
        check_deployment_dir(folder, alice)
    pin_production(alice.models["linear"], 4, folder)
    assert check_deployment_dir(folder, alice) == "azureml:taxi-fare-linear-regression-alice:4"
    with pytest.raises(AzureError, match="names endpoint 'taxi-fare-alice', but yours is 'taxi-fare-bob'"):
        check_deployment_dir(folder, namespace("bob"))


def test_a_run_folder_names_the_learner_s_endpoint_and_is_checked_before_deploying(tmp_path, monkeypatch):
    monkeypatch.delenv(config.ENDPOINT_SUFFIX_ENV, raising=False)
    folder = _run_folder(tmp_path, "alice")
    endpoint = yaml.safe_load((folder / "endpoint.yml").read_text())
    assert endpoint["name"] == "taxi-fare-alice"
    for name in ("production-deployment.yml", "staging-deployment.yml"):
        deployment = yaml.safe_load((folder / name).read_text())
        assert deployment["endpoint_name"] == "taxi-fare-alice"
        assert deployment["model"].startswith("azureml:taxi-fare-linear-regression-alice")
    assert "# The managed online endpoint" in (folder / "endpoint.yml").read_text()  # comments kept
    before = {p.name: p.read_text() for p in folder.glob("*.yml")}
    assert _run_folder(tmp_path, "alice") == folder  # again: nothing changes
    assert {p.name: p.read_text() for p in folder.glob("*.yml")} == before
    assert _run_folder(tmp_path, "bob") == folder  # an existing folder is returned as it is...
    assert {p.name: p.read_text() for p in folder.glob("*.yml")} == before
    with pytest.raises(AzureError, match="another learner's run"):  # ...and refused before deploying
        check_deployment_dir(folder, namespace("bob"))


def test_a_folder_an_earlier_version_made_gets_its_endpoint_name(tmp_path, monkeypatch):
    import shutil

    monkeypatch.delenv(config.ENDPOINT_SUFFIX_ENV, raising=False)
    old = tmp_path / "outputs" / "deployment"
    shutil.copytree(DEPLOYMENT_DIR, old)  # the placeholder names, the course's own model
    _run_folder(tmp_path, "alice")  # alice's model is not in it: left as it is
    assert yaml.safe_load((old / "endpoint.yml").read_text())["name"] == "taxi-fare-endpoint"
    monkeypatch.setenv(config.ENDPOINT_SUFFIX_ENV, "lab1")
    _run_folder(tmp_path, None)  # the course's own names: named now
    assert yaml.safe_load((old / "endpoint.yml").read_text())["name"] == "taxi-fare-lab1"


def test_the_endpoint_command_prints_the_checked_folder_s_commands(tmp_path, monkeypatch, capsys):
    from labhelpers.cli import main
    from labhelpers.registry.pinning import pin_production

    monkeypatch.delenv(config.ENDPOINT_SUFFIX_ENV, raising=False)
    folder = _run_folder(tmp_path, "alice")
    pin_production("taxi-fare-linear-regression-alice", 2, folder)
    assert main(["azure", "endpoint", "--learner", "alice", "--deployment-dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Your endpoint name: taxi-fare-alice" in out
    assert "azureml:taxi-fare-linear-regression-alice:2" in out
    printed = [line for line in out.splitlines() if line.startswith("az ml ")]
    assert printed == deployment_commands(folder, "taxi-fare-alice")
    assert main(["azure", "endpoint", "--learner", "bob", "--deployment-dir", str(folder)]) == 2
    assert "taxi-fare-bob" in capsys.readouterr().err
