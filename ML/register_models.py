"""Register the three trained taxi models as one all-or-nothing batch.

The last step of the pipeline: it runs only after both training steps succeeded. All three models are checked
first (MLflow model folders present, SHA-256 matching the training manifest, metrics complete and finite);
then each gets a new version tagged lifecycle=candidate, made from the MLflow run that trained it (trained
with --experiment, or in an Azure ML job: the version's run is the training run, with its parameters, held-out
metrics and model); a model trained offline gets a run `register-<name>` holding its folder as training wrote
it. No model is loaded. Inside an Azure ML job the job's run records, as parameters `training_run.<name>`,
which training run each version came from. A failure halfway removes what the batch created; earlier batches
of these names that a stopped process left pending are finished or removed first, and printed as `repair:
batch ...`. Uses MLFLOW_TRACKING_URI when set, else the local server (make server). With --learner (or
LAB_LEARNER) every name carries the learner: taxi-fare-linear-regression-alice.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import labhelpers_path  # noqa: F401  (puts labhelpers on the path)

from labhelpers.cli.entry import run_main
from labhelpers.foundation.learner import LEARNER_ENV


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--supervised-dir", required=True, help="output folder of ML/train_supervised.py")
    parser.add_argument("--unsupervised-dir", required=True, help="output folder of ML/train_unsupervised.py")
    parser.add_argument(
        "--linear-model-name",
        default=None,
        help="registered name of the LinearRegression model (default: taxi-fare-linear-regression[-LEARNER])",
    )
    parser.add_argument(
        "--ridge-model-name",
        default=None,
        help="registered name of the Ridge model (default: the learner's)",
    )
    parser.add_argument(
        "--unsupervised-model-name",
        default=None,
        help="registered name of the KMeans model (default: the learner's)",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the local server)",
    )
    parser.add_argument(
        "--learner",
        default=None,
        help=f"learner namespace: suffixes the model and experiment names, e.g. "
        f"taxi-fare-linear-regression-alice (default: ${LEARNER_ENV}; none: the seed's names)",
    )
    return parser.parse_args(argv)


def _print_registry_log() -> None:
    """Repairs of earlier batches (and other registry warnings) go to stdout, one plain line each."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("labhelpers.registry")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def _record_in_job_run(done) -> None:
    """Inside an Azure ML job (MLFLOW_RUN_ID set): the job's run names the training run of each version."""
    run_id = os.environ.get("MLFLOW_RUN_ID")
    if run_id:
        from mlflow import MlflowClient
        from mlflow.entities import Param

        params = [Param(f"training_run.{item.name}", item.run_id) for item in done]
        MlflowClient().log_batch(run_id, params=params)


def main(argv: list[str] | None = None) -> int:
    from labhelpers.foundation.learner import namespace
    from labhelpers.registry.register import register_models

    args = parse_args(argv)
    space = namespace(args.learner)  # refuses an invalid learner name before anything is read
    _print_registry_log()
    chosen = {
        "linear": args.linear_model_name,
        "ridge": args.ridge_model_name,
        "kmeans": args.unsupervised_model_name,
    }
    names = {key: chosen[key] or space.models[key] for key in chosen}
    done = register_models(
        args.supervised_dir,
        args.unsupervised_dir,
        names=names,
        tracking_uri=args.tracking_uri,
        learner=space.learner,
    )
    _record_in_job_run(done)
    print(f"batch {done[0].batch_id}: registered")
    for item in done:
        print(f"  {item.name} version {item.version}  (lifecycle=candidate, from run {item.run_id})")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
