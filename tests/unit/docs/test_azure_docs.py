"""What an instructor types from docs/azure.md and README.md works as typed, checked offline.

Every fenced shell block is parsed as a shell would split it. Each ``az ml`` command must name its workspace
(``-g``/``-w`` on the command, or an ``az configure --defaults group=... workspace=...`` earlier in the same
document); each file it reads (``--file``, ``--request-file``, ``--path``) must exist, and a ``--file`` must
load with the azure-ai-ml loader for its command group, the loader ``az ml`` itself uses. Every
``from labhelpers... import ...`` of a fenced python block must import. Every inference image named must be
on Azure ML's supported list (``labhelpers.azure.ml.images``). The ``az ml`` commands labhelpers prints
(``python -m labhelpers azure endpoint``) meet the same rules; files under ``outputs/`` are the ones the
course writes (notebook 04's deployment folder), made here by the same labhelpers call.

Every ``az ml`` command of the documents, of the ``ML/`` YAML files' comments and of labhelpers' printed
commands must be one the ``ml`` extension has, with only flags it accepts:
``tests/unit/azure/az_ml_flags.yaml``
holds them, read from the extension's own parameter definitions (its header says where and how). Every
``python -m labhelpers`` command must parse with labhelpers' own command line. Every
``papermill`` command must work as typed from a fresh clone: its notebook exists from the folder it runs in,
its output folder exists or an earlier ``mkdir -p`` makes it, the kernel runs in ``notebooks/`` (``--cwd``)
with the lab's kernel (``-k``), and every ``-p`` names a parameter the notebook declares. They are checked,
not run: each needs the notebooks before it and a registry, too heavy for ``make test`` (``python -m
labhelpers course run`` and the notebook tests run the same notebooks).
"""

from __future__ import annotations

import importlib
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from labhelpers.azure.ml.images import is_supported_inference_image, unsupported_image_message

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
FLAGS = yaml.safe_load((ROOT / "tests/unit/azure/az_ml_flags.yaml").read_text())
KERNEL = "taxi-registry-lab"  # the kernel `make venv` and docs/azure.md section 3 install
OUTPUTS = "outputs/"  # files the course writes; checked in a folder made by the same labhelpers call
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


def _path(value: str, outputs: Path | None) -> Path:
    """Where a command's file is: the repository's, or, under ``outputs/``, the course-written one."""
    if outputs is not None and value.startswith(OUTPUTS):
        return outputs / value
    return ROOT / value


def az_ml_problems(commands: list[Command], outputs: Path | None = None) -> list[str]:
    """What is wrong with the ``az ml`` commands of one document, in order (an empty list when nothing).

    Args:
        commands: The document's commands.
        outputs: A folder holding what the course writes under ``outputs/`` (None: such files are missing).
    """
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
            if not value.startswith(("azureml:", "http", "<")) and not _path(value, outputs).exists():
                problems.append(f"{command.where}: `{shown}` reads {value}, which does not exist")
        for value in _flag_values(words, FILE_FLAGS):
            path = _path(value, outputs)
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


def flag_problems(commands: list[Command]) -> list[str]:
    """``az ml`` commands the extension does not have, and flags their command does not accept."""
    problems = []
    for command in commands:
        words = command.words
        if words[:2] != ("az", "ml") or len(words) < 4:
            continue
        key = " ".join(words[2:4])
        spec = FLAGS["commands"].get(key)
        if spec is None:
            problems.append(f"{command.where}: `az ml {key}` is not in tests/unit/azure/az_ml_flags.yaml")
            continue
        accepted = set(spec["flags"]) | set(FLAGS["common"]) | set(FLAGS["global"])
        for word in words[4:]:
            flag = word.split("=", 1)[0]
            if flag.startswith("-") and flag not in accepted:
                problems.append(
                    f"{command.where}: `az ml {key}` has no flag {flag} "
                    f"(the ml extension's {spec['source']['path']} at {spec['source']['commit'][:12]})"
                )
    return problems


