"""Under CI=true a skip fails the run unless tests/conftest.py's ALLOWED_SKIPS_UNDER_CI names it, with why.

Each case runs a small pytest session (pytester) with the gate the real sessions use (``SkipGate``) and a
deliberately skipping test: skipped at a module's import, in a test, by a mark and in a fixture.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
CI = {"CI": "true"}

SKIPPING = {
    "module": "import pytest\npytest.importorskip('no_such_module_anywhere')\n\ndef test_one():\n    pass\n",
    "test": "import pytest\n\ndef test_one():\n    pytest.skip('no chromium on PATH')\n",
    "mark": "import pytest\n\n@pytest.mark.skipif(True, reason='not today')\ndef test_one():\n    pass\n",
    "fixture": (
        "import pytest\n\n@pytest.fixture\ndef server():\n    pytest.skip('no PostgreSQL')\n\n"
        "def test_one(server):\n    pass\n"
    ),
}


def _run(pytester, skip_gate, source: str, environ: dict, allowed: dict | None = None):
    pytester.makepyfile(test_skipping=source)
    return pytester.runpytest("-p", "no:cacheprovider", plugins=[skip_gate(environ, allowed or {})])


@pytest.mark.parametrize("where", SKIPPING)
def test_under_ci_a_skip_fails_the_run_and_names_what_was_skipped(pytester, skip_gate, where):
    ran = _run(pytester, skip_gate, SKIPPING[where], CI)
    assert ran.ret != pytest.ExitCode.OK
    outcomes = ran.parseoutcomes()
    assert "skipped" not in outcomes and outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1
    ran.stdout.fnmatch_lines(["*CI=true and test_skipping.py* was skipped (*): CI must run everything*"])


@pytest.mark.parametrize("environ", [{}, {"CI": "false"}, {"CI": ""}])
@pytest.mark.parametrize("where", ["module", "test"])
def test_on_a_developers_machine_a_skip_stays_a_skip(pytester, skip_gate, where, environ):
    ran = _run(pytester, skip_gate, SKIPPING[where], environ)
    # a module skipped whole leaves no test collected: pytest's own exit code for that
    assert ran.ret == (pytest.ExitCode.NO_TESTS_COLLECTED if where == "module" else pytest.ExitCode.OK)
    assert ran.parseoutcomes() == {"skipped": 1}


def test_under_ci_a_skip_on_the_allow_list_stays_a_skip(pytester, skip_gate):
    parametrized = "@pytest.mark.parametrize('n', [1, 2])\ndef test_one(n):"
    source = SKIPPING["mark"].replace("def test_one():", parametrized)
    allowed = {"test_skipping.py::test_one": "a reason"}
    ran = _run(pytester, skip_gate, source, CI, allowed)
    assert ran.ret == pytest.ExitCode.OK
    assert ran.parseoutcomes() == {"skipped": 2}


def test_an_expected_failure_is_not_a_skip(pytester, skip_gate):
    source = "import pytest\n\n@pytest.mark.xfail(reason='known')\ndef test_one():\n    assert False\n"
    ran = _run(pytester, skip_gate, source, CI)
    assert ran.ret == pytest.ExitCode.OK
    assert ran.parseoutcomes() == {"xfailed": 1}


def test_every_allowed_skip_names_a_test_that_exists_and_says_why(skip_gate):
    for nodeid, reason in skip_gate().allowed.items():  # ALLOWED_SKIPS_UNDER_CI, the gate's default
        path, _, name = nodeid.partition("::")
        tree = ast.parse((ROOT / path).read_text())
        assert name in {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}, nodeid
        assert len(reason.split()) >= 8, f"{nodeid}: say why it may be skipped on CI"
