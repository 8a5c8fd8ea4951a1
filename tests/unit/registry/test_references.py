"""Version references parsed without a registry: every accepted form, and the refusals with their hints.

Resolution against a real server is in tests/integration/registry/test_registry.py.
"""

from __future__ import annotations

import pytest

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.references import Reference, parse_reference, resolve
from tests.unit.fakes import FakeRegistry


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("azureml:taxi-fare@latest", Reference("taxi-fare", None, "latest")),
        ("azureml:taxi-fare:3", Reference("taxi-fare", "3", None)),
        ("models:/taxi-fare/3", Reference("taxi-fare", "3", None)),
        ("models:/taxi-fare/latest", Reference("taxi-fare", None, "latest")),
        ("models:/taxi-fare@production", Reference("taxi-fare", None, "production")),
        ("taxi-fare@latest", Reference("taxi-fare", None, "latest")),
        ("taxi-fare@validated", Reference("taxi-fare", None, "validated")),
        ("taxi-fare:12", Reference("taxi-fare", "12", None)),
        ("taxi_fare.v2:1", Reference("taxi_fare.v2", "1", None)),
        ("  taxi-fare:3\n", Reference("taxi-fare", "3", None)),
        ("taxi-fare:LATEST", Reference("taxi-fare", None, "latest")),
        ("models:/taxi-fare/Latest", Reference("taxi-fare", None, "latest")),
    ],
)
def test_accepted_forms_parse_to_one_name_and_one_version_or_label(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize("label", ["3", "12"])
def test_azureml_at_number_is_refused_with_the_colon_form_suggested(label: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_reference(f"azureml:taxi-fare@{label}")
    message = str(caught.value)
    assert f"'azureml:taxi-fare:{label}'" in message
    assert "only 'latest' exists" in message


def test_azureml_at_number_is_refused_before_any_registry_request() -> None:
    with pytest.raises(RegistryError, match=r"azureml:taxi-fare:3"):
        resolve("azureml:taxi-fare@3", client=FakeRegistry(allows=()))  # any request fails the test


def test_azureml_at_a_custom_label_suggests_latest() -> None:
    # Azure ML has no aliases: a label other than latest after '@' cannot mean anything there.
    with pytest.raises(RegistryError, match=r"azureml:taxi-fare@latest"):
        parse_reference("azureml:taxi-fare@production")


@pytest.mark.parametrize("text", ["taxi-fare:three", "models:/taxi-fare/v3", "azureml:taxi-fare:3.0"])
def test_a_version_that_is_not_a_number_is_refused_with_examples(text: str) -> None:
    with pytest.raises(RegistryError, match=r"is not a number; use e\.g\. taxi-fare:3 or taxi-fare@latest"):
        parse_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "taxi-fare",  # a name alone names no version
        "models:/taxi-fare",
        "models:/taxi-fare/3/extra",
        "azureml:",
        "azureml:taxi-fare",
        "taxi-fare:3:4",
        "taxi-fare@",
        "a/b:3",
        "runs:/abc/model",
    ],
)
def test_unknown_forms_are_refused_listing_the_accepted_ones(text: str) -> None:
    with pytest.raises(RegistryError) as caught:
        parse_reference(text)
    message = str(caught.value)
    assert message.startswith("Cannot read the model reference")
    for form in ("azureml:NAME@latest", "azureml:NAME:3", "models:/NAME/3", "NAME@latest", "NAME:3"):
        assert form in message


def test_none_is_refused_like_an_empty_reference() -> None:
    with pytest.raises(RegistryError, match="Cannot read the model reference ''"):
        parse_reference(None)  # type: ignore[arg-type]  # a notebook variable left at None


@pytest.mark.parametrize(
    ("text", "azureml"),
    [
        ("models:/taxi-fare/3", "azureml:taxi-fare:3"),
        ("taxi-fare:3", "azureml:taxi-fare:3"),
        ("models:/taxi-fare/latest", "azureml:taxi-fare@latest"),
        ("taxi-fare@latest", "azureml:taxi-fare@latest"),
    ],
)
def test_every_pinned_or_latest_reference_has_an_azure_form_that_parses_back(text: str, azureml: str) -> None:
    reference = parse_reference(text)
    assert reference.azureml() == azureml
    assert parse_reference(azureml) == reference
