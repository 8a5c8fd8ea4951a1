"""The MLflow client protocol: MlflowClient, labhelpers' wrapper and the one fake all implement it.

The assignments to ``RegistryClient`` below are what mypy checks (``make lint``): a protocol method that
``MlflowClient`` lacks or types otherwise, or one the fake answers with another type, fails the lint.
"""

from __future__ import annotations

import inspect

from mlflow import MlflowClient

from labhelpers.registry.client import RegistryClient
from labhelpers.registry.throttling import ThrottledClient
from tests.unit.fakes import FakeRegistry

METHODS = sorted(
    name for name, member in vars(RegistryClient).items() if callable(member) and not name.startswith("_")
)


def test_mlflow_client_offers_every_method_of_the_protocol_with_the_arguments_it_names():
    real_client: RegistryClient = MlflowClient("http://127.0.0.1:9")  # mypy: MlflowClient satisfies it

    assert isinstance(real_client, RegistryClient)
    assert "search_model_versions" in METHODS and "tracking_uri" in dir(MlflowClient)
    for name in METHODS:
        real = inspect.signature(getattr(MlflowClient, name)).parameters
        named = [
            p
            for p, spec in inspect.signature(getattr(RegistryClient, name)).parameters.items()
            if spec.kind is spec.POSITIONAL_OR_KEYWORD
        ]
        assert list(real)[: len(named)] == named, (name, list(real), named)


def test_the_fake_registry_implements_every_method_itself_with_the_protocols_arguments():
    client: RegistryClient = FakeRegistry()  # mypy: the fake satisfies it

    assert isinstance(client, RegistryClient)
    for name in METHODS:
        assert getattr(FakeRegistry, name) is not getattr(RegistryClient, name, None), name
        faked = list(inspect.signature(getattr(FakeRegistry, name)).parameters)
        declared = list(inspect.signature(getattr(RegistryClient, name)).parameters)
        assert faked == declared, (name, faked, declared)


def test_the_throttling_wrapper_is_a_registry_client_around_one():
    wrapped: RegistryClient = ThrottledClient(
        FakeRegistry(tracking_uri="azureml://x")
    )  # mypy: it satisfies it

    # every member of the protocol answers through the wrapper (isinstance would not say so on Python 3.12,
    # whose runtime protocol check ignores __getattr__ delegation)
    members = [name for name in dir(RegistryClient) if not name.startswith("_")]
    assert [name for name in members if not hasattr(wrapped, name)] == []
    assert wrapped.tracking_uri == "azureml://x"
