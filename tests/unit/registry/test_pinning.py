"""Production pins: written with comments kept, refused loudly (nothing written) when they cannot be."""

from __future__ import annotations

from pathlib import Path

import pytest

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.pinning import (
    DEPLOYMENT_FILE,
    PINS_FILE,
    check_pinnable,
    deployed_model,
    pin_production,
    read_pins,
)

LINEAR = "taxi-fare-linear-regression"
DEPLOYMENT = """\
$schema: https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json
# Production: a comment the rewrite must keep.
name: production
endpoint_name: taxi-fare-endpoint
model: {model}   # pinned by promote
instance_type: Standard_DS3_v2
environment_variables:
  # nested comments stay too
  LOG_LEVEL: "info"
"""


def _deployment(folder: Path, model: str) -> Path:
    path = folder / DEPLOYMENT_FILE
    path.write_text(DEPLOYMENT.format(model=model))
    return path


def test_the_model_line_is_rewritten_and_everything_else_kept(tmp_path: Path) -> None:
    path = _deployment(tmp_path, f"azureml:{LINEAR}:3")

    assert pin_production(LINEAR, 7, tmp_path) == f"azureml:{LINEAR}:7"

    assert path.read_text() == DEPLOYMENT.format(model=f"azureml:{LINEAR}:7")
    assert deployed_model(tmp_path) == f"azureml:{LINEAR}:7"
    assert read_pins(tmp_path) == {LINEAR: f"azureml:{LINEAR}:7"}
    assert (tmp_path / PINS_FILE).read_text().startswith("# Production versions")


def test_a_floating_reference_to_the_model_is_replaced_by_a_pin(tmp_path: Path) -> None:
    path = _deployment(tmp_path, f"azureml:{LINEAR}@latest")
    pin_production(LINEAR, 2, tmp_path)
    [line] = [line for line in path.read_text().splitlines() if line.startswith("model:")]
    assert line.split() == ["model:", f"azureml:{LINEAR}:2", "#", "pinned", "by", "promote"]  # comment kept


def test_a_deployment_of_another_model_is_left_byte_for_byte(tmp_path: Path) -> None:
    path = _deployment(tmp_path, "azureml:taxi-fare-ridge-regression:4")
    before = path.read_bytes()

    pin_production(LINEAR, 5, tmp_path)

    assert path.read_bytes() == before
    assert read_pins(tmp_path) == {LINEAR: f"azureml:{LINEAR}:5"}


def test_a_missing_model_line_fails_loudly_naming_the_file_and_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / DEPLOYMENT_FILE
    path.write_text("\n".join(line for line in DEPLOYMENT.splitlines() if not line.startswith("model:")))
    before = path.read_bytes()
    (tmp_path / PINS_FILE).write_text(f"{LINEAR}: azureml:{LINEAR}:1\n")
    pins_before = (tmp_path / PINS_FILE).read_bytes()

    for attempt in (lambda: check_pinnable(LINEAR, tmp_path), lambda: pin_production(LINEAR, 2, tmp_path)):
        with pytest.raises(RegistryError) as raised:
            attempt()
        message = str(raised.value)
        assert f"{path} has no `model:` line" in message
        assert f"model: azureml:{LINEAR}:<version>" in message and "git checkout" in message

    assert path.read_bytes() == before
    assert (tmp_path / PINS_FILE).read_bytes() == pins_before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DEPLOYMENT_FILE, PINS_FILE])  # no temp left


@pytest.mark.parametrize("broken", ["model: [unclosed\n", "- a list\n- not a mapping\n"])
def test_a_deployment_that_is_not_a_yaml_mapping_is_refused(tmp_path: Path, broken: str) -> None:
    (tmp_path / DEPLOYMENT_FILE).write_text(broken)
    with pytest.raises(RegistryError, match=str(tmp_path / DEPLOYMENT_FILE)):
        pin_production(LINEAR, 2, tmp_path)
    assert not (tmp_path / PINS_FILE).exists()


def test_a_damaged_pins_file_is_named(tmp_path: Path) -> None:
    (tmp_path / PINS_FILE).write_text("taxi: [unclosed\n")
    with pytest.raises(RegistryError, match=rf"{tmp_path / PINS_FILE} is not valid YAML"):
        read_pins(tmp_path)


def test_without_a_deployment_file_only_the_pins_are_written(tmp_path: Path) -> None:
    pin_production(LINEAR, 1, tmp_path)
    pin_production("taxi-trip-kmeans", 4, tmp_path)
    assert read_pins(tmp_path) == {
        LINEAR: f"azureml:{LINEAR}:1",
        "taxi-trip-kmeans": "azureml:taxi-trip-kmeans:4",
    }
    assert deployed_model(tmp_path) is None
    assert (tmp_path / PINS_FILE).stat().st_mode & 0o777 == 0o644


def test_only_a_version_number_can_be_pinned(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="must pin a version number"):
        pin_production(LINEAR, "latest", tmp_path)
    assert list(tmp_path.iterdir()) == []
