"""What a registration run records for a model trained offline: its metrics, parameters and training data.

A model trained with tracking on has its training run, which recorded all of this when it trained (see
:mod:`labhelpers.training.tracking`); a model trained offline gets a registration run ``register-<name>``
(:mod:`labhelpers.registry.all_or_nothing.upload`) holding the same, read from the step's metrics JSON.
Nothing here loads pandas or the data.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from labhelpers.registry.all_or_nothing.candidates import Candidate

if TYPE_CHECKING:
    from mlflow.entities import DatasetInput

#: The dataset's name as the registration run records it (also the version tag ``dataset``).
DATASET = "nyc-taxi"


def run_metrics(candidate: Candidate) -> dict[str, float]:
    """Metrics as the seed lab names them (``linear_regression_rmse``...) plus plain names for comparing."""
    if candidate.spec.task_type == "regression":
        prefixed = {f"{candidate.spec.key}_{k}": v for k, v in candidate.metrics.items()}
        return {**prefixed, **candidate.metrics}
    return dict(candidate.metrics)


def run_params(candidate: Candidate) -> dict[str, str]:
    """Training parameters plus the features used, as strings."""
    params = {key: str(value) for key, value in candidate.payload["parameters"].items()}
    if candidate.spec.model_type != "Ridge":
        params.pop("alpha", None)
    params["features"] = ",".join(candidate.features)
    params["training_rows"] = str(candidate.payload.get("data", {}).get("rows_used", "unknown"))
    return params


def dataset_input(candidate: Candidate) -> DatasetInput:
    """The training data as an MLflow dataset input: its source, digest, columns and size.

    Built from the metrics JSON and the model's signature, as ``mlflow.data.from_pandas`` would describe it,
    without loading pandas or the data.
    """
    from mlflow.entities import Dataset, DatasetInput, InputTag

    data = candidate.payload.get("data", {})
    source = str(data.get("source", "unknown"))
    web = source.startswith(("http://", "https://"))
    rows = data.get("rows_used")
    profile = (
        {"num_rows": rows, "num_elements": rows * len(candidate.features)} if isinstance(rows, int) else {}
    )
    dataset = Dataset(
        name=DATASET,
        digest=candidate.data_version.removeprefix("sha256:")[:32],  # MLflow stores at most 36 characters
        source_type="http" if web else "local",
        source=json.dumps({"url": source} if web else {"uri": source}),
        schema=json.dumps({"mlflow_colspec": candidate.model.input_schema}),
        profile=json.dumps(profile),
    )
    return DatasetInput(dataset, tags=[InputTag("mlflow.data.context", "training")])
