"""``python -m labhelpers course``: run the notebooks, print the registry summary, store outputs."""

from __future__ import annotations

import argparse
import os

from labhelpers.core.learner import LEARNER_ENV


def add_learner_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--learner NAME``: the learner namespace (model, experiment and endpoint names).

    Args:
        parser: The command's parser.
    """
    parser.add_argument(
        "--learner",
        default=None,
        metavar="NAME",
        help=f"Learner namespace: names become e.g. taxi-fare-linear-regression-NAME (default: "
        f"${LEARNER_ENV}; none: the seed's names).",
    )


def _parse_setting(text: str) -> tuple[str, object]:
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), yaml.safe_load(value)  # 2000 -> int, null -> None, [a, b] -> list


def _course_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labhelpers.course import run as course

    parameters = course.load_parameters(args.parameters, dict(args.set))
    output_dir = Path(args.output_dir).resolve()
    course.run_course(output_dir, parameters, timeout=args.timeout, learner=args.learner)
    print(f"Executed notebooks in {output_dir}")
    return 0


def _course_summary(args: argparse.Namespace) -> int:
    from labhelpers.core.learner import current_learner
    from labhelpers.course import run as course

    learner = current_learner(args.learner)
    if learner:
        os.environ[LEARNER_ENV] = learner
    print(course.summary(args.tracking_uri, args.deployment_dir))
    return 0


def _course_store_outputs(args: argparse.Namespace) -> int:
    from labhelpers.course import run as course

    for cell in course.store_checked_outputs(args.executed_dir):
        print(f"stored the outputs of {cell}")
    return 0


def add_course_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``course run|summary|store-outputs``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    from labhelpers.course.run import CELL_TIMEOUT  # light: the module imports papermill only when running

    group = subparsers.add_parser(
        "course",
        help="Run the course notebooks 01-05 in order, or summarise the registry they leave.",
        description="Run the course notebooks with papermill, or print the registry summary.",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="Execute notebooks 01-05 in order (stops at the first failing cell, exit status 2).",
        description="Execute notebooks 01-05 in order with this venv's kernel; each notebook receives the "
        "parameters it declares. Relative paths in values are read from the notebooks/ folder.",
    )
    run.add_argument("--output-dir", default="build/course", help="Executed notebooks go here (%(default)s).")
    run.add_argument(
        "--parameters",
        metavar="PRESET|FILE",
        help="A preset (default, small) or a YAML file of parameter values (default: the notebooks' own).",
    )
    run.add_argument(
        "--set",
        type=_parse_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="Set one parameter, e.g. --set data=/path/trips.csv (YAML value; repeatable; wins over "
        "--parameters).",
    )
    run.add_argument(
        "--timeout", type=int, default=CELL_TIMEOUT, help="Seconds one cell may run (%(default)s)."
    )
    add_learner_option(run)
    run.set_defaults(handler=_course_run)
    summary = actions.add_parser(
        "summary",
        help="Print each model's versions and lifecycle, the production pins and the MLflow UI address.",
        description="Summarise the registry: versions and lifecycle per model, production pins, MLflow UI.",
    )
    summary.add_argument(
        "--tracking-uri", help="Tracking URI (default: $MLFLOW_TRACKING_URI, else the local server)."
    )
    summary.add_argument("--deployment-dir", help="Deployment configuration folder (default: ML/deployment).")
    add_learner_option(summary)
    summary.set_defaults(handler=_course_summary)
    store = actions.add_parser(
        "store-outputs",
        help="Copy the outputs of the # NBVAL_CHECK_OUTPUT cells of executed notebooks into notebooks/.",
        description="Store the reference outputs nbval checks, taken from a course run against a fresh "
        "server (they hold version numbers); execution counts are never stored.",
    )
    store.add_argument("executed_dir", help="Folder of the executed notebooks (course run --output-dir).")
    store.set_defaults(handler=_course_store_outputs)
