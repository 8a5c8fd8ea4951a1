"""The options several ``python -m labhelpers`` commands share, each declared here once, and the shape
every command group shares (``python -m labhelpers GROUP ACTION``).

A command module adds a shared option with its ``add_*`` function; the flag, its destination, type, default
and metavar live only here. Where an option means something slightly different per command (which registry
a missing ``--tracking-uri`` falls back to, which folder ``--state-dir`` is), the command passes its own help
text. An option only one command has stays in that command's module. This module imports nothing heavy,
so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from labhelpers.foundation.learner import LEARNER_ENV

#: ``--tracking-uri`` help for commands that fall back to the local MLflow server.
LOCAL_TRACKING_URI_HELP = "MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else the local server)."


class Subcommands(Protocol):
    """Where commands are added: the object ``ArgumentParser.add_subparsers()`` returns.

    argparse documents that object by its ``add_parser`` method only (its class is private), so this names
    the part the command modules use.
    """

    def add_parser(
        self, name: str, *, help: str | None = ..., description: str | None = ...
    ) -> argparse.ArgumentParser: ...


def add_group(subparsers: Subcommands, name: str, help: str, description: str) -> Subcommands:
    """Add the command group ``name`` (``server``, ``course``...), whose action is required.

    Args:
        subparsers: The top-level parser's subparsers object.
        name: The group's command word.
        help: Its line in ``python -m labhelpers --help``.
        description: Its own ``--help`` text.

    Returns:
        The subparsers object its actions are added to (the chosen one lands in ``args.action``).
    """
    group = subparsers.add_parser(name, help=help, description=description)
    return group.add_subparsers(dest="action", required=True, metavar="ACTION")


def add_tracking_uri(parser: argparse.ArgumentParser, help: str = LOCAL_TRACKING_URI_HELP) -> None:
    """Add ``--tracking-uri URI`` (default ``None``: the command's own fallback).

    Args:
        parser: The command's parser.
        help: What the URI names and what a missing one means for this command.
    """
    parser.add_argument("--tracking-uri", default=None, help=help)


def add_learner(parser: argparse.ArgumentParser, *, repeatable: bool = False, required: str = "") -> None:
    """Add ``--learner NAME``.

    Args:
        parser: The command's parser.
        repeatable: False: one learner namespace (model, experiment and endpoint names), default
            ``$LAB_LEARNER``. True: a list of learners to act on (``--learner`` repeated), default the
            classroom's roster.
        required: When given, the option is required and this is its help (no default: the command acts
            on someone else's resources, never on whoever ``$LAB_LEARNER`` names).
    """
    kind: dict[str, Any]
    if required:
        kind = {"required": True, "help": required}
    elif repeatable:
        kind = {"action": "append", "help": "Only this learner (repeatable; default: roster)."}
    else:
        kind = {
            "default": None,
            "help": f"Learner namespace: names become e.g. taxi-fare-linear-regression-NAME (default: "
            f"${LEARNER_ENV}; none: the course's own names).",
        }
    parser.add_argument("--learner", metavar="NAME", **kind)


def add_dry_run(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--dry-run``: only say what would be done.

    Args:
        parser: The command's parser.
        help: What the dry run prints.
    """
    parser.add_argument("--dry-run", action="store_true", help=help)


def add_yes(parser: argparse.ArgumentParser) -> None:
    """Add ``--yes``: do not ask before acting (for scripts).

    Args:
        parser: The command's parser.
    """
    parser.add_argument("--yes", action="store_true", help="Do not ask (for scripts).")


def add_state_dir(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--state-dir DIR`` (default ``None``: the command's own folder).

    Args:
        parser: The command's parser.
        help: Which folder it is and its default.
    """
    parser.add_argument("--state-dir", default=None, help=help)


def add_port(parser: argparse.ArgumentParser, help: str) -> None:
    """Add ``--port N`` (an int; default ``None``: the command's own port).

    Args:
        parser: The command's parser.
        help: Whose port it is and its default.
    """
    parser.add_argument("--port", type=int, default=None, help=help)


def add_timeout(
    parser: argparse.ArgumentParser, default: float, help: str, value_type: type[float] | type[int] = float
) -> None:
    """Add ``--timeout SECONDS``.

    Args:
        parser: The command's parser.
        default: Seconds when the option is not given.
        help: What the command waits for.
        value_type: ``float``, or ``int`` where the value is passed on as whole seconds.
    """
    parser.add_argument("--timeout", type=value_type, default=default, help=help)


def add_deployment_dir(parser: argparse.ArgumentParser, help: str, metavar: str | None = None) -> None:
    """Add ``--deployment-dir`` (default ``None``: ``ML/deployment`` or the command's own copy).

    Args:
        parser: The command's parser.
        help: What the command does with the deployment configuration.
        metavar: How ``--help`` names the value (default: ``DEPLOYMENT_DIR``).
    """
    parser.add_argument("--deployment-dir", default=None, metavar=metavar, help=help)
