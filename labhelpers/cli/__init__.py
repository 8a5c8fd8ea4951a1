"""The ``python -m labhelpers`` command line.

Each command group is added by a builder: a function that takes argparse's subparsers object, adds its
parser(s), and sets ``handler`` (a function of the parsed arguments returning the exit status) with
``set_defaults``. To add a command, write ``add_<name>_commands(subparsers)`` in a module of this
folder and list it in :data:`COMMAND_BUILDERS`. An option several commands share (``--tracking-uri``,
``--learner``, ``--timeout``...) is declared once, in :mod:`labhelpers.cli.options`: add it with its
``add_*`` function. Import heavy modules (mlflow, pandas) inside handlers, so ``--help`` stays fast.

``local_server`` holds the ``server`` commands (the local MLflow server; the command keeps the word learners
type, ``make server``); ``entry`` is how every command line ends, the ``ML/`` scripts' included: a
:class:`~labhelpers.foundation.errors.LabError` as one message and an exit status, not a traceback.

The top room: may import every other room.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

from labhelpers.cli.azure import add_azure_commands
from labhelpers.cli.classroom import add_classroom_commands
from labhelpers.cli.course import add_course_commands
from labhelpers.cli.entry import run_main
from labhelpers.cli.local_server import add_local_server_commands
from labhelpers.cli.options import Subcommands
from labhelpers.cli.registry import add_registry_commands

CommandBuilder = Callable[[Subcommands], None]


#: Builders of the top-level commands, in the order ``--help`` lists them.
COMMAND_BUILDERS: list[CommandBuilder] = [
    add_local_server_commands,
    add_registry_commands,
    add_azure_commands,
    add_course_commands,
    add_classroom_commands,
]


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

    A :class:`~labhelpers.foundation.errors.LabError` is printed to stderr without a traceback and turns into
    its ``exit_code``.

    Args:
        argv: Arguments without the program name; default ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    args = build_parser().parse_args(argv)
    return run_main(lambda _: args.handler(args))
