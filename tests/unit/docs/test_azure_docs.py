"""What an instructor types from docs/azure.md and README.md works as typed, checked offline.

Every fenced shell block is parsed as a shell would split it. Each ``az ml`` command must name its workspace
(``-g``/``-w`` on the command, or an ``az configure --defaults group=... workspace=...`` earlier in the same
document); each file it reads (``--file``, ``--request-file``, ``--path``) must exist, and a ``--file`` must
load with the azure-ai-ml loader for its command group, the loader ``az ml`` itself uses. Every
``from labhelpers... import ...`` of a fenced python block must import. Every inference image named must be
on Azure ML's supported list (``labhelpers.azure.images``). The ``az ml`` commands labhelpers prints
(``python -m labhelpers azure endpoint``) meet the same rules.
"""

from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from labhelpers.azure.images import is_supported_inference_image, unsupported_image_message

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = ("docs/azure.md", "README.md")
SHELL = {"bash", "sh", "shell", "console", "zsh"}
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
#: azure-ai-ml's loader for the YAML each ``az ml`` command group reads with ``--file``.
LOADERS = {
    "job": "load_job",
    "online-endpoint": "load_online_endpoint",
    "online-deployment": "load_online_deployment",
    "environment": "load_environment",
    "compute": "load_compute",
    "data": "load_data",
    "model": "load_model",
    "component": "load_component",
}
GROUP_FLAGS, WORKSPACE_FLAGS = {"-g", "--resource-group"}, {"-w", "--workspace-name"}
FILE_FLAGS = {"--file", "-f"}
READ_FLAGS = {"--request-file", "--path", "-p"}
IMAGE = re.compile(r"(?:mcr\.microsoft\.com/azureml/)?\bminimal-[\w.-]*?inference(?::[\w.-]+)?")
IMPORT = re.compile(r"^[ \t]*from[ \t]+(labhelpers[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]+)", re.M)


@dataclass(frozen=True)
class Command:
    """One simple command of a fenced shell block: its words and where it was written."""

    words: tuple[str, ...]
    where: str


def blocks(document: str, languages: set[str]) -> list[tuple[str, str]]:
    """The fenced blocks of ``document`` in one of ``languages``: (body, 'file:line')."""
    text = (ROOT / document).read_text()
    return [
        (
            re.sub(rf"^{m['indent']}", "", m["body"], flags=re.M),
            f"{document}:{text.count(chr(10), 0, m.start()) + 1}",
        )
        for m in FENCE.finditer(text)
        if m["lang"].lower() in languages
    ]


def split_commands(script: str, where: str) -> list[Command]:
    """The simple commands of a shell script (continuations joined, comments dropped, split at ; && || |)."""
    commands = []
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split, lexer.commenters = True, "#"
        words: list[str] = []
        try:
            for token in [*lexer, ";"]:
                if token in {";", "&&", "||", "|", "&"}:
                    if words:
                        commands.append(Command(tuple(words), where))
                    words = []
                else:
                    words.append(token)
        except ValueError as error:  # an unclosed quote
            raise AssertionError(f"{where}: the shell cannot parse `{line}` ({error})") from None
    return commands


def shell_commands(document: str) -> list[Command]:
    return [c for body, where in blocks(document, SHELL) for c in split_commands(body, where)]


def _flag_values(words: tuple[str, ...], flags: set[str]) -> list[str]:
    return [words[i + 1] for i, word in enumerate(words[:-1]) if word in flags]


def _has(words: tuple[str, ...], flags: set[str]) -> bool:
    return any(word in flags or word.split("=", 1)[0] in flags for word in words)


def _defaults(command: Command) -> set[str]:
    """What ``az configure --defaults k=v ...`` sets: the keys."""
    words = command.words
    if words[:2] != ("az", "configure") or "--defaults" not in words and "-d" not in words:
        return set()
    return {word.split("=", 1)[0] for word in words[2:] if "=" in word and not word.startswith("-")}


def az_ml_problems(commands: list[Command]) -> list[str]:
    """What is wrong with the ``az ml`` commands of one document, in order (an empty list when nothing)."""
    import azure.ai.ml

    problems, defaults = [], set()
    for command in commands:
        defaults |= _defaults(command)
        words = command.words
        if words[:2] != ("az", "ml") or len(words) < 3 or words[2].startswith("-"):
            continue
        shown = " ".join(words)
        workspace_set = {"group", "workspace"} <= defaults
        if not workspace_set and not (_has(words, GROUP_FLAGS) and _has(words, WORKSPACE_FLAGS)):
            problems.append(
                f"{command.where}: `{shown}` names no workspace: add -g/-w, or run "
                "`az configure --defaults group=<rg> workspace=<ws>` before it in the same document"
            )
        for value in _flag_values(words, READ_FLAGS):
            if not value.startswith(("azureml:", "http", "<")) and not (ROOT / value).exists():
                problems.append(f"{command.where}: `{shown}` reads {value}, which does not exist")
        for value in _flag_values(words, FILE_FLAGS):
            path = ROOT / value
            if not path.is_file():
                problems.append(f"{command.where}: `{shown}`: --file {value} does not exist")
                continue
            loader = LOADERS.get(words[2])
            if loader is None:
                problems.append(
                    f"{command.where}: `{shown}`: no azure-ai-ml loader known for `az ml {words[2]}`"
                )
                continue
            try:
                getattr(azure.ai.ml, loader)(path)
            except Exception as error:  # the loaders raise many types; any means the CLI would refuse
                problems.append(f"{command.where}: {value} does not load with {loader}: {error}")
    return problems