def yaml_comment_commands() -> list[Command]:
    """The ``az ml`` commands written in the comments of the YAML files under ``ML/``."""
    commands = []
    for path in sorted([*(ROOT / "ML").rglob("*.yml"), *(ROOT / "ML").rglob("*.yaml")]):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip().lstrip("#").strip()
            if line.lstrip().startswith("#") and text.startswith(("az ml ", "or:  az ml ")):
                where = f"{path.relative_to(ROOT)}:{number}"
                commands += split_commands(text.removeprefix("or:").strip(), where)
    return commands


def _fresh_clone_has(folder: Path) -> bool:
    """Whether a fresh clone has ``folder``: it exists and .gitignore does not leave it out."""
    ignored = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()}
    inside = folder.relative_to(ROOT).parts if folder.is_relative_to(ROOT) else ("..",)
    return folder.is_dir() and not any(part in ignored for part in inside)


def papermill_problems(document: str) -> list[str]:
    """What keeps a ``papermill`` command of ``document`` from working as typed on a fresh clone."""
    return papermill_problems_in(blocks(document, SHELL))


def papermill_problems_in(scripts: list[tuple[str, str]]) -> list[str]:
    """:func:`papermill_problems` for shell scripts given as (body, 'file:line')."""
    from labhelpers.course.notebooks import notebook_parameters

    problems, made = [], set()
    for body, where in scripts:
        cwd = ROOT
        for command in split_commands(body, where):
            words = command.words
            if words[0] == "cd" and len(words) > 1:
                cwd = (cwd / words[1]).resolve()
            elif words[:2] == ("mkdir", "-p"):
                made |= {(cwd / folder).resolve() for folder in words[2:]}
            elif words[0] == "papermill":
                shown = f"{where}: `{' '.join(words)}`"
                source, target = (cwd / words[1]).resolve(), (cwd / words[2]).resolve()
                if not source.is_file():
                    problems.append(f"{shown}: no notebook {words[1]} from {cwd.relative_to(ROOT) or '.'}")
                    continue
                if not _fresh_clone_has(target.parent) and target.parent not in made:
                    problems.append(f"{shown}: {target.parent.relative_to(ROOT)} does not exist; mkdir -p it")
                runs_in = (cwd / _flag_values(words, {"--cwd"})[0]).resolve() if "--cwd" in words else cwd
                if runs_in != ROOT / "notebooks":
                    problems.append(f"{shown}: the kernel must run in notebooks/ (--cwd notebooks)")
                if _flag_values(words, {"-k", "--kernel"}) != [KERNEL]:
                    problems.append(f"{shown}: run it with the lab's kernel, -k {KERNEL}")
                declared = notebook_parameters(source)
                for i, word in enumerate(words[:-1]):
                    if word in {"-p", "--parameters"} and words[i + 1] not in declared:
                        problems.append(f"{shown}: {source.name} declares no parameter {words[i + 1]}")
    return problems


def labhelpers_problems(commands: list[Command]) -> list[str]:
    """``python -m labhelpers`` commands that labhelpers' own command line would refuse as typed.

    Usage lines (``[--option]``) are left out: they show the options, they are not typed as they are.
    """
    import contextlib
    import io

    from labhelpers.cli import build_parser

    problems = []
    for command in commands:
        words = command.words
        if len(words) < 4 or not words[0].endswith("python") or words[1:3] != ("-m", "labhelpers"):
            continue
        if any(word.startswith("[") for word in words):  # a usage line ([--option]), not a command
            continue
        said = io.StringIO()
        try:
            with contextlib.redirect_stderr(said):
                build_parser().parse_args(list(words[3:]))
        except SystemExit:
            reason = (said.getvalue().strip().splitlines() or ["refused"])[-1]
            problems.append(f"{command.where}: `{' '.join(words)}`: {reason}")
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


