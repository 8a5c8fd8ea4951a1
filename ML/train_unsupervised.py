"""Train KMeans to assign NYC taxi trips to zone clusters from pickup/dropoff coordinates.

Writes OUTPUT_DIR/kmeans/ (an MLflow model folder: MLmodel, model.skops, requirements...; registration uploads
it as it is), OUTPUT_DIR/unsupervised_metrics.json and OUTPUT_DIR/manifest.json (SHA-256 of every artifact).
With --experiment, or inside an Azure ML job (which logs into the job's own run), the step is also an MLflow
run: parameters, metrics and the model folder; register_models.py then makes the version from that run.
"""

from __future__ import annotations

import argparse
import sys

import labhelpers_path  # noqa: F401  (puts labhelpers on the path)

from labhelpers.cli.entry import run_main
from labhelpers.training.script_options import training_parser, use_tracking_uri


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = training_parser(__doc__, "KMeans seed")
    parser.add_argument("--n-clusters", type=int, default=8, help="number of zone clusters (default 8)")
    parser.add_argument(
        "--silhouette-sample",
        type=int,
        default=10_000,
        help="rows used for the silhouette score at most (default 10000; it is quadratic)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from labhelpers.training.steps import data_line, run_unsupervised

    args = parse_args(argv)
    use_tracking_uri(args.tracking_uri)
    payload = run_unsupervised(
        args.data,
        args.output_dir,
        experiment=args.experiment,
        n_clusters=args.n_clusters,
        seed=args.seed,
        silhouette_sample=args.silhouette_sample,
    )
    print(data_line(payload))
    print(
        f"kmeans: n_clusters={payload['n_clusters']} inertia={payload['inertia']:.4f} "
        f"silhouette={payload['silhouette']:.4f} (on {payload['sample_size_used']} rows)"
    )
    if "training_run" in payload:
        print(f"logged as MLflow run {payload['training_run']}")
    print(f"wrote {args.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
