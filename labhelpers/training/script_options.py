"""The command-line options the ``ML/`` training scripts share, and the tracking URI they take.

``ML/train_supervised.py`` and ``ML/train_unsupervised.py`` build their parser here (data, output folder,
seed, experiment, tracking URI) and end through :func:`labhelpers.cli.entry.run_main`.
"""

from __future__ import annotations

import argparse


def training_parser(doc: str, seed_help: str) -> argparse.ArgumentParser:
    """The options every training script shares: data, output folder, seed, experiment, tracking URI."""
    from labhelpers.foundation.config import RANDOM_SEED, SAMPLE_DATA

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--data",
        default=str(SAMPLE_DATA),
        help="CSV/parquet file or https URL of trips (default: the shipped sample)",
    )
    parser.add_argument("--output-dir", required=True, help="new or empty folder for the trained model(s)")
    parser.add_argument("--seed", type=int, default=RANDOM_SEED, help=f"{seed_help} (default {RANDOM_SEED})")
    parser.add_argument(
        "--experiment",
        default=None,
        help="log the step as an MLflow run in this experiment: parameters, held-out metrics, the model "
        "folders (default: not logged, except inside an Azure ML job, which logs into the job's own run)",
    )
    parser.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow server the run goes to (default: $MLFLOW_TRACKING_URI)",
    )
    return parser


def use_tracking_uri(uri: str | None) -> None:
    """Point MLflow at ``uri`` when one is given (a script's ``--tracking-uri``); else leave it as it is."""
    if uri:
        import mlflow

        mlflow.set_tracking_uri(uri)