@pytest.fixture(scope="module")
def course_outputs(tmp_path_factory):
    """A folder holding what the course writes under outputs/: notebook 04's deployment folder, pinned."""
    from labhelpers.course.session import run_deployment_dir
    from labhelpers.foundation.config import LINEAR_MODEL_NAME
    from labhelpers.registry.pinning import pin_production

    root = tmp_path_factory.mktemp("clone")
    pin_production(LINEAR_MODEL_NAME, 3, run_deployment_dir(root / "outputs" / "course", learner=None))
    return root


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_az_ml_command_names_its_workspace_and_its_files_load(document, course_outputs, monkeypatch):
    monkeypatch.delenv("LAB_LEARNER", raising=False)
    assert az_ml_problems(shell_commands(document), course_outputs) == []


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_az_ml_command_is_the_ml_extension_s_with_flags_it_accepts(document):
    assert flag_problems(shell_commands(document)) == []


def test_the_az_ml_commands_in_the_yaml_comments_and_the_printed_ones_use_accepted_flags(tmp_path):
    from labhelpers.azure.ml.deployment import deployment_commands

    in_yaml = yaml_comment_commands()
    assert len(in_yaml) >= 4  # pipeline.yaml, endpoint.yml, both compute instances
    printed = [Command(tuple(shlex.split(line)), "azure endpoint") for line in deployment_commands()]
    assert flag_problems(in_yaml + printed) == []


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_labhelpers_command_parses_with_labhelpers_own_command_line(document):
    commands = shell_commands(document)
    assert labhelpers_problems(commands) == []
    assert labhelpers_problems(split_commands("python -m labhelpers azure cleanup --dry-run", "x")) != []


@pytest.mark.parametrize("document", DOCUMENTS)
def test_every_papermill_command_runs_as_typed_from_a_fresh_clone(document):
    assert papermill_problems(document) == []


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


def test_the_commands_labhelpers_prints_name_their_workspace_and_load(monkeypatch, tmp_path, course_outputs):
    from labhelpers.azure.ml.deployment import WORKSPACE_PLACEHOLDERS, deployment_commands

    monkeypatch.chdir(tmp_path)  # no config.json here or above
    for name in ("AZURE_SUBSCRIPTION_ID", "AZURE_RESOURCE_GROUP", "AZUREML_WORKSPACE_NAME"):
        monkeypatch.delenv(name, raising=False)
    workspace = GROUP_FLAGS | WORKSPACE_FLAGS
    printed = [Command(tuple(shlex.split(line)), "azure endpoint") for line in deployment_commands()]
    assert az_ml_problems(printed, course_outputs) == []
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
    wrong = (
        "az ml compute update --name ci --idle-time-before-shutdown-minutes 60\n"
        "az ml online-deployment create --endpoint-name e --file f.yml --traffic 'a=1'\n"
        "az ml online-endpoint rename --name e\n"
        "az ml compute stop --name ci -g g -w w --output table\n"
    )
    flagged = flag_problems(split_commands(wrong, "example"))
    assert len(flagged) == 3, flagged
    assert "compute update` has no flag --idle-time-before-shutdown-minutes" in flagged[0]
    assert "online-deployment create` has no flag --traffic" in flagged[1]
    assert "online-endpoint rename` is not in" in flagged[2]
    fresh_clone = (
        "cd notebooks\npapermill 02_register_models.ipynb ../build/02.ipynb -p backend azure -p nope 1\n"
        "cd ..\npapermill notebooks/04_pin_and_promote.ipynb build/04.ipynb -k taxi-registry-lab\n"
    )
    found = papermill_problems_in([(fresh_clone, "example")])
    assert any("build does not exist; mkdir -p it" in p for p in found), found  # build/ is git-ignored
    assert any("-k taxi-registry-lab" in p for p in found), found
    assert any("declares no parameter nope" in p for p in found), found
    assert any("--cwd notebooks" in p for p in found), found


def test_the_page_shows_exactly_the_commands_labhelpers_prints():
    from labhelpers.azure.ml.deployment import WORKSPACE_PLACEHOLDERS, deployment_commands

    page = (ROOT / "docs/azure.md").read_text()
    printed = deployment_commands(name="taxi-fare-<suffix>", workspace=WORKSPACE_PLACEHOLDERS)
    assert [line for line in printed if line not in page] == []
