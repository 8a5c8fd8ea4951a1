"""The endpoint name, built in one place, and the az ml commands that use it (offline)."""

from __future__ import annotations

import re

import pytest
import yaml

from labhelpers.azure.deployment import DEPLOYMENT_DIR, deployment_commands
from labhelpers.core import config
from labhelpers.core.errors import LabError


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


def test_every_command_names_your_endpoint_and_never_the_placeholder(monkeypatch):
    monkeypatch.setenv(config.ENDPOINT_SUFFIX_ENV, "lab1")
    commands = deployment_commands()
    assert [c.split()[2:4] for c in commands] == [
        ["online-endpoint", "create"],
        ["online-deployment", "create"],
        ["online-deployment", "create"],
        ["online-endpoint", "invoke"],
        ["online-endpoint", "delete"],
    ]
    placeholder = yaml.safe_load((DEPLOYMENT_DIR / "endpoint.yml").read_text())["name"]
    assert all("taxi-fare-lab1" in c and f" {placeholder}" not in c for c in commands)
    assert "--request-file ML/deployment/sample-request.json" in commands[3]
    assert "--all-traffic" in commands[1] and "production-deployment.yml" in commands[1]
