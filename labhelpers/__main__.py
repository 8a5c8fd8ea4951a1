"""``python -m labhelpers``: see :mod:`labhelpers.cli`."""

from labhelpers.cli import main

raise SystemExit(main())
