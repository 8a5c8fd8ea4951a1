"""Capabilities learned from the registry's answers, cached per client (fake clients, no server)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.registry import capabilities
from labhelpers.registry.references import resolve


def _refused(*args, **kwargs):
    raise MlflowException("Not supported by Azure ML (aliases)", error_code=pb.ENDPOINT_NOT_FOUND)


def _versions(fake_registry) -> list:
    """Fresh version records for each test: the fake registry writes aliases into the records it holds."""
    return [
        fake_registry.version(NAME, 2, lifecycle="production"),
        fake_registry.version(NAME, 3, lifecycle="candidate"),
        fake_registry.version(NAME, 1, lifecycle="archived"),
    ]


NAME = "m"


def test_a_refused_alias_is_learned_once_and_never_asked_again(fake_registry):
    client = fake_registry(_versions(fake_registry), refuses={"aliases"})
    assert capabilities.set_alias(client, NAME, "candidate", 1) is False
    assert capabilities.set_alias(client, NAME, "candidate", 2) is False
    assert resolve(f"{NAME}@production", client).version == "2"  # from the lifecycle tag
    assert (
        client.calls.count("set_registered_model_alias") == 1
        and "get_model_version_by_alias" not in client.calls
    )
    assert capabilities.of(client).aliases is False


def test_a_missing_alias_is_an_answer_of_a_registry_that_has_aliases(fake_registry):
    client = fake_registry(_versions(fake_registry))
    assert resolve(f"{NAME}@production", client).version == "2"
    assert capabilities.of(client).aliases is None  # not learned either way
    assert capabilities.set_alias(client, NAME, "production", 2) is True
    assert capabilities.of(client).aliases is True


def test_what_one_client_learned_does_not_leak_into_another(fake_registry):
    refusing, full = (
        fake_registry(_versions(fake_registry), refuses={"aliases"}),
        fake_registry(_versions(fake_registry)),
    )
    capabilities.set_alias(refusing, NAME, "candidate", 1)
    assert capabilities.set_alias(full, NAME, "candidate", 1) is True
    assert (capabilities.of(refusing).aliases, capabilities.of(full).aliases) == (False, True)


def test_refused_ordering_falls_back_to_the_highest_number_and_is_not_asked_again(fake_registry):
    client = fake_registry(_versions(fake_registry), refuses={"ordering"})
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert client.calls.count("search_model_versions+order") == 1
    assert capabilities.of(client).ordering is False


def test_an_order_silently_ignored_is_detected_from_the_answer(fake_registry):
    client = fake_registry(
        _versions(fake_registry), ignores_order=True
    )  # answers 2, 3, 1 to an ordered search
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert capabilities.of(client).ordering is False
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert client.calls.count("search_model_versions+order") == 1


def test_a_confirmed_order_then_costs_one_small_request(fake_registry):
    client = fake_registry(_versions(fake_registry))
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert capabilities.of(client).ordering is True
    client.calls.clear()
    assert resolve(f"{NAME}:latest", client).version == "3"
    assert client.calls == ["search_model_versions+order"]


@pytest.mark.parametrize(
    ("error", "refusal"),
    [
        (MlflowException("x", error_code=pb.ENDPOINT_NOT_FOUND), True),
        (MlflowException("x", error_code=pb.INVALID_PARAMETER_VALUE), True),
        (NotImplementedError("no aliases in this store"), True),
        (MlflowException("x", error_code=pb.RESOURCE_DOES_NOT_EXIST), False),
        (MlflowException("x", error_code=pb.PERMISSION_DENIED), False),
        (MlflowException("x", error_code=pb.TEMPORARILY_UNAVAILABLE), False),
        (ConnectionError("refused"), False),
    ],
)
def test_only_a_refusal_teaches_that_a_feature_is_missing(error, refusal):
    assert capabilities.is_refusal(error) is refusal


def test_a_registry_that_said_yes_once_keeps_the_feature(fake_registry):
    client = fake_registry(_versions(fake_registry))
    capabilities.learn(client, "aliases", True)
    with pytest.raises(MlflowException):
        capabilities.attempt(client, "aliases", _refused)
    assert capabilities.of(client).aliases is True
