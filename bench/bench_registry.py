"""Benchmark: registration speed, the catalog at 1,000 versions, and reference resolution.

1. Registration as a pipeline user waits for it: each run a fresh process, as the pipeline starts one per
   step. ``ML/register_models.py`` (uploads the MLflow model folders written at training time, three models
   side by side, no model loaded) against the seed lab's loop (``bench/seed_register.py``: per model
   ``start_run``, ``set_tags``, ``log_metrics``, ``log_dict``, ``mlflow.sklearn.log_model`` with
   ``registered_model_name`` and no ``pip_requirements``), alternating, ``--repeats`` runs of each after one
   untimed warm-up of each, on one throwaway local server. Goal: median at most 2.5 s, and at least 5x
   faster than the seed loop's median.
2. ``comparison_table`` over 1,000 registered versions (goal: 2 s) and ``resolve`` of each reference form
   (goal: 100 ms each).

    python bench/bench_registry.py [--versions 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import joblib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _timed(fn, *args, **kwargs) -> float:
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _run(command: list[str], uri: str) -> float:
    """Seconds a fresh process takes to run ``command`` (which must succeed) against ``uri``."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return elapsed


def bench_registration(work: Path, uri: str, repeats: int) -> None:
    import mlflow.sklearn

    from labhelpers.training.steps import run_supervised, run_unsupervised

    run_supervised(None, work / "sup")
    run_unsupervised(None, work / "uns")
    seed_models = work / "seed-models"  # the seed lab registered joblib files: give it the same models
    seed_models.mkdir()
    for key, folder in (("linear_regression", "sup"), ("ridge_regression", "sup"), ("kmeans", "uns")):
        joblib.dump(mlflow.sklearn.load_model(str(work / folder / key)), seed_models / f"{key}.joblib")
    ours_cmd = [
        sys.executable,
        str(ROOT / "ML" / "register_models.py"),
        *("--supervised-dir", str(work / "sup"), "--unsupervised-dir", str(work / "uns")),
    ]
    seed_cmd = [sys.executable, str(ROOT / "bench" / "seed_register.py"), str(seed_models)]
    seed_cmd += [str(work / "sup"), str(work / "uns")]
    warm = (_run(seed_cmd, uri), _run(ours_cmd, uri))
    seed, ours = [], []
    for _ in range(repeats):  # alternating, so a change in machine load hits both alike
        seed.append(_run(seed_cmd, uri))
        ours.append(_run(ours_cmd, uri))
    o, s = statistics.median(ours), statistics.median(seed)
    print(f"register 3 models, a fresh process each, median of {repeats} alternating runs (after a warm-up):")
    print(f"  ML/register_models.py  median {o:.2f} s  runs {', '.join(f'{t:.2f}' for t in ours)}")
    print(f"  seed loop              median {s:.2f} s  runs {', '.join(f'{t:.2f}' for t in seed)}")
    print(f"  warm-up runs: seed {warm[0]:.2f} s, register_models.py {warm[1]:.2f} s")
    print(
        f"  speed-up {s / o:.1f}x; goal >= 5x: {'met' if s / o >= 5 else 'MISSED'}; "
        f"goal <= 2.5 s: {'met' if o <= 2.5 else 'MISSED'}"
    )


def bench_catalog(versions: int) -> None:
    from mlflow import MlflowClient

    from labhelpers.foundation.config import MODEL_NAMES
    from labhelpers.registry.catalog import comparison_table
    from labhelpers.registry.references import resolve

    client = MlflowClient()
    per_model = -(-versions // len(MODEL_NAMES))  # at least `versions` in all
    for name in MODEL_NAMES:
        existing = client.search_model_versions(f"name='{name}'")
        template = max(existing, key=lambda v: int(v.version))
        for _ in range(per_model - len(existing)):
            client.create_model_version(
                name, str(template.source), template.run_id, tags=template.tags, await_creation_for=0
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
    parser.add_argument(
        "--versions",
        type=int,
        default=1000,
        help="versions in the registry for the catalog (0: skip the catalog part)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each, after a warm-up")
    args = parser.parse_args()
    from labhelpers.foundation.config import free_port
    from labhelpers.local_server import control as local_server
    from labhelpers.tracking.connection import use_tracking

    work = Path(tempfile.mkdtemp(prefix="bench-registry-"))
    port = free_port()
    info = local_server.start(port, work / "state")
    try:
        use_tracking(info.uri)
        bench_registration(work, info.uri, args.repeats)
        if args.versions:
            bench_catalog(args.versions)
    finally:
        local_server.stop(port, work / "state")
    return 0


if __name__ == "__main__":
    sys.exit(main())
