"""The MLflow client protocol: MlflowClient has every method, and the fake implements each itself."""

from __future__ import annotations

import inspect

from labhelpers.core.registry_client import RegistryClient

METHODS = sorted(
    name for name, member in vars(RegistryClient).items() if callable(member) and not name.startswith("_")
)


def test_mlflow_client_offers_every_method_of_the_protocol_with_the_arguments_it_names():
    from mlflow import MlflowClient

    assert "search_model_versions" in METHODS and "tracking_uri" in dir(MlflowClient)
    for name in METHODS:
        real = inspect.signature(getattr(MlflowClient, name)).parameters
        named = [
            p
            for p, spec in inspect.signature(getattr(RegistryClient, name)).parameters.items()
            if spec.kind is spec.POSITIONAL_OR_KEYWORD
        ]
        assert list(real)[: len(named)] == named, (name, list(real), named)


def test_the_fake_registry_implements_every_method_itself(fake_registry):
    client = fake_registry()
    assert isinstance(client, RegistryClient)
    inherited = [name for name in METHODS if getattr(type(client), name) is getattr(RegistryClient, name)]
    assert inherited == []
