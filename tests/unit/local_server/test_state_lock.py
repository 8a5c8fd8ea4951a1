"""One start or stop at a time per state folder: a second caller waits until the first lets go.

Both the local server's folder (labhelpers.local_server.state.locked) and the classroom's
(labhelpers.classroom.folder.locked) hold an exclusive file lock; here a second holder, in another process
as a second notebook or terminal would be, is made to wait for the first.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from labhelpers.classroom.folder import locked as classroom_locked
from labhelpers.local_server.state import locked as server_locked
from labhelpers.local_server.state import state_paths

SECOND = {
    "server": "from labhelpers.local_server.state import locked, state_paths\ncm = locked(state_paths(root))",
    "classroom": "from labhelpers.classroom.folder import locked\ncm = locked(root)",
}


def _hold(kind, root):
    return server_locked(state_paths(root)) if kind == "server" else classroom_locked(root)


def _second_holder(kind: str, root) -> subprocess.Popen:
    """A process that says "asking", takes the same lock, says "in", and lets go."""
    code = (
        f"from pathlib import Path\nroot = Path({str(root)!r})\n{SECOND[kind]}\n"
        "print('asking', flush=True)\nwith cm:\n    print('in', flush=True)\n"
    )
    second = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert second.stdout is not None
    assert second.stdout.readline() == "asking\n"  # imported and about to take the lock
    return second


@pytest.mark.parametrize("kind", ["server", "classroom"])
def test_a_second_holder_waits_until_the_first_lets_go(tmp_path, kind):
    with _hold(kind, tmp_path):
        second = _second_holder(kind, tmp_path)
        with pytest.raises(subprocess.TimeoutExpired):  # still waiting while the first holds the folder
            second.wait(timeout=1)
    out, _ = second.communicate(timeout=60)
    assert out == "in\n" and second.returncode == 0


@pytest.mark.parametrize("kind", ["server", "classroom"])
def test_the_lock_is_free_again_after_the_block_even_when_it_raised(tmp_path, kind):
    with pytest.raises(RuntimeError), _hold(kind, tmp_path):
        raise RuntimeError("start failed")
    second = _second_holder(kind, tmp_path)
    out, _ = second.communicate(timeout=60)
    assert out == "in\n"
