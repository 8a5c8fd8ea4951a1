"""What a training output folder holds, and the MLflow model folder each trained model is saved as.

A training step writes, in its output folder::

    <model key>/               one MLflow model folder per model (MLmodel, model.skops, requirements.txt,
                               conda.yaml, python_env.yaml, input_example.json, serving_input_example.json)
    <step>_metrics.json        metrics, features, parameters and the data they came from
    input_example.json         five rows of the features, as columns + data
    manifest.json              the SHA-256 of every file above, written last

The model folder is complete at training time (skops format, explicit pip requirements, signature and input
example), so registration uploads it as it is: it never unpickles or imports scikit-learn or skops.
Importing this module is cheap; MLflow and scikit-learn load only inside :func:`save_model_folder`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

SUPERVISED_METRICS = "supervised_metrics.json"
UNSUPERVISED_METRICS = "unsupervised_metrics.json"
INPUT_EXAMPLE = "input_example.json"
#: The file MLflow reads first in a model folder.
MLMODEL = "MLmodel"
#: Packages a served model needs, pinned to the versions training ran with.
SERVING_PACKAGES = ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "cloudpickle", "skops")


def pip_requirements() -> list[str]:
    """The exact packages a served model needs, so MLflow need not infer them (seconds per model)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in SERVING_PACKAGES:
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:  # skops comes with MLflow 3 only
            continue
    return pins


def serialization_format() -> str:
    """skops where MLflow has it (loading a skops file executes no code); MLflow 2 knows only pickles."""
    import mlflow.sklearn

    return getattr(
        mlflow.sklearn, "SERIALIZATION_FORMAT_SKOPS", mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE
    )


def save_model_folder(model: Any, path: Path, example: pd.DataFrame) -> None:
    """Write ``model`` as an MLflow model folder at ``path`` (which must not exist yet).

    Args:
        model: A fitted scikit-learn estimator.
        path: The folder to create.
        example: A few rows of the features (a DataFrame): the input example, and the signature's source.
    """
    for variable in ("MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"):  # the lab sends no usage telemetry
        os.environ.setdefault(variable, "true")
    import mlflow.sklearn
    from mlflow.models import infer_signature

    mlflow.sklearn.save_model(
        model,
        str(path),
        signature=infer_signature(example, model.predict(example)),
        input_example=example,
        pip_requirements=pip_requirements(),
        serialization_format=serialization_format(),
    )
