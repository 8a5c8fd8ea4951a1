"""labhelpers: the helper package of the NYC taxi model-registry lab.

Notebooks write ``from labhelpers import register_models``. Importing this package does nothing else: the
names below load their module (and MLflow, pandas...) on first use, so ``import labhelpers`` stays instant
and sets no tracking URI, creates no folder and reads no network.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> module that defines it.
_EXPORTS = {
    # data and training
    "load_trips": "labhelpers.data",
    "clean_trips": "labhelpers.cleaning",
    "data_version": "labhelpers.cleaning",
    "generate_trips": "labhelpers.sample",
    "prepare_data": "labhelpers.steps",
    "run_supervised": "labhelpers.steps",
    "run_unsupervised": "labhelpers.steps",
    "metrics_table": "labhelpers.steps",
    "train_supervised": "labhelpers.train",
    "train_unsupervised": "labhelpers.train",
    "SUPERVISED_FEATURES": "labhelpers.features",
    # tracking server
    "use_tracking": "labhelpers.tracking",
    "resolve_tracking_uri": "labhelpers.tracking",
    # registry
    "register_models": "labhelpers.registry",
    "resolve": "labhelpers.references",
    "parse_reference": "labhelpers.references",
    "promote": "labhelpers.promotion",
    "rollback": "labhelpers.promotion",
    "history": "labhelpers.promotion",
    "current_production": "labhelpers.promotion",
    "read_pins": "labhelpers.pinning",
    "comparison_table": "labhelpers.catalog",
    "lineage": "labhelpers.catalog",
    "audit": "labhelpers.catalog",
    # Azure ML
    "connect": "labhelpers.azure",
    "submit_pipeline": "labhelpers.azure_pipeline",
    "AzureError": "labhelpers.azure_workspace",
    # errors
    "LabError": "labhelpers.errors",
    "DataError": "labhelpers.errors",
    "RegistryError": "labhelpers.errors",
    "ServerError": "labhelpers.errors",
    "TrainingError": "labhelpers.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'labhelpers' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