def import_problems(document: str) -> list[str]:
    problems = []
    for body, where in blocks(document, {"python", "py", "python3"}):
        for module, names in IMPORT.findall(body):
            for name in (n.split(" as ")[0].strip() for n in names.strip("()").split(",")):
                if not name:
                    continue
                try:
                    getattr(importlib.import_module(module), name)
                except (ImportError, AttributeError) as error:
                    problems.append(f"{where}: `from {module} import {name}` fails: {error}")
    return problems


#: Prose that names a function and its module: "`submit_pipeline(connection, ...)` in `labhelpers.azure.x`".
NAMED_IN = re.compile(r"`(\w+)\([^`]*\)`\s+in\s+`(labhelpers(?:\.\w+)*)`")


def named_function_problems(document: str) -> list[str]:
    text = (ROOT / document).read_text()
    problems = []
    for match in NAMED_IN.finditer(text):
        function, module = match.groups()
        if not hasattr(importlib.import_module(module), function):
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{document}:{line}: `{function}` is not in {module}")
    return problems


def image_problems(document: str) -> list[str]:
    text = (ROOT / document).read_text()
    return [
        unsupported_image_message(found, f"{document}:{text.count(chr(10), 0, match.start()) + 1}")
        for match in IMAGE.finditer(text)
        if not is_supported_inference_image(
            found := match.group() if "/" in match.group() else f"mcr.microsoft.com/azureml/{match.group()}"
        )
    ]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_az_ml_command_names_its_workspace_and_its_files_load(document):
    assert az_ml_problems(shell_commands(document)) == []


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_documented_labhelpers_import_imports(document):
    assert import_problems(document) == []
    assert named_function_problems(document) == []


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_inference_image_named_is_on_azure_ml_s_supported_list(document):
    assert image_problems(document) == []


def test_the_azure_page_signs_in_and_sets_the_workspace_before_its_first_az_ml_command():
    commands = shell_commands("docs/azure.md")
    first = next(i for i, c in enumerate(commands) if c.words[:2] == ("az", "ml"))
    before = commands[:first]
    assert any(c.words[:2] == ("az", "login") for c in before)
    assert any(c.words[:3] == ("az", "account", "set") for c in before)
    assert any(_defaults(c) >= {"group", "workspace", "location"} for c in before)


def test_the_commands_labhelpers_prints_name_their_workspace_and_load(monkeypatch, tmp_path):
    from labhelpers.azure.deployment import WORKSPACE_PLACEHOLDERS, deployment_commands

    monkeypatch.chdir(tmp_path)  # no config.json here or above
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    workspace = GROUP_FLAGS | WORKSPACE_FLAGS
    printed = [Command(tuple(shlex.split(line)), "azure endpoint") for line in deployment_commands()]
    assert az_ml_problems(printed) == []
    assert {tuple(_flag_values(c.words, workspace)) for c in printed} == {WORKSPACE_PLACEHOLDERS}
    # a configured workspace (the variables, or config.json) is filled in
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", "rg-course")
    monkeypatch.setenv("AZUREML_WORKSPACE_NAME", "ws-course")
    configured = [tuple(shlex.split(line)) for line in deployment_commands()]
    assert {tuple(_flag_values(words, workspace)) for words in configured} == {("rg-course", "ws-course")}
    monkeypatch.delenv("AZURE_RESOURCE_GROUP")
    (tmp_path / ".azureml").mkdir()
    (tmp_path / ".azureml" / "config.json").write_text(
        '{"subscription_id": "s", "resource_group": "rg-json", "workspace_name": "ws-json"}'
    )
    configured = [tuple(shlex.split(line)) for line in deployment_commands()]
    assert {tuple(_flag_values(words, workspace)) for words in configured} == {("rg-json", "ws-json")}


def test_the_checker_finds_what_it_is_for():
    script = (
        "az ml job create --file ML/pipeline.yaml  # no workspace\n"
        "cd ML && az ml online-endpoint create \\\n  --file deployment/endpoint.yml -g g -w w\n"
        "az ml online-deployment create -f ML/deployment/endpoint.yml -g g -w w\n"
    )
    problems = az_ml_problems(split_commands(script, "example"))
    assert len(problems) == 3, problems
    assert "names no workspace" in problems[0]
    assert "deployment/endpoint.yml does not exist" in problems[1]  # paths are the repository root's
    assert "does not load with load_online_deployment" in problems[2]
    configured = "az configure --defaults group=g workspace=w location=westeurope\n" + script.splitlines()[0]
    assert az_ml_problems(split_commands(configured, "example")) == []
    assert not is_supported_inference_image(
        "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py310-cpu-inference:latest"
    )


def test_the_page_shows_exactly_the_commands_labhelpers_prints():
    from labhelpers.azure.deployment import WORKSPACE_PLACEHOLDERS, deployment_commands

    page = (ROOT / "docs/azure.md").read_text()
    printed = deployment_commands(name="taxi-fare-<suffix>", workspace=WORKSPACE_PLACEHOLDERS)
    assert [line for line in printed if line not in page] == []
