"""The unit tier: no MLflow server, no network. A test here that asks for a server fails loudly."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def mlflow_server():
    pytest.fail("tests/unit/ runs without an MLflow server: move this test to tests/integration/")
