"""``python -m labhelpers classroom``: the shared registry of a cohort (start, stop, status, export,
progress, reset)."""

from __future__ import annotations

import argparse
import os

from labhelpers.cli import options


def _add_place(parser: argparse.ArgumentParser) -> None:
    options.add_state_dir(parser, "Classroom folder (default: $LAB_CLASSROOM_HOME, else .classroom).")


def _start(args: argparse.Namespace) -> int:
    from labhelpers.classroom import stack
    from labhelpers.classroom.accounts import export_block
    from labhelpers.classroom.roster import CREDENTIALS_FILE, INSTRUCTOR, load_credentials

    s = stack.settings(args.state_dir, args.host, args.port, args.pg_port, args.workers)
    record = stack.start(s, args.roster, tls_cert=args.tls_cert, tls_key=args.tls_key, timeout=args.timeout)
    state = "already running" if record["already_running"] else "started"
    pids = f"MLflow pid {record['mlflow_pid']}, PostgreSQL pid {record['postgres_pid']}"
    print(f"Classroom server {state}: {record['uri']} ({pids}, database on 127.0.0.1:{record['pg_port']})")
    print(f"State in {s.root}")
    credentials = load_credentials(s.root / CREDENTIALS_FILE)
    assert credentials is not None, "stack.start writes the credentials file"
    print(f"Passwords: {s.root / CREDENTIALS_FILE} (readable by you only).")
    print(f"Hand each learner a copy of {record['cert']} and their block:")
    users = [INSTRUCTOR, *credentials.learners] if args.print_exports else [INSTRUCTOR]
    for user in users:
        print(
            f"\n# ---- {user}\n"
            + export_block(record["uri"], record["cert"], user, credentials.password(user))
        )
    return 0


def _stop(args: argparse.Namespace) -> int:
    from labhelpers.classroom import stack

    mlflow_stopped, pg_stopped = stack.stop(stack.home(args.state_dir))
    said = {True: "stopped", False: "was not running"}
    print(f"MLflow: {said[mlflow_stopped]}; PostgreSQL: {said[pg_stopped]}. State kept for the next start.")
    return 0


def _status(args: argparse.Namespace) -> int:
    from labhelpers.classroom import stack

    found = stack.status(stack.settings(args.state_dir))
    health = "answering" if found.answering else "NOT answering (see mlflow.log)"
    mlflow = f"running (pid {found.mlflow_pid}), {health}" if found.mlflow_pid else "not running"
    pg = f"running (pid {found.postgres_pid})" if found.postgres_pid else "not running"
    print(f"Classroom server {found.uri}\n  MLflow:     {mlflow}\n  PostgreSQL: {pg}")
    print(f"  Learners:   {found.learners}\n  State dir:  {found.root}")
    return 0 if found.mlflow_pid and found.answering else 1


def _export(args: argparse.Namespace) -> int:
    from labhelpers.classroom import stack
    from labhelpers.classroom.accounts import export_block
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials
    from labhelpers.foundation.errors import ServerError

    root = stack.home(args.state_dir)
    record, credentials = stack.read_record(root), load_credentials(root / CREDENTIALS_FILE)
    if not record or credentials is None:
        raise ServerError(
            f"No classroom in {root}: run `python -m labhelpers classroom start --roster FILE`."
        )
    try:
        password = credentials.password(args.user)
    except KeyError:
        raise ServerError(f"{args.user!r} is not on the roster of {root}.") from None
    print(export_block(record["uri"], record["cert"], args.user, password))
    return 0


def _progress(args: argparse.Namespace) -> int:
    from labhelpers.classroom import progress

    table = progress.progress(args.learner or None, state_dir=args.state_dir, tracking_uri=args.tracking_uri)
    print(progress.as_text(table))
    page = progress.write_html(table, args.html)
    print(f"\nHTML page with chart: {page}")
    return 0


def _reset(args: argparse.Namespace) -> int:
    from labhelpers.classroom import reset

    done = reset.reset(
        args.learner or None,
        state_dir=args.state_dir,
        tracking_uri=args.tracking_uri,
        dry_run=args.dry_run,
        assume_yes=args.yes,
    )
    return 0 if done or args.dry_run else 1


def _add_start(actions: options.Subcommands) -> None:
    start = actions.add_parser(
        "start",
        help="Start PostgreSQL and the MLflow server (accounts, TLS), create accounts and namespaces.",
        description="Start (or resume) the classroom server; prints the export block of each account.",
    )
    _add_place(start)
    start.add_argument("--roster", help="Learner names, one per line (default: the previous start's).")
    start.add_argument("--host", help="Address to listen on (default 127.0.0.1; 0.0.0.0: every interface).")
    options.add_port(start, "MLflow's HTTPS port (default 5443, or the previous one).")
    start.add_argument("--pg-port", type=int, help="PostgreSQL's port on 127.0.0.1 (default 5433).")
    start.add_argument("--workers", type=int, help="MLflow worker processes (default: cores + 1, at most 4).")
    start.add_argument("--tls-cert", help="Your PEM certificate (default: a generated self-signed one).")
    start.add_argument("--tls-key", help="Its unencrypted PEM key (with --tls-cert).")
    options.add_timeout(start, 180.0, "Seconds to wait for MLflow (180).")
    start.add_argument(
        "--no-exports", dest="print_exports", action="store_false", help="Print the instructor's block only."
    )
    start.set_defaults(handler=_start)


def _add_registry_options(parser: argparse.ArgumentParser) -> None:
    _add_place(parser)
    options.add_learner(parser, repeatable=True)
    options.add_tracking_uri(
        parser,
        "Registry to read (default: $MLFLOW_TRACKING_URI, else the classroom server as instructor); "
        "an azureml:// URI works too.",
    )


def add_classroom_commands(subparsers: options.Subcommands) -> None:
    """Add ``classroom start|stop|status|export|progress|reset``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    actions = options.add_group(
        subparsers,
        "classroom",
        help="A shared registry for a cohort: accounts, namespaces, progress and reset.",
        description="Run the classroom server (PostgreSQL + MLflow with accounts, over TLS) and teach.",
    )
    _add_start(actions)
    for name, handler, text in (
        ("stop", _stop, "Stop MLflow and PostgreSQL (everything is kept for the next start)."),
        ("status", _status, "Show whether the classroom server runs and answers (exit status 0) or not (1)."),
    ):
        action = actions.add_parser(name, help=text, description=text)
        _add_place(action)
        action.set_defaults(handler=handler)
    export = actions.add_parser("export", help="Print one account's export block again.")
    _add_place(export)
    export.add_argument("user", help="A learner name, or 'instructor'.")
    export.set_defaults(handler=_export)
    progress = actions.add_parser("progress", help="One row per learner: how far each got (registry only).")
    _add_registry_options(progress)
    progress.add_argument(
        "--html",
        default=os.path.join("build", "classroom", "progress.html"),
        help="Where the HTML page goes (%(default)s).",
    )
    progress.set_defaults(handler=_progress)
    reset = actions.add_parser(
        "reset", help="Delete learners' models, runs and artifacts (lists them and asks first)."
    )
    _add_registry_options(reset)
    options.add_dry_run(reset, "Only list what would be deleted.")
    options.add_yes(reset)
    reset.set_defaults(handler=_reset)
