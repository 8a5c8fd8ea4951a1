"""labhelpers: the helper package of the NYC taxi model-registry lab.

Notebooks write ``from labhelpers import register_models``. Importing this package does nothing else: the
names below load their module (and MLflow, pandas...) on first use, so ``import labhelpers`` stays instant
and sets no tracking URI, creates no folder and reads no network.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    # data and training
    "load_trips": "labhelpers.data.load",
    "clean_trips": "labhelpers.data.cleaning",
    "data_version": "labhelpers.data.cleaning",
    "generate_trips": "labhelpers.data.sample",
    "prepare_data": "labhelpers.training.steps",
    "run_supervised": "labhelpers.training.steps",
    "run_unsupervised": "labhelpers.training.steps",
    "metrics_table": "labhelpers.training.steps",
    "train_supervised": "labhelpers.training.train",
    "train_unsupervised": "labhelpers.training.train",
    "SUPERVISED_FEATURES": "labhelpers.training.features",
    # learner namespaces (a cohort sharing one registry)
    "namespace": "labhelpers.foundation.learner",
    # tracking server
    "use_tracking": "labhelpers.tracking.connection",
    "resolve_tracking_uri": "labhelpers.tracking.connection",
    # registry
    "register_models": "labhelpers.registry.register",
    "resolve": "labhelpers.registry.references",
    "parse_reference": "labhelpers.registry.references",
    "promote": "labhelpers.registry.promotion",
    "rollback": "labhelpers.registry.promotion",
    "history": "labhelpers.registry.promotion",
    "current_production": "labhelpers.registry.promotion",
    "read_pins": "labhelpers.registry.pinning",
    "comparison_table": "labhelpers.registry.catalog",
    "lineage": "labhelpers.registry.catalog",
    "audit": "labhelpers.registry.catalog",
    # Azure ML
    "connect": "labhelpers.azure.ml.connect",
    "submit_pipeline": "labhelpers.azure.ml.pipeline",
    "AzureError": "labhelpers.azure.ml.workspace",
    # errors
    "LabError": "labhelpers.foundation.errors",
    "DataError": "labhelpers.foundation.errors",
    "RegistryError": "labhelpers.foundation.errors",
    "ServerError": "labhelpers.foundation.errors",
    "TrainingError": "labhelpers.foundation.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'labhelpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
