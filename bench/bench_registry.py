"""Benchmark: registration speed, the catalog at 1,000 versions, and reference resolution.

1. Registering the three models with labhelpers (save_model + log_artifacts + create_model_version, explicit
   pip requirements, the three side by side) against the seed lab's loop (``mlflow.sklearn.log_model`` with
   ``registered_model_name`` and no ``pip_requirements``), in one process, on one fresh local server.
   Goal: labhelpers within 1.5 s for all three and at least 10x faster than the seed loop.
2. ``comparison_table`` over 1,000 registered versions (goal: 2 s) and ``resolve`` of each reference form
   (goal: 100 ms each).

    python bench/bench_registry.py [--versions 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def seed_loop(candidates, suffix: str) -> None:
    """What the seed lab does: one fluent run per model, log_model with inferred requirements."""
    import mlflow
    import mlflow.sklearn

    for c in candidates:
        with mlflow.start_run(run_name=f"seed-{c.name}"):
            mlflow.log_metrics(c.metrics)
            mlflow.sklearn.log_model(c.model, name="model", registered_model_name=f"seed-{c.name}{suffix}")


def bench_registration(work: Path, repeats: int) -> None:
    from labhelpers.registry.batch import collect
    from labhelpers.registry.register import register_batch
    from labhelpers.training.steps import run_supervised, run_unsupervised

    run_supervised(None, work / "sup")
    run_unsupervised(None, work / "uns")
    candidates = collect(work / "sup", work / "uns")
    ours_cold = _timed(register_batch, candidates)
    ours = [_timed(register_batch, candidates) for _ in range(repeats)]
    seed_cold = _timed(seed_loop, candidates, "")
    seed = [_timed(seed_loop, candidates, "") for _ in range(repeats)]
    o, s = statistics.median(ours), statistics.median(seed)
    print(
        f"register 3 models  labhelpers: first {ours_cold:.2f} s, then median {o:.2f} s (min {min(ours):.2f})"
    )
    print(
        f"                   seed loop:  first {seed_cold:.2f} s, then median {s:.2f} s (min {min(seed):.2f})"
    )
    print(
        f"                   speed-up {s / o:.1f}x warm, {seed_cold / ours_cold:.1f}x first call; "
        f"goal <= 1.5 s: {'met' if o <= 1.5 else 'MISSED'}; goal >= 10x: {'met' if s / o >= 10 else 'MISSED'}"
    )


def bench_catalog(versions: int) -> None:
    from mlflow import MlflowClient

    from labhelpers.core.config import MODEL_NAMES
    from labhelpers.registry.catalog import comparison_table
    from labhelpers.registry.references import resolve

    client = MlflowClient()
    per_model = -(-versions // len(MODEL_NAMES))  # at least `versions` in all
    for name in MODEL_NAMES:
        existing = client.search_model_versions(f"name='{name}'")
        template = max(existing, key=lambda v: int(v.version))
        for _ in range(per_model - len(existing)):
            client.create_model_version(
                name, template.source, template.run_id, tags=template.tags, await_creation_for=0
            )
    total = sum(len(client.search_model_versions(f"name='{n}'")) for n in MODEL_NAMES)
    table_times = [_timed(comparison_table) for _ in range(3)]
    print(
        f"comparison_table over {total} versions: median {statistics.median(table_times):.2f} s "
        f"(goal <= 2 s: {'met' if statistics.median(table_times) <= 2 else 'MISSED'})"
    )
    name = MODEL_NAMES[0]
    for ref in (
        f"azureml:{name}@latest",
        f"azureml:{name}:3",
        f"models:/{name}/3",
        f"models:/{name}/latest",
        f"models:/{name}@candidate",
        f"{name}@latest",
        f"{name}:3",
    ):
        best = min(_timed(resolve, ref, client) for _ in range(5))
        print(
            f"resolve {ref:<45} {best * 1000:6.1f} ms (goal <= 100 ms: {'met' if best <= 0.1 else 'MISSED'})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--versions", type=int, default=1000, help="versions in the registry for the catalog")
    parser.add_argument("--repeats", type=int, default=3, help="timed repetitions after the first call")
    args = parser.parse_args()
    from labhelpers.server import local as server
    from labhelpers.server.tracking import use_tracking

    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    port = _free_port()
    info = server.start(port, work / "state")
    try:
        use_tracking(info.uri)
        import mlflow  # noqa: F401  (import cost is not registration cost)
        import mlflow.sklearn  # noqa: F401

        bench_registration(work, args.repeats)
        bench_catalog(args.versions)
    finally:
        server.stop(port, work / "state")
    return 0


if __name__ == "__main__":
    sys.exit(main())
