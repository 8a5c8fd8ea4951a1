"""Compile, once per venv, the modules a course run imports, on every core (a maintainer and build tool).

A fresh venv holds no bytecode: uv installs sources only (``--compile-bytecode`` compiles all 14,000 files,
about 19 s here). Each process of the first course run (the MLflow server, six kernels, the model servers)
then compiles what it imports itself, one core each, and two of them often compile the same MLflow modules at
once: about 17 s of a fresh clone's ``make run``. ``make venv`` runs ``python tools/warm_bytecode.py``: it
compiles the files listed in ``tools/warm-bytecode.txt`` (paths under site-packages, about a quarter of the
venv) and this repository's ``labhelpers``, in one process per core, in about 5 s.

The list is what a course run imports. A file it names that the venv lacks is skipped (the pins moved on),
and a module it misses is compiled by the process that imports it, as without this tool: the list only ever
costs or saves time. To refresh it after the pins change, in a fresh clone::

    make run && .venv/bin/python tools/warm_bytecode.py --record

May import: the standard library only (it runs before anything else is known to work).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import sys
import sysconfig
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIST = Path(__file__).with_name("warm-bytecode.txt")


def site_packages() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def listed_sources(site: Path, listing: Path = LIST) -> list[Path]:
    """The listed files this venv has, plus this repository's ``labhelpers`` (installed editable)."""
    names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
    ours = sorted((ROOT / "labhelpers").rglob("*.py"))
    return [path for path in (site / name for name in names) if path.is_file()] + ours


def _compile(paths: list[Path]) -> bool:
    # quiet=2: a file that does not compile (none should: each was imported) stays for its importer to report
    return all([compileall.compile_file(path, quiet=2) for path in paths])


def compile_sources(paths: list[Path], workers: int | None = None) -> None:
    """Compile ``paths`` in ``workers`` processes (default: one per core); fresh bytecode is left alone."""
    workers = max(1, workers or os.cpu_count() or 1)
    chunks = [paths[index::workers] for index in range(workers)]
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_compile, chunks))


def recorded(site: Path) -> list[str]:
    """The sources under ``site`` that have bytecode of this Python: what this venv's processes imported."""
    tag = sys.implementation.cache_tag
    found = set()
    for cached in site.rglob(f"__pycache__/*.{tag}.pyc"):
        source = Path(importlib.util.source_from_cache(str(cached)))
        if source.is_file():
            found.add(source.relative_to(site).as_posix())
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--record", action="store_true", help=f"write {LIST.name} from the bytecode this venv holds"
    )
    args = parser.parse_args(argv)
    site = site_packages()
    if args.record:
        names = recorded(site)
        LIST.write_text("".join(f"{name}\n" for name in names))
        print(f"{LIST}: {len(names)} files")
    else:
        compile_sources(listed_sources(site))
    return 0


if __name__ == "__main__":
    sys.exit(main())
