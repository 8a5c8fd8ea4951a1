"""The unit tier: no MLflow server, no network. A test here that asks for a server fails loudly."""

from __future__ import annotations

import pytest

from tests.unit.fakes import FakeRegistry


@pytest.fixture(scope="session")
def mlflow_server() -> None:
    pytest.fail("tests/unit/ runs without an MLflow server: move this test to tests/integration/")


@pytest.fixture
def fake_registry() -> type[FakeRegistry]:
    """The class :class:`tests.unit.fakes.FakeRegistry`: ``fake_registry(versions, refuses={"aliases"})``."""
    return FakeRegistry
