"""Benchmark: a cohort of 30 learners on the classroom server (PostgreSQL + MLflow basic-auth + TLS).

Each simulated learner has its own account and namespace and is a thread of this one process (30 Python
interpreters would spend their time importing MLflow, and the figures would measure them, not the server).
Each does two registration batches (three models each), promotion of both fare-model versions to
production through the gates, a rollback, then a write to the next learner's model that must be refused.
All start together, or with ``--arrivals-over SECONDS`` each at a moment drawn at random (fixed seed) over
that window: class pace.

Prints versions created against expected, p50/p95 batch latency, failed requests, lost or duplicated
versions, the cross-learner check, and the server's CPU-seconds (psutil over the MLflow process tree and
every PostgreSQL process) per batch and per HTTP request. Goals on a 2-core machine: 0 lost or duplicated,
0 failed requests, 0 cross-learner writes; p95 batch latency at most 3 s at class pace (30 learners over
300 s), at most 10 s all at once; at most 12 ms of server CPU per request. ``--profile FILE`` records the
workers with py-spy (collapsed stacks) and prints the top frames. A fresh classroom in a temporary folder,
removed afterwards.

    python bench/bench_classroom.py [--learners 30] [--batches 2] [--arrivals-over 300] [--seed 18]
                                    [--no-promote] [--profile FILE] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _prepare(work: Path, learners: int):
    """Train once (every learner registers the same outputs), write a roster and a validation month."""
    from labhelpers.data.sample import write_sample
    from labhelpers.training.steps import run_supervised, run_unsupervised

    data = write_sample(work / "trips.csv", n_rows=6000, seed=11)
    run_supervised(data, work / "sup")
    run_unsupervised(data, work / "uns", silhouette_sample=2000)
    validation = write_sample(work / "validation.csv", n_rows=3000, seed=29)
    roster = work / "roster.txt"
    roster.write_text("\n".join(f"learner-{n:02d}" for n in range(1, learners + 1)) + "\n")
    return (work / "sup", work / "uns"), validation, roster


def _report(outcomes, admin, expected: int, seconds: float, cost: tuple[dict, Counter], pace: float) -> int:
    from bench.rehearsal import check_batches, percentile

    latencies = [batch["seconds"] for o in outcomes for batch in o.batches]
    created = sum(len(batch["versions"]) for o in outcomes for batch in o.batches)
    failures = [f"{o.learner}: {f}" for o in outcomes for f in o.failures]
    problems = check_batches(admin, outcomes)
    writes = {o.cross_write for o in outcomes}
    p95 = percentile(latencies, 0.95)
    print(f"learners:                 {len(outcomes)} (threads of one process, one account each)")
    print(f"versions created:         {created} of {expected} expected")
    print(
        f"batch latency:            p50 {percentile(latencies, 0.5):.2f} s, p95 {p95:.2f} s "
        f"(max {max(latencies, default=float('nan')):.2f} s, {len(latencies)} batches)"
    )
    print(f"failed requests:          {len(failures)}")
    for line in failures[:10]:
        print(f"  {line}")
    print(f"lost or duplicated:       {len(problems)}")
    for line in problems[:10]:
        print(f"  {line}")
    print(
        f"cross-learner writes:     refused with HTTP {', '.join(sorted(writes))} (reads: "
        f"{', '.join(sorted({o.cross_read for o in outcomes}))})"
    )
    print(f"wall time:                {seconds:.1f} s")
    spent, by_path = cost
    cpu, requests = sum(spent.values()), sum(by_path.values())
    per_request = cpu / requests if requests else float("nan")
    print(
        f"server CPU:               {cpu:.1f} CPU-s for {requests} requests: "
        f"{cpu / max(1, len(latencies)):.2f} CPU-s per batch (promotions included), "
        f"{per_request * 1000:.1f} ms per request "
        f"({', '.join(f'{part} {seconds:.1f} CPU-s' for part, seconds in spent.items())})"
    )
    print(f"requests per learner:     {requests / max(1, len(outcomes)):.0f}; the most frequent:")
    for path, count in by_path.most_common(8):
        print(f"  {count / max(1, len(outcomes)):6.1f}  {path}")
    limit = 3 if pace > 0 else 10
    ok = created == expected and not failures and not problems and writes == {"403"} and p95 <= limit
    print(f"goal (0 lost, 0 failed, 0 cross-learner writes, p95 <= {limit} s):", "met" if ok else "NOT met")
    print("goal (server CPU <= 12 ms per request):", "met" if per_request <= 0.012 else "NOT met")
    return 0 if ok else 1


def _start_profiler(pid: int, path: Path):
    """py-spy recording the MLflow server's process tree (gunicorn master and workers), collapsed stacks."""
    import subprocess

    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--format", "raw", "--rate", "50"]
    # --gil: only threads holding the GIL, i.e. the Python CPU of the workers (a thread waiting on
    # PostgreSQL or on the GIL is not sampled); --nonblocking: the workers are never paused to be read
    command += ["--gil", "--nonblocking", "--output", str(path)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _stop_profiler(spy, path: Path, top: int = 15) -> None:
    """Stop py-spy (it writes its file on SIGINT) and print the functions with most samples."""
    import collections
    import re
    import signal

    spy.send_signal(signal.SIGINT)
    spy.wait(timeout=120)
    if not path.is_file():
        print(f"py-spy wrote no profile: {spy.stderr.read()[-500:]}")
        return
    own, within, total = collections.Counter[str](), collections.Counter[str](), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";") if not f.startswith("process ")]
        if not frames or not count.isdigit():
            continue
        total += int(count)
        own[frames[-1]] += int(count)
        for frame in set(frames):
            within[frame] += int(count)
    print(f"profile:                  {total} samples of worker threads holding the GIL in {path}")
    for title, counter in (("self", own), ("inclusive", within)):
        print(f"  top frames ({title}):")
        for frame, samples in counter.most_common(top):
            print(f"    {100 * samples / max(1, total):5.1f}%  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--batches", type=int, default=2, help="registration batches per learner (2)")
    parser.add_argument("--no-promote", dest="promote", action="store_false", help="registrations only")
    parser.add_argument(
        "--arrivals-over",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="draw each learner's start at random over this window (0: all at once)",
    )
    parser.add_argument("--seed", type=int, default=18, help="seed of the arrivals' draw (18)")
    parser.add_argument("--workers", type=int, help="MLflow worker processes (default: the classroom's)")
    parser.add_argument("--profile", type=Path, help="record the workers with py-spy into this file")
    parser.add_argument("--keep", action="store_true", help="leave the classroom running in its folder")
    args = parser.parse_args()
    # One connection kept per learner, as each learner's own process would: MLflow's client shares one
    # pool of 10 per process, and 30 threads through it would reconnect (a TLS handshake) on most requests.
    os.environ.setdefault("MLFLOW_HTTP_POOL_MAXSIZE", str(max(10, args.learners)))

    from mlflow import MlflowClient

    from bench.rehearsal import RequestCounter, Script, learner_uri, process_tree_cpu, rehearse
    from labhelpers.classroom import stack
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials
    from labhelpers.foundation.config import free_port
    from labhelpers.tracking.connection import configure_client_timeouts

    work = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    work.chmod(0o755)  # PostgreSQL's own account must reach its folder when we are root
    for name in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_URI",
        "LAB_LEARNER",
    ):
        os.environ.pop(name, None)
    s = stack.settings(work / "classroom", "127.0.0.1", free_port(), free_port(), args.workers)
    try:
        dirs, validation, roster = _prepare(work, args.learners)
        started = time.monotonic()
        record = stack.start(s, roster, timeout=300)
        print(f"classroom server up in {time.monotonic() - started:.1f} s at {record['uri']}")
        configure_client_timeouts()
        os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = record["cert"]
        credentials = load_credentials(s.root / CREDENTIALS_FILE)
        assert credentials is not None, "the classroom has no credentials file"
        script = Script(record["uri"], dirs, validation, batches=args.batches, promote=args.promote)
        parts = {"MLflow": record["mlflow_pid"], "PostgreSQL": record["postgres_pid"]}
        spy = _start_profiler(record["mlflow_pid"], args.profile) if args.profile else None
        cpu_before = {part: process_tree_cpu([pid]) for part, pid in parts.items()}
        started = time.monotonic()
        with RequestCounter() as counted:
            outcomes = rehearse(
                dict(credentials.learners), script, arrivals_over=args.arrivals_over, seed=args.seed
            )
        seconds = time.monotonic() - started
        spent = {part: process_tree_cpu([pid]) - cpu_before[part] for part, pid in parts.items()}
        if spy is not None:
            _stop_profiler(spy, args.profile)
        admin_uri = learner_uri(record["uri"], "instructor", credentials.instructor)
        expected = args.learners * args.batches * 3
        if args.arrivals_over:
            print(f"arrivals:                 drawn over {args.arrivals_over:.0f} s (seed {args.seed})")
        admin = MlflowClient(admin_uri, admin_uri)
        return _report(outcomes, admin, expected, seconds, (spent, counted.by_path), args.arrivals_over)
    finally:
        if args.keep:
            print(
                f"classroom kept in {s.root}; stop it with `python -m labhelpers classroom stop "
                f"--state-dir {s.root}`"
            )
        else:
            stack.stop(s.root)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
