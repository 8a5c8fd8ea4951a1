"""The command line declares each option once: shared ones in ``labhelpers.cli.options``, used by every
command that has them, with the same meaning everywhere."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import labhelpers.cli
from labhelpers.cli import build_parser

CLI_DIR = Path(labhelpers.cli.__file__).parent


def _declarations() -> dict[str, list[str]]:
    """Each ``--flag`` -> the places (``module.py:line``) of the ``add_argument`` calls that declare it."""
    found: dict[str, list[str]] = defaultdict(list)
    for path in sorted(CLI_DIR.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_argument":
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and str(arg.value).startswith("--"):
                        found[str(arg.value)].append(f"{path.name}:{node.lineno}")
    return found


def _commands_by_flag(added: list) -> dict[str, set[str]]:
    """Each ``--flag`` -> the commands (``prog`` strings) whose parser has it, from ``added_options``."""
    out: dict[str, set[str]] = defaultdict(set)
    for prog, action in added:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                out[flag].add(prog)
    return out


def test_every_option_is_declared_in_one_place():
    declarations = _declarations()
    assert "--tracking-uri" in declarations  # the scan sees the declarations
    assert {flag: places for flag, places in declarations.items() if len(places) > 1} == {}


def test_every_option_commands_of_several_groups_have_is_declared_in_the_options_module(added_options):
    declarations = _declarations()
    build_parser()
    groups = {  # "python -m labhelpers server start" -> "server"
        flag: {prog.split()[3] for prog in commands}
        for flag, commands in _commands_by_flag(added_options).items()
    }
    shared = {flag for flag, names in groups.items() if len(names) > 1}
    assert {"--tracking-uri", "--learner", "--dry-run", "--state-dir", "--port", "--timeout"} <= shared
    elsewhere = {
        flag: declarations[flag] for flag in shared if not declarations[flag][0].startswith("options.py")
    }
    assert elsewhere == {}


def test_every_command_group_is_shaped_by_the_options_module(added_options):
    calls = [
        path.name
        for path in sorted(CLI_DIR.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_subparsers"
    ]
    assert sorted(calls) == ["__init__.py", "options.py"]  # the top level, and options.add_group
    build_parser()
    groups = {prog.split()[3] for prog, _ in added_options if len(prog.split()) > 3}  # "... GROUP [ACTION]"
    assert sorted(groups) == ["azure", "classroom", "course", "registry", "server"]
    with pytest.raises(SystemExit):  # an action is required in every group
        build_parser().parse_args(["server"])


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["classroom", "reset", "--learner", "ann", "--learner", "bo", "--dry-run", "--yes"],
            {"learner": ["ann", "bo"], "dry_run": True, "yes": True, "tracking_uri": None, "state_dir": None},
        ),
        (["classroom", "progress"], {"learner": None, "tracking_uri": None, "state_dir": None}),
        (["course", "summary", "--learner", "ann"], {"learner": "ann", "tracking_uri": None}),
        (["course", "run", "--timeout", "7"], {"timeout": 7, "learner": None, "deployment_dir": None}),
        (
            ["registry", "repair", "--tracking-uri", "http://h:1"],
            {"tracking_uri": "http://h:1", "dry_run": False},
        ),
        (["server", "start", "--port", "5222"], {"port": 5222, "state_dir": None, "timeout": 90.0}),
        (["server", "stop"], {"port": None, "timeout": 20.0}),
        (["server", "azure-rules", "--timeout", "2.5"], {"timeout": 2.5, "rules_port": 0}),
        (["classroom", "start", "--port", "5223"], {"port": 5223, "timeout": 180.0}),
        (["azure", "connect"], {"timeout": 10.0, "credential": "default", "config": None}),
        (["azure", "endpoint", "--deployment-dir", "d"], {"deployment_dir": "d"}),
    ],
)
def test_shared_options_parse_as_each_command_documents(argv, expected):
    args = vars(build_parser().parse_args(argv))
    assert {name: args[name] for name in expected} == expected
    assert type(args.get("timeout", 0.0)) is (int if argv[:2] == ["course", "run"] else float)


def test_a_value_that_is_no_number_is_refused_with_the_option_named(capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["server", "start", "--timeout", "soon"])
    assert stopped.value.code == 2
    assert "argument --timeout: invalid float value: 'soon'" in capsys.readouterr().err
