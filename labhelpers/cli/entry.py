"""How command-line entry points end: a clear message and an exit status, not a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable

from labhelpers.foundation.errors import LabError


def run_main(main: Callable[[list[str] | None], int | None], argv: list[str] | None = None) -> int:
    """Run ``main(argv)``; print a ``LabError`` as one message on stderr and return its exit code.

    Unexpected exceptions keep their traceback: they are bugs, and the traceback is what a bug report needs.
    """
    try:
        return int(main(argv) or 0)
    except LabError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
