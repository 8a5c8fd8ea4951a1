"""The ``python -m labhelpers`` command line.

Each command group is added by a builder: a function that takes argparse's subparsers object, adds its
parser(s), and sets ``handler`` (a function of the parsed arguments returning the exit status) with
``set_defaults``. To add a command, write ``add_<name>_commands(subparsers)`` and list it in
:data:`COMMAND_BUILDERS`. Import heavy modules (mlflow, pandas) inside handlers, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from labhelpers import config
from labhelpers.entry import run_main

Handler = Callable[[argparse.Namespace], int]
CommandBuilder = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"Port on {config.HOST} (default: ${config.PORT_ENV}, else {config.DEFAULT_PORT}).",
    )
    parser.add_argument(
        "--state-dir",
        default=None,
        help=f"Folder for the database, artifacts, pid and log files "
        f"(default: ${config.STATE_DIR_ENV}, else <project>/.mlflow).",
    )


def _server_start(args: argparse.Namespace) -> int:
    from labhelpers import server

    info = server.start(args.port, args.state_dir, timeout=args.timeout)
    state = "already running" if info.already_running else "started"
    print(f"Local MLflow server {state} (pid {info.pid}, since {info.started_at}), state in {info.state_dir}")
    print(f"Tracking URI: {info.uri}")
    print(f"MLflow UI: {info.uri}")
    return 0


def _server_stop(args: argparse.Namespace) -> int:
    from labhelpers import server

    server.stop(args.port, args.state_dir, timeout=args.timeout)  # prints what happened
    return 0


def _server_status(args: argparse.Namespace) -> int:
    from labhelpers import server

    found = server.status(args.port, args.state_dir)
    if found.running:
        health = "answering" if found.answering else "NOT answering API calls (see the log)"
        print(f"Local MLflow server: running (pid {found.pid}), {health}")
    elif found.answering:
        print(f"Local MLflow server: not running, but another MLflow server answers on port {found.port}")
    else:
        print("Local MLflow server: not running (start it with `make server`)")
    print(f"  URI:       {found.uri}\n  State dir: {found.state_dir}\n  Log:       {found.log_path}")
    return 0 if found.running else 1


def add_server_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``server start|stop|status``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    group = subparsers.add_parser(
        "server",
        help="Start, stop or inspect the local MLflow tracking server.",
        description="Manage the local MLflow server (SQLite database and artifacts in the state folder).",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    specs: list[tuple[str, Handler, str, float]] = [
        ("start", _server_start, "Start the server in the background (or reuse the running one).", 90.0),
        ("stop", _server_stop, "Stop the server and its worker processes.", 20.0),
        ("status", _server_status, "Show whether the server runs (exit status 0) or not (1).", 0.0),
    ]
    for name, handler, text, timeout in specs:
        action = actions.add_parser(name, help=text, description=text)
        _add_server_options(action)
        if timeout:
            verb = "answer" if name == "start" else "exit before it is killed"
            action.add_argument(
                "--timeout",
                type=float,
                default=timeout,
                help=f"Seconds to wait for the server to {verb} (default: {timeout:.0f}).",
            )
        action.set_defaults(handler=handler)


def _add_workspace_options(parser: argparse.ArgumentParser) -> None:
    from labhelpers.azure import CREDENTIALS

    parser.add_argument(
        "--credential",
        choices=CREDENTIALS,
        default="default",
        help="How to sign in: default (service principal variables, az login...; managed identity only "
        "on Azure compute), cli (`az login` only) or managed-identity (default: %(default)s).",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="The workspace's config.json, or a folder to search upwards from (default: "
        "$AZURE_SUBSCRIPTION_ID, $AZURE_RESOURCE_GROUP and $AZUREML_WORKSPACE_NAME, else "
        ".azureml/config.json from the working folder upwards).",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="Seconds the sign-in and workspace lookup may take (default: %(default)g).",
    )


def _azure_connect(args: argparse.Namespace) -> int:
    from labhelpers.azure import connect

    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    print(f"Azure ML workspace: {found.workspace}")
    print(f"Tracking URI: {found.tracking_uri}")
    return 0


def _azure_submit(args: argparse.Namespace) -> int:
    from labhelpers.azure import connect, submit_pipeline

    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    submit_pipeline(
        found,
        pipeline=args.pipeline,
        compute=args.compute,
        data=args.data,
        experiment=args.experiment,
        create_environment=args.create_environment,
        stream=args.stream,
    )
    return 0


def add_azure_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``azure connect|submit``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    group = subparsers.add_parser(
        "azure",
        help="Connect to an Azure ML workspace or submit the training pipeline to it.",
        description="Use an Azure ML workspace instead of the local MLflow server (see docs/azure.md).",
    )
    actions = group.add_subparsers(dest="action", required=True, metavar="ACTION")
    text = "Find the workspace, sign in, and print its MLflow tracking URI."
    connect = actions.add_parser("connect", help=text, description=text)
    _add_workspace_options(connect)
    connect.set_defaults(handler=_azure_connect)
    text = "Submit ML/pipeline.yaml (train both steps, then register) and print its Studio address."
    submit = actions.add_parser("submit", help=text, description=text)
    _add_workspace_options(submit)
    submit.add_argument(
        "--pipeline",
        default=None,
        metavar="PATH",
        help="Pipeline YAML to submit (default: ML/pipeline.yaml).",
    )
    submit.add_argument(
        "--compute", default=None, help="Compute cluster to run on (default: the YAML's cpu-cluster)."
    )
    submit.add_argument(
        "--data",
        default=None,
        help="Trips to train on: azureml:NAME:VERSION, azureml:NAME@latest, an https URL or a local file "
        "(default: the shipped sample, uploaded).",
    )
    submit.add_argument(
        "--experiment", default=None, help="Experiment name (default: the YAML's taxi-model-registry)."
    )
    submit.add_argument(
        "--create-environment",
        action="store_true",
        help="Create or update the job environment taxi-ml-env from ML/environment first "
        "(needed once per workspace).",
    )
    submit.add_argument("--stream", action="store_true", help="Wait for the pipeline and stream its logs.")
    submit.set_defaults(handler=_azure_submit)


def _parse_setting(text: str) -> tuple[str, object]:
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), yaml.safe_load(value)  # 2000 -> int, null -> None, [a, b] -> list


def _course_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from labhelpers import course

    parameters = course.load_parameters(args.parameters, dict(args.set))
    output_dir = Path(args.output_dir).resolve()
    course.run_course(output_dir, parameters, timeout=args.timeout)
    print(f"Executed notebooks in {output_dir}")
    return 0


def _course_summary(args: argparse.Namespace) -> int:
    from labhelpers import course

    print(course.summary(args.tracking_uri, args.deployment_dir))
    return 0


def _course_store_outputs(args: argparse.Namespace) -> int:
    from labhelpers import course

    for cell in course.store_checked_outputs(args.executed_dir):
        print(f"stored the outputs of {cell}")
    return 0


def add_course_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``course run|summary|store-outputs``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    from labhelpers.course import CELL_TIMEOUT  # light: the module imports papermill only when running

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
    summary.set_defaults(handler=_course_summary)
    store = actions.add_parser(
        "store-outputs",
        help="Copy the outputs of the # NBVAL_CHECK_OUTPUT cells of executed notebooks into notebooks/.",
        description="Store the reference outputs nbval checks, taken from a course run against a fresh "
        "server (they hold version numbers); execution counts are never stored.",
    )
    store.add_argument("executed_dir", help="Folder of the executed notebooks (course run --output-dir).")
    store.set_defaults(handler=_course_store_outputs)


#: Builders of the top-level commands, in the order ``--help`` lists them.
COMMAND_BUILDERS: list[CommandBuilder] = [add_server_commands, add_azure_commands, add_course_commands]


def build_parser(builders: Sequence[CommandBuilder] | None = None) -> argparse.ArgumentParser:
    """Return the ``python -m labhelpers`` parser.

    Args:
        builders: Command builders to use; default :data:`COMMAND_BUILDERS`.

    Returns:
        The parser; parsed arguments carry the chosen command's ``handler``.
    """
    parser = argparse.ArgumentParser(
        prog="python -m labhelpers",
        description="Helpers for the NYC taxi model-registry lab.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for build in COMMAND_BUILDERS if builders is None else builders:
        build(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status.

    A :class:`~labhelpers.errors.LabError` is printed to stderr without a traceback and turns into its
    ``exit_code``.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    args = build_parser().parse_args(argv)
    return run_main(lambda _: args.handler(args))
