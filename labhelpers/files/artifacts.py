"""Files and folders that never look complete when they are not: temp folders, atomic writes, manifests.

The one home of atomic writes in labhelpers: :func:`atomic_output_dir` for a folder (training outputs),
:func:`write_text_atomically` for one file (the deployment pins, the classroom's credentials and records).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

from labhelpers.foundation.errors import TrainingError

MANIFEST = "manifest.json"
#: errno values that mean the disk (or the user's quota on it) is full.
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise TrainingError(f"--output-dir {target} is a file; give a folder path.")
    if (target / MANIFEST).exists():
        raise TrainingError(
            f"{target} already holds a training run ({MANIFEST} present). Choose a new --output-dir, "
            "or remove that folder if you no longer need the run."
        )
    leftovers = (
        [p.name for p in target.iterdir() if not p.name.startswith(".partial-")] if target.exists() else []
    )
    if leftovers:
        raise TrainingError(
            f"{target} is not empty ({', '.join(sorted(leftovers)[:5])}); choose a new or empty --output-dir."
        )


@contextlib.contextmanager
def atomic_output_dir(target: str | Path) -> Iterator[Path]:
    """Yield a temporary folder whose contents appear in ``target`` only when the block succeeds.

    A missing ``target`` is created by renaming the temporary folder into place (atomic on one file system).
    An existing empty ``target`` (an Azure ML output mount, say) receives the files one by one, with the
    manifest last, so a folder without ``manifest.json`` is never a complete run.

    Raises:
        TrainingError: ``target`` is a file, already holds a run, or is not empty; or the disk filled up
            while writing (the partial outputs are removed, so the space comes back).
    """
    target = Path(target).resolve()
    _check_target(target)
    parent = target if target.exists() else target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        temp = Path(tempfile.mkdtemp(prefix=".partial-", dir=parent))
    except OSError as error:
        _raise_if_disk_full(error, target)
        raise
    try:
        yield temp
        _move_into_place(temp, target)
    except OSError as error:
        _raise_if_disk_full(error, target)
        raise
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _move_into_place(temp: Path, target: Path) -> None:
    if target.exists():
        children = sorted(temp.iterdir(), key=lambda p: p.name == MANIFEST)
        for child in children:
            os.replace(child, target / child.name)
        temp.rmdir()
    else:
        os.replace(temp, target)


def _raise_if_disk_full(error: OSError, target: Path) -> None:
    """Turn "no space left" into one message naming the output folder and the way out."""
    if error.errno not in _DISK_FULL:
        return
    written = f" ({error.filename})" if error.filename else ""
    raise TrainingError(
        f"The disk holding {target} is full: writing the training outputs failed{written}. The partial "
        f"outputs were removed and {target} holds no run from this attempt; earlier runs and registered "
        f"models are untouched. Free some space (see `df -h {target.parent}`) or choose an --output-dir on "
        "another disk, then run the training step again."
    ) from None


def write_text_atomically(path: Path, text: str, *, mode: int | None = None) -> Path:
    """Replace ``path`` with ``text`` in one step: an interrupted write never leaves half a file.

    The text goes to a temporary file beside ``path`` (created readable by its owner only), which then
    takes ``path``'s place with one ``os.replace``.

    Args:
        path: The file to write (its folder must exist).
        text: Its new content.
        mode: Permission bits of the result; default: those of the file it replaces, else 0o644. With
            0o600 the content is never readable by others, not even for a moment (credentials, keys).

    Returns:
        ``path``.
    """
    if mode is None:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.chmod(temp, mode)
        os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
    return path


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` as indented JSON, refusing NaN/inf (they are not JSON)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return path


def write_manifest(folder: Path, step: str, extra: dict | None = None) -> Path:
    """Record the SHA-256 of every file under ``folder`` in ``folder/manifest.json``."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    payload = {
        "step": step,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "artifacts": {p.relative_to(folder).as_posix(): sha256_file(p) for p in files},
        **(extra or {}),
    }
    return write_json(folder / MANIFEST, payload)


def read_manifest(folder: Path) -> dict:
    """Load ``folder/manifest.json``, with a clear error when it is missing or broken."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise TrainingError(
            f"{path} is missing: {folder} is not a complete training output. Re-run the training step."
        )
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise TrainingError(f"{path} is not valid JSON ({error}); re-run the training step.") from None


def finite_number(value: object) -> bool:
    """True for an int/float that is neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
