"""Benchmark: a cohort of 30 learners at once on the classroom server (PostgreSQL + MLflow basic-auth + TLS).

Each simulated learner has its own account and namespace and is a thread of this one process (30 Python
interpreters would spend their time importing MLflow, and the figures would measure them, not the server).
All start together: two registration batches (three models each), promotion of both fare-model versions to
production through the gates, a rollback, then a write to the next learner's model that must be refused.

Prints versions created against expected, p50/p95 batch latency, failed requests, lost or duplicated
versions, and the cross-learner check. Goal on a 2-core machine: 0 lost or duplicated, 0 cross-learner
writes, p95 batch latency under 10 s. A fresh classroom in a temporary folder, removed afterwards.

    python bench/bench_classroom.py [--learners 30] [--batches 2] [--no-promote] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
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


def _report(outcomes, admin, expected: int, seconds: float) -> int:
    from labhelpers.classroom.rehearsal import check_batches, percentile

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
    ok = created == expected and not failures and not problems and writes == {"403"} and p95 < 10
    print("goal (0 lost, 0 cross-learner writes, p95 < 10 s):", "met" if ok else "NOT met")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--batches", type=int, default=2, help="registration batches per learner (2)")
    parser.add_argument("--no-promote", dest="promote", action="store_false", help="registrations only")
    parser.add_argument("--keep", action="store_true", help="leave the classroom running in its folder")
    args = parser.parse_args()

    from mlflow import MlflowClient

    from labhelpers.classroom import server
    from labhelpers.classroom.rehearsal import Script, learner_uri, rehearse
    from labhelpers.classroom.roster import CREDENTIALS_FILE, load_credentials
    from labhelpers.core.config import free_port
    from labhelpers.server.tracking import configure_client_timeouts

    work = Path(tempfile.mkdtemp(prefix="bench-classroom-"))
    work.chmod(0o755)  # PostgreSQL's own account must reach its folder when we are root
    for name in (
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
        "MLFLOW_TRACKING_URI",
        "LAB_LEARNER",
    ):
        os.environ.pop(name, None)
    s = server.settings(work / "classroom", "127.0.0.1", free_port(), free_port())
    try:
        dirs, validation, roster = _prepare(work, args.learners)
        started = time.monotonic()
        record = server.start(s, roster, timeout=300)
        print(f"classroom server up in {time.monotonic() - started:.1f} s at {record['uri']}")
        configure_client_timeouts()
        os.environ["MLFLOW_TRACKING_SERVER_CERT_PATH"] = record["cert"]
        credentials = load_credentials(s.root / CREDENTIALS_FILE)
        script = Script(record["uri"], dirs, validation, batches=args.batches, promote=args.promote)
        started = time.monotonic()
        outcomes = rehearse(dict(credentials.learners), script)
        seconds = time.monotonic() - started
        admin_uri = learner_uri(record["uri"], "instructor", credentials.instructor)
        expected = args.learners * args.batches * 3
        return _report(outcomes, MlflowClient(admin_uri, admin_uri), expected, seconds)
    finally:
        if args.keep:
            print(
                f"classroom kept in {s.root}; stop it with `python -m labhelpers classroom stop "
                f"--state-dir {s.root}`"
            )
        else:
            server.stop(s.root)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
