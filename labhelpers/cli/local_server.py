"""``python -m labhelpers server``: start, stop, inspect the local MLflow server; rehearse Azure's rules."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from labhelpers.cli import options
from labhelpers.foundation import config

if TYPE_CHECKING:
    from labhelpers.local_server.control import ServerInfo

Handler = Callable[[argparse.Namespace], int]


def _add_server_options(parser: argparse.ArgumentParser) -> None:
    options.add_port(
        parser, f"Port on {config.HOST} (default: ${config.PORT_ENV}, else {config.DEFAULT_PORT})."
    )
    options.add_state_dir(
        parser,
        f"Folder for the database, artifacts, pid and log files "
        f"(default: ${config.STATE_DIR_ENV}, else <project>/.mlflow).",
    )


def _add_wait(parser: argparse.ArgumentParser, seconds: float, verb: str = "answer") -> None:
    options.add_timeout(
        parser, seconds, f"Seconds to wait for the server to {verb} (default: {seconds:.0f})."
    )


def _server_start(args: argparse.Namespace) -> int:
    from labhelpers.local_server import control as local_server

    info = local_server.start(args.port, args.state_dir, timeout=args.timeout)
    print(started_lines(info))
    return 0


def started_lines(info: ServerInfo) -> str:
    """What starting the local server prints: which server, its state folder, its addresses."""
    state = "already running" if info.already_running else "started"
    return (
        f"Local MLflow server {state} (pid {info.pid}, since {info.started_at}), state in {info.state_dir}\n"
        f"Tracking URI: {info.uri}\nMLflow UI: {info.uri}"
    )


def _server_stop(args: argparse.Namespace) -> int:
    from labhelpers.local_server import control as local_server

    local_server.stop(args.port, args.state_dir, timeout=args.timeout)  # prints what happened
    return 0


def _server_status(args: argparse.Namespace) -> int:
    from labhelpers.local_server import control as local_server

    found = local_server.status(args.port, args.state_dir)
    if found.running:
        health = "answering" if found.answering else "NOT answering API calls (see the log)"
        print(f"Local MLflow server: running (pid {found.pid}), {health}")
    elif found.answering:
        print(f"Local MLflow server: not running, but another MLflow server answers on port {found.port}")
    else:
        print("Local MLflow server: not running (start it with `make server`)")
    print(f"  URI:       {found.uri}\n  State dir: {found.state_dir}\n  Log:       {found.log_path}")
    return 0 if found.running else 1


def _server_azure_rules(args: argparse.Namespace) -> int:
    from labhelpers.azure.mlflow_api.rules import AzureRulesProxy, describe_rules
    from labhelpers.local_server import control as local_server

    info = local_server.start(args.port, args.state_dir, timeout=args.timeout)
    print(started_lines(info))
    proxy = AzureRulesProxy(info.uri, args.rules_port)
    print(f"\nAzure-rules stand-in in front of it. Tracking URI to use: {proxy.uri}")
    print(f"  e.g. papermill ... -p tracking_uri {proxy.uri}   or   export MLFLOW_TRACKING_URI={proxy.uri}")
    print(f"It refuses what Azure ML refuses:\n{describe_rules()}")
    same = "".join(
        f" {flag} {value}"
        for flag, value in (("--port", args.port), ("--state-dir", args.state_dir))
        if value
    )
    print(f"Ctrl-C stops the stand-in; the server stays (`python -m labhelpers server stop{same}` stops it).")
    proxy.serve_forever()
    return 0


def add_local_server_commands(subparsers: options.Subcommands) -> None:
    """Add ``server start|stop|status|azure-rules``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    actions = options.add_group(
        subparsers,
        "server",
        help="Start, stop or inspect the local MLflow tracking server.",
        description="Manage the local MLflow server (SQLite database and artifacts in the state folder).",
    )
    specs: list[tuple[str, Handler, str, float]] = [
        ("start", _server_start, "Start the server in the background (or reuse the running one).", 90.0),
        ("stop", _server_stop, "Stop the server and its worker processes.", 20.0),
        ("status", _server_status, "Show whether the server runs (exit status 0) or not (1).", 0.0),
    ]
    for name, handler, text, timeout in specs:
        action = actions.add_parser(name, help=text, description=text)
        _add_server_options(action)
        if timeout:
            _add_wait(action, timeout, "answer" if name == "start" else "exit before it is killed")
        action.set_defaults(handler=handler)
    text = (
        "Rehearse under Azure ML's rules: start (or reuse) the local server and serve, in the foreground, a "
        "proxy before it that refuses what Azure ML refuses; prints the tracking URI to use."
    )
    rules = actions.add_parser("azure-rules", help=text, description=text)
    _add_server_options(rules)
    rules.add_argument(
        "--rules-port",
        type=int,
        default=0,
        help=f"Port of the stand-in on {config.HOST} (default: a free one, printed).",
    )
    _add_wait(rules, 90.0)
    rules.set_defaults(handler=_server_azure_rules)
