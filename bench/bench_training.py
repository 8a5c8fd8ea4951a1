"""Benchmark: wall time and peak memory of both training steps, as a user runs them (subprocesses).

Runs ML/train_supervised.py and ML/train_unsupervised.py on the shipped sample and on a generated
10-million-row month in the Azure Open Datasets yellow schema (one real month is ~11M trips). Goal on a
2-core machine: each step at 10M rows within 60 s and 4 GB peak resident memory.

    python bench/bench_training.py [--rows 10000000] [--keep-data]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL_SECONDS = 60.0
GOAL_GB = 4.0


def generate_month(path: Path, rows: int, chunk: int = 1_000_000) -> Path:
    """Write ``rows`` generated trips of January 2016 to parquet, one seeded chunk at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from labhelpers.data.sample import generate_trips

    writer = None
    for index, start in enumerate(range(0, rows, chunk)):
        frame = generate_trips(
            min(chunk, rows - start), seed=1000 + index, start="2016-01-01", end="2016-02-01"
        )
        table = pa.Table.from_pandas(frame, preserve_index=False)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None, "no chunk was written"
    writer.close()
    return path


def measure(script: str, data: Path, out: Path) -> tuple[float, float]:
    """Run one training script; return (wall seconds, peak RSS in GB) of that process alone."""
    start = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "ML" / script), "--data", str(data), "--output-dir", str(out)],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"{script} failed on {data} (status {status})")
    return seconds, usage.ru_maxrss / 1024 / 1024  # ru_maxrss is in KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="rows of the generated month (default 10M)"
    )
    parser.add_argument("--keep-data", action="store_true", help="keep the generated parquet file")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-training-"))
    started = time.perf_counter()
    month = generate_month(work / "yellow_2016_01.parquet", args.rows)
    print(
        f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
        f"({month.stat().st_size / 1e6:.0f} MB parquet)"
    )
    datasets = {"sample": ROOT / "data" / "nyc_taxi_sample.csv", f"{args.rows / 1e6:g}M rows": month}
    failures = []
    print(f"{'data':<12} {'step':<14} {'seconds':>8} {'peak GB':>8}")
    for label, data in datasets.items():
        for step, script in (
            ("supervised", "train_supervised.py"),
            ("unsupervised", "train_unsupervised.py"),
        ):
            seconds, peak = measure(script, data, work / f"{label}-{step}".replace(" ", "_"))
            print(f"{label:<12} {step:<14} {seconds:8.1f} {peak:8.2f}")
            if data == month and (seconds > GOAL_SECONDS or peak > GOAL_GB):
                failures.append(f"{step} on {label}: {seconds:.1f} s, {peak:.2f} GB")
    if not args.keep_data:
        month.unlink()
    print("goal (each step at 10M rows: <= 60 s, <= 4 GB):", "met" if not failures else f"MISSED {failures}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
