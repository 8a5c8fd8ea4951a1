"""Make ``labhelpers`` importable when a script runs from a plain checkout or an uploaded code snapshot."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if (ROOT / "labhelpers").is_dir() and str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
