"""The outputs a reader sees on the web: run the course on a throwaway server, store them in the notebooks.

The committed notebooks carry their executed outputs (plots, tables, refusals) so a reader who never runs
them still sees the lesson. They are written by one command (``make notebooks-outputs``) from a course run
against a fresh local server, so version numbers start at 1, and sanitized: no stderr noise, no execution
counts, and no value of that one run that a reader could mistake for theirs. Such values (run ids, batch ids,
commits, times, process ids, machine paths, the owner and endpoint suffix, the port of a server other than
MLflow's) are replaced by a label in angle brackets saying what stands there (``<run id>``,
``<your login name>``, ``http://127.0.0.1:<port>``); the lab's MLflow server is shown at its default address,
``http://127.0.0.1:5000``, and no other server is ever shown at that port.

A maintainer's tool, outside the installed package: ``make notebooks-outputs`` runs it as
``python -m tools.store_outputs`` from the project root (``--help`` lists its options).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from labhelpers.course.notebooks import NOTEBOOK_DIR, NOTEBOOKS
from labhelpers.course.run import run_course
from labhelpers.foundation import config
from labhelpers.foundation.errors import CourseError

if TYPE_CHECKING:
    from labhelpers.local_server.control import ServerInfo

#: Strings a committed notebook must never hold: machine paths and the values of one run.
FORBIDDEN = (
    ("/tmp/", re.compile(r"/tmp/")),
    ("/root/", re.compile(r"/root/")),
    ("/home/", re.compile(r"/home/")),
    ("a run id", re.compile(r"\b[0-9a-f]{32}\b")),
    # a run's own time (the trips are from 2016: their times are data, not noise)
    ("a timestamp", re.compile(r"\b20[2-9]\d-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}")),
)
_MIME_TEXT = ("text/plain", "text/html", "text/markdown")
#: The owner (``$LAB_OWNER``) of the versions in the screenshots.
READER_OWNER = "learner"
#: Stand-ins for one person's values while the stored outputs are recorded, replaced by labels afterwards:
#: distinct words no output holds otherwise, so a learner never reads them as a value to type.
OWNER_STAND_IN, SUFFIX_STAND_IN = "reader-login", "reader-suffix"
#: The labels a reader sees in the stored outputs instead of one run's values.
LABELS = {
    "commit": "<git commit>",
    "run id": "<run id>",
    "batch id": "<batch id>",
    "time": "<date and time>",
    "run folder": "run-<date>-<time>",
    "process": "pid=<process id>",
    "address": "0x<address>",
    "port": "<port>",
    "owner": "<your login name>",
    "suffix": "<endpoint suffix>",
}


def replacements(mlflow_port: int | None = None) -> list[tuple[re.Pattern, str]]:
    """Run-specific values and the labels that replace them, the project's own path first (public: the
    tests read what a stored output turns each value into).

    Args:
        mlflow_port: The port of the MLflow server the run used: shown as the default port 5000. Every other
            local port (an inference or scoring server) is shown as ``<port>``.
    """
    from labhelpers.foundation.provenance import git_info

    label = LABELS
    rules = [(re.compile(re.escape(str(config.PROJECT_ROOT))), "<project>")]
    commit = git_info().get("git_commit", "unknown")
    if re.fullmatch(r"[0-9a-f]{40}", commit):  # the 10- and 12-character prefixes the tables show too
        rules.append((re.compile(rf"\b{commit[:7]}[0-9a-f]{{0,33}}\b"), label["commit"]))
    if mlflow_port:
        rules.append(
            (re.compile(rf"https?://(?:127\.0\.0\.1|localhost):{mlflow_port}\b"), "http://127.0.0.1:5000")
        )
    rules += [
        (re.compile(r"\b[0-9a-f]{40}\b"), label["commit"]),  # any other commit (the code moved meanwhile)
        (re.compile(r"\b(commit\s+)[0-9a-f]{7,39}\b"), rf"\1{label['commit']}"),
        (re.compile(r"(?m)^.*View (?:run|experiment) .* at: http\S+\n?"), ""),  # MLflow's links to one run
        (re.compile(r"(?:/tmp|/var/tmp|/root|/home/[^/\s]+)/[^\s'\"<>,;)]*"), "<tmp>"),
        (re.compile(r"\b[0-9a-f]{32}\b"), label["run id"]),
        (re.compile(r"run-\d{8}-\d{6}-\d{6}"), label["run folder"]),  # before the batch id, which looks alike
        (re.compile(r"\b\d{8}-\d{6}-[0-9a-f]{6}\b"), label["batch id"]),
        (
            re.compile(r"\b20[2-9]\d-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:?\d{2}|Z)?"),
            label["time"],
        ),
        (re.compile(r"(https?://(?:127\.0\.0\.1|localhost)):(?!5000\b)\d+"), rf"\1:{label['port']}"),
        # a served model's folder and log are named after its port too
        (re.compile(r"(serving/model-)\d+\b"), rf"\1{label['port']}"),
        (re.compile(r"(serving/[\w.-]+-)\d+(\.log)\b"), rf"\1{label['port']}\2"),
        (re.compile(r"0x[0-9a-f]{6,16}"), label["address"]),
        (re.compile(r"\bpid=\d+"), label["process"]),  # a served model's process
        (re.compile(rf"\b{OWNER_STAND_IN}\b"), label["owner"]),
        (re.compile(rf"\b{SUFFIX_STAND_IN}\b"), label["suffix"]),
    ]
    return rules


def sanitize(text: str, rules: list[tuple[re.Pattern, str]] | None = None, *, html: bool = False) -> str:
    """``text`` with run ids, batch ids, times, commits, ports, owners and machine paths replaced by labels.

    Args:
        text: An output's text.
        rules: The replacements (default: :func:`replacements` without a known MLflow port).
        html: ``text`` is HTML (a table): the labels' angle brackets are escaped so that they show.
    """
    for pattern, stand_in in rules if rules is not None else replacements():
        text = pattern.sub(stand_in.replace("<", "&lt;").replace(">", "&gt;") if html else stand_in, text)
    return text


def _clean_outputs(outputs: list, rules: list[tuple[re.Pattern, str]]) -> list:
    """Outputs without stderr and execution counts, their text sanitized (images kept as they are)."""
    kept: list = []
    for output in outputs:
        if output.get("output_type") == "stream":
            if output.get("name") == "stderr":
                continue
            output["text"] = sanitize(output["text"], rules)
            previous = kept[-1] if kept else {}
            if previous.get("output_type") == "stream" and previous.get("name") == output.get("name"):
                previous["text"] += output["text"]  # one print flushed in two parts is stored as one
                continue
        for mime in _MIME_TEXT:
            if mime in output.get("data", {}):
                data = output["data"][mime]
                text = "".join(data) if isinstance(data, list) else data
                output["data"][mime] = sanitize(text, rules, html=mime == "text/html")
        if "execution_count" in output:
            output["execution_count"] = None
        kept.append(output)
    return kept


def store_outputs(
    executed_dir: str | Path,
    source_dir: str | Path = NOTEBOOK_DIR,
    names: Iterable[str] = NOTEBOOKS,
    rules: list[tuple[re.Pattern, str]] | None = None,
) -> int:
    """Copy every code cell's outputs from the executed notebooks into the sources, sanitized.

    Args:
        executed_dir: Folder of the executed notebooks (a course run's ``--output-dir``).
        source_dir: The notebooks to write into.
        names: Notebook file names.
        rules: Sanitizing rules (default: taken now; pass those taken before the run, whose commit it had).

    Returns:
        How many cells received outputs.

    Raises:
        CourseError: An executed notebook is missing, or one of its cells changed since it ran.
    """
    import nbformat

    rules, stored = rules or replacements(), 0
    for name in names:
        source, executed = Path(source_dir) / name, Path(executed_dir) / name
        if not executed.is_file():
            raise CourseError(f"{executed} is missing: run the course into {executed_dir} first.")
        notebook = nbformat.read(source, as_version=4)
        ran = {cell.get("id"): cell for cell in nbformat.read(executed, as_version=4).cells}
        for cell in (c for c in notebook.cells if c.cell_type == "code"):
            if cell.id not in ran or ran[cell.id].source != cell.source:
                if "parameters" in cell.metadata.get("tags", []):
                    continue  # papermill injects its own cell after this one; this one ran unchanged
                raise CourseError(f"{name}: cell {cell.id} changed since {executed} ran; run the course anew")
            cell.outputs = nbformat.from_dict(_clean_outputs(ran[cell.id].outputs, rules))
            cell.execution_count = None
            stored += bool(cell.outputs)
        nbformat.write(notebook, source)
    return stored


def leaks(path: str | Path) -> list[str]:
    """What a committed notebook must not hold (machine paths, run ids, timestamps), one line per find."""
    import nbformat

    found = []
    for cell in nbformat.read(path, as_version=4).cells:
        texts = [cell.source]
        for output in cell.get("outputs", []):
            texts += [output.get("text", ""), output.get("evalue", "")]
            texts += [
                str(value) for mime, value in output.get("data", {}).items() if mime.startswith("text/")
            ]
        for label, pattern in FORBIDDEN:
            if any(pattern.search(text) for text in texts):
                found.append(f"{Path(path).name}: cell {cell.get('id')} holds {label}")
    return found


@contextlib.contextmanager
def scoped_environment(**values: str) -> Iterator[None]:
    """Set environment variables (the notebooks' kernels inherit them), then restore the previous ones."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def fresh_server(state_dir: str | Path) -> Iterator[ServerInfo]:
    """A throwaway local MLflow server on a free port, the lab's local server meanwhile.

    Exported as ``MLFLOW_TRACKING_URI`` and as the lab's port (``backend="local"`` means the lab's server).
    """
    from labhelpers.local_server import control as local

    info = local.start(config.free_port(), state_dir)
    try:
        with scoped_environment(MLFLOW_TRACKING_URI=info.uri, **{config.PORT_ENV: str(info.port)}):
            yield info
    finally:
        local.stop(info.port, state_dir)


def course_parameters(work_dir: str | Path) -> dict[str, object]:
    """The notebooks' own defaults, with every folder they write moved under ``work_dir``.

    No ``deployment_dir``: :func:`~labhelpers.course.run.run_course` then gives 04 and 05 the run's copy of
    the deployment configuration, as ``make run`` does.
    """
    return {"output_dir": str(Path(work_dir).resolve() / "outputs")}


def require_clean_checkout() -> None:
    """Refuse to record a course run for readers from a checkout with uncommitted changes.

    Raises:
        CourseError: ``git status`` lists changes: every version would show ``git_dirty=true``.
    """
    from labhelpers.foundation.provenance import git_info

    if git_info()["git_dirty"] == "true":
        raise CourseError("Commit first: versions trained now would show git_dirty=true to every reader.")


def refresh_outputs(
    executed_dir: str | Path, names: Iterable[str] = NOTEBOOKS, echo: Callable[[str], object] = print
) -> int:
    """Run the course on a fresh server into ``executed_dir``, then store its outputs in ``notebooks/``.

    Returns:
        How many cells received outputs.

    Raises:
        CourseError: The checkout has uncommitted changes, or an output still holds a run's values.
    """
    require_clean_checkout()
    with (
        tempfile.TemporaryDirectory(prefix="lab-outputs-") as work,
        fresh_server(Path(work) / "mlflow") as server,
        # no one's login name, nor a digest of it (the endpoint suffix), in the outputs: labels instead
        scoped_environment(
            LAB_OWNER=OWNER_STAND_IN,
            LAB_ACTOR=OWNER_STAND_IN,
            **{config.ENDPOINT_SUFFIX_ENV: SUFFIX_STAND_IN},
        ),
    ):
        # with the commit the run records; the run's folder reads as the default one, outputs/course
        rules = [(re.compile(re.escape(str(course_parameters(work)["output_dir"]))), "outputs/course")]
        rules += replacements(server.port)
        run_course(executed_dir, course_parameters(work), notebooks=tuple(names), echo=echo)
    stored = store_outputs(executed_dir, names=names, rules=rules)
    problems = [line for name in names for line in leaks(NOTEBOOK_DIR / name)]
    if problems:
        raise CourseError("Stored outputs still hold run-specific values:\n" + "\n".join(problems))
    return stored


def main(argv: list[str] | None = None) -> int:
    """Store the outputs of a fresh course run (or of ``--executed-dir``) in the committed notebooks."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.store_outputs",
        description="Run the course against a throwaway local server, then write every cell's outputs into "
        "the committed notebooks: no run ids, timestamps, commits, paths, stderr or execution counts.",
    )
    parser.add_argument(
        "--into", default="build/course-outputs", help="The executed notebooks go here (%(default)s)."
    )
    parser.add_argument(
        "--executed-dir",
        help="Store from this finished course run instead (it must come from a fresh server).",
    )
    parser.add_argument(
        "--notebooks",
        nargs="+",
        default=["01", "02", "03", "04", "05", "06"],
        help="Notebook numbers (%(default)s).",
    )
    args = parser.parse_args(argv)
    names = [name for name in NOTEBOOKS if name[:2] in args.notebooks]
    if args.executed_dir:
        stored = store_outputs(args.executed_dir, names=names)
    else:
        stored = refresh_outputs(args.into, names=names)
    print(f"stored the outputs of {stored} cells in {', '.join(names)}")
    return 0


if __name__ == "__main__":
    from labhelpers.cli.entry import run_main

    raise SystemExit(run_main(main))
