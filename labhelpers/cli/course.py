"""``python -m labhelpers course``: run the notebooks, summarise the registry.

The maintainer's commands that store the notebooks' outputs and take screenshots are tools outside the
package: ``python -m tools.store_outputs`` and ``python -m tools.screenshots`` (``make notebooks-outputs``,
``make screenshots``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from labhelpers.cli import options
from labhelpers.foundation.learner import LEARNER_ENV


def _parse_setting(text: str) -> tuple[str, object]:
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), yaml.safe_load(value)  # 2000 -> int, null -> None, [a, b] -> list


def _server_beside_training() -> Callable[[], None]:
    """Start the local MLflow server in a thread, so that it comes up while notebook 01 trains (offline).

    Returns:
        A callable that waits for the server, prints what ``server start`` prints, and raises its error.

    Raises:
        ServerError: At once, what would stop the server's start before it spawns (e.g. a port in use).
    """
    import threading

    from labhelpers.cli.local_server import started_lines
    from labhelpers.local_server import control as local

    local.check_start()  # a port held by something else stops the run now, not after notebook 01
    outcome: dict = {}

    def start() -> None:
        try:
            outcome["info"] = local.start()
        except Exception as error:  # raised in the course's thread by ready()
            outcome["error"] = error

    thread = threading.Thread(target=start, name="mlflow-server-start", daemon=True)
    thread.start()

    def ready() -> None:
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        print(started_lines(outcome["info"]), flush=True)

    return ready


def _then_import_summary(ready: Callable[[], None] | None) -> Callable[[], None]:
    """``ready``, then the summary's imports (MLflow: seconds) in a thread, while the notebooks run.

    Not before the server answers: until then both cores start the server and the first kernel.
    """
    import importlib
    import threading

    def ready_then_import() -> None:
        if ready:
            ready()
        # what summary() imports: its modules, and MLflow, which they import only when called
        modules = ("labhelpers.registry.catalog", "labhelpers.registry.pinning", "mlflow")
        threading.Thread(target=lambda: [importlib.import_module(m) for m in modules], daemon=True).start()

    return ready_then_import


def _course_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labhelpers.course import run as course
    from labhelpers.course.notebooks import NOTEBOOK_DIR, NOTEBOOKS, load_parameters, with_run_deployment
    from labhelpers.foundation.learner import current_learner

    parameters = load_parameters(args.parameters, dict(args.set))
    if args.deployment_dir:
        parameters["deployment_dir"] = str(Path(args.deployment_dir).resolve())
    output_dir = Path(args.output_dir).resolve()
    learner = current_learner(args.learner)
    ready = _server_beside_training() if args.start_server else None
    if args.summary:
        ready = _then_import_summary(ready)
    course.run_course(output_dir, parameters, timeout=args.timeout, learner=learner, registry_ready=ready)
    print(f"Executed notebooks in {output_dir}")
    if args.summary:
        notebooks = [NOTEBOOK_DIR / name for name in NOTEBOOKS]
        deployment = with_run_deployment(parameters, notebooks).get("deployment_dir")
        _print_summary(learner, None, deployment if isinstance(deployment, str) else None)
    return 0


def _print_summary(learner: str | None, tracking_uri: str | None, deployment_dir: str | None) -> None:
    """The registry summary of ``learner``'s namespace (the seed's names without one)."""
    from labhelpers.course.summary import summary

    if learner:
        os.environ[LEARNER_ENV] = learner
    print(summary(tracking_uri, deployment_dir))


def _course_summary(args: argparse.Namespace) -> int:
    from labhelpers.foundation.learner import current_learner

    _print_summary(current_learner(args.learner), args.tracking_uri, args.deployment_dir)
    return 0


def _add_run(actions: options.Subcommands, timeout: int) -> None:
    run = actions.add_parser(
        "run",
        help="Execute notebooks 01-06 in order (stops at the first failing cell, exit status 2).",
        description="Execute notebooks 01-06 in order with this venv's kernel; each notebook receives the "
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
    options.add_deployment_dir(
        run,
        "Pin production in this deployment configuration, e.g. ML/deployment to rewrite the tracked "
        "files (default: the run's own copy, outputs/course/deployment).",
    )
    options.add_timeout(run, timeout, "Seconds one cell may run (%(default)s).", value_type=int)
    run.add_argument(
        "--start-server",
        action="store_true",
        help="Start the local MLflow server (if it is not running) while notebook 01 trains.",
    )
    run.add_argument(
        "--summary", action="store_true", help="Then print the registry summary (as `course summary`)."
    )
    options.add_learner(run)
    run.set_defaults(handler=_course_run)


def add_course_commands(subparsers: options.Subcommands) -> None:
    """Add ``course run|summary``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    from labhelpers.course.run import CELL_TIMEOUT  # light: the module imports papermill only when running

    actions = options.add_group(
        subparsers,
        "course",
        help="Run the course notebooks 01-06 in order, or summarise the registry they leave.",
        description="Run the course notebooks with papermill, or print the registry summary.",
    )
    _add_run(actions, CELL_TIMEOUT)
    summary = actions.add_parser(
        "summary",
        help="Print each model's versions and lifecycle, the production pins and the MLflow UI address.",
        description="Summarise the registry: versions and lifecycle per model, production pins, MLflow UI.",
    )
    options.add_tracking_uri(summary, "Tracking URI (default: $MLFLOW_TRACKING_URI, else the local server).")
    options.add_deployment_dir(summary, "Deployment configuration folder (default: ML/deployment).")
    options.add_learner(summary)
    summary.set_defaults(handler=_course_summary)
