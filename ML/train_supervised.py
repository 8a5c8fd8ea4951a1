"""Train the fare regressors (LinearRegression and Ridge) on NYC taxi trips.

Writes OUTPUT_DIR/linear_regression/ and OUTPUT_DIR/ridge_regression/ (MLflow model folders: MLmodel,
model.skops, requirements...; registration uploads them as they are), OUTPUT_DIR/supervised_metrics.json and
OUTPUT_DIR/manifest.json (SHA-256 of every artifact). Both models are scored on the course's held-out trips
(5,000 generated July 2016 trips no model trains on). With --experiment, or inside an Azure ML job (which logs
into the job's own run), the step is also an MLflow run: parameters, held-out metrics and both model folders;
register_models.py then makes each version from that run.
"""

from __future__ import annotations

import argparse
import sys

import labhelpers_path  # noqa: F401  (puts labhelpers on the path)

from labhelpers.cli.entry import run_main
from labhelpers.training.features import DEFAULT_SUPERVISED_FEATURES
from labhelpers.training.script_options import training_parser, use_tracking_uri


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = training_parser(__doc__, "seed of the train/test split")
    parser.add_argument(
        "--alpha", type=float, default=1.0, help="Ridge regularisation strength (default 1.0)"
    )
    parser.add_argument(
        "--test-size",
        type=float,
        default=0.2,
        help="share of rows left out of the fit (default 0.2; the metrics come from the held-out July trips)",
    )
    parser.add_argument(
        "--features",
        nargs="+",
        default=DEFAULT_SUPERVISED_FEATURES,
        metavar="NAME",
        help="features to train on (default: all of %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from labhelpers.training.steps import data_line, metrics_table, run_supervised

    args = parse_args(argv)
    use_tracking_uri(args.tracking_uri)
    payload = run_supervised(
        args.data,
        args.output_dir,
        experiment=args.experiment,
        alpha=args.alpha,
        test_size=args.test_size,
        seed=args.seed,
        features=args.features,
    )
    print(data_line(payload))
    print(metrics_table(payload).round(4).to_string())
    if "training_run" in payload:
        print(f"logged as MLflow run {payload['training_run']}")
    print(f"wrote {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
