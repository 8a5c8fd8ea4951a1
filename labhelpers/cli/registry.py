"""``python -m labhelpers registry repair``: finish or remove batches a stopped registration left pending."""

from __future__ import annotations

import argparse
import contextlib
import io

from labhelpers.cli import options
from labhelpers.foundation import config


def _repair(args: argparse.Namespace) -> int:
    from labhelpers.registry.all_or_nothing.repair import repair_registry

    names = args.name or list(config.MODEL_NAMES)
    # MLflow 2 prints "View run ... at" links whenever a run ends; this command's output is its report.
    with contextlib.redirect_stdout(io.StringIO()):
        done = repair_registry(names, tracking_uri=args.tracking_uri, dry_run=args.dry_run)
    for item in done:
        print(item)
    if not done:
        print(f"Nothing to repair: no batch of {', '.join(names)} is pending.")
    elif args.dry_run:
        print("Dry run: nothing was changed.")
    return 1 if any(item.action == "failed" for item in done) else 0


def add_registry_commands(subparsers: options.Subcommands) -> None:
    """Add ``registry repair``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    actions = options.add_group(
        subparsers,
        "registry",
        help="Look after the model registry (repair batches left pending).",
        description="Look after the model registry.",
    )
    text = (
        "Complete or remove registration batches left pending (lab.batch_status=pending) by a process that "
        "stopped: a batch whose every model has a version is completed, any other is removed. A batch whose "
        "lease has not run out is still being registered and is left alone. Exit status 1 if a repair failed."
    )
    repair = actions.add_parser("repair", help="Finish or remove batches left pending.", description=text)
    options.add_dry_run(repair, "Only print what would be done; change nothing.")
    repair.add_argument(
        "--name",
        action="append",
        metavar="NAME",
        help="Registered model name to look under; repeat for several "
        f"(default: {', '.join(config.MODEL_NAMES)}). Other members of the batches found are followed.",
    )
    options.add_tracking_uri(repair)
    repair.set_defaults(handler=_repair)
