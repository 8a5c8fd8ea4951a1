"""The classroom's unit tests read and reset an in-memory registry: the unit tier's one fake client."""

from __future__ import annotations

import pytest


@pytest.fixture
def registry(fake_registry):
    """An empty in-memory registry that looks like a remote (non-local, non-Azure) MLflow server."""
    return fake_registry()
