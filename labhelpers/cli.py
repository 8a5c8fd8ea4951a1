"""The ``python -m labhelpers`` command line.

Each command group is added by a builder: a function that takes argparse's subparsers object, adds its
parser(s), and sets ``handler`` (a function of the parsed arguments returning the exit status) with
``set_defaults``. To add a command, write ``add_<name>_commands(subparsers)`` and list it in
:data:`COMMAND_BUILDERS`. Import heavy modules (mlflow, pandas) inside handlers, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from labhelpers import config
from labhelpers.errors import LabError

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


#: Builders of the top-level commands, in the order ``--help`` lists them.
COMMAND_BUILDERS: list[CommandBuilder] = [add_server_commands]


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
    try:
        return args.handler(args)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
