"""The training scripts run the way a user runs them: as processes, with exit codes and clear messages."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug import Response

from labhelpers.data.sample import generate_trips
from labhelpers.files.artifacts import sha256_file
from labhelpers.foundation.config import PROJECT_ROOT

ML = PROJECT_ROOT / "ML"
TRACKING = ("--experiment", "--tracking-uri")


def run(
    script: str, *args: str, env: dict | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ML / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def assert_refused(done: subprocess.CompletedProcess, *fragments: str) -> None:
    """Non-zero exit, one clear 'error:' line naming what is wrong, and no traceback."""
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: "), done.stderr
    assert "Traceback" not in done.stderr
    for fragment in fragments:
        assert fragment in done.stderr


def test_supervised_script_writes_models_metrics_and_manifest(sample_csv, tmp_path):
    out = tmp_path / "sup"
    done = run("train_supervised.py", "--data", sample_csv, "--output-dir", out, "--alpha", "0.5")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "supervised_metrics.json").read_text())
    assert list(metrics)[0] == "features_used"
    assert metrics["linear_regression"]["r2"] >= 0.9
    assert set(metrics["ridge_regression"]) == {"rmse", "mae", "r2"}
    assert metrics["parameters"]["alpha"] == 0.5
    assert metrics["data_version"].startswith("sha256:")
    manifest = json.loads((out / "manifest.json").read_text())
    for relative in (
        "linear_regression/MLmodel",
        "linear_regression/model.skops",
        "ridge_regression/MLmodel",
        "ridge_regression/model.skops",
        "supervised_metrics.json",
    ):
        assert manifest["artifacts"][relative] == sha256_file(out / relative)


def test_unsupervised_script_writes_kmeans_and_metrics(sample_csv, tmp_path):
    out = tmp_path / "uns"
    done = run(
        "train_unsupervised.py",
        "--data",
        sample_csv,
        "--output-dir",
        out,
        "--n-clusters",
        "5",
        "--silhouette-sample",
        "1500",
    )
    assert done.returncode == 0, done.stderr
    metrics = json.loads((out / "unsupervised_metrics.json").read_text())
    assert metrics["model"] == "kmeans" and metrics["n_clusters"] == 5
    assert metrics["sample_size_used"] == 1500 and -1 <= metrics["silhouette"] <= 1
    assert metrics["features_used"] == [
        "pickup_latitude",
        "pickup_longitude",
        "dropoff_latitude",
        "dropoff_longitude",
    ]
    assert (out / "kmeans" / "MLmodel").is_file() and (out / "manifest.json").is_file()


def test_default_data_is_the_shipped_sample(tmp_path):
    done = run("train_supervised.py", "--output-dir", tmp_path / "sup")
    assert done.returncode == 0, done.stderr
    assert "nyc_taxi_sample.csv" in done.stdout


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("missing", ["no-such.csv"]),
        ("folder", ["a-folder"]),
        ("unknown_schema", ["columns", "found"]),
        ("empty", ["empty.csv"]),
        ("all_dirty", ["dirty.csv", "fare_out_of_range"]),
        ("non_numeric_fare", ["fareAmount", "abc"]),
    ],
)
def test_bad_data_is_refused_with_a_clear_message(tmp_path, case, fragments):
    good = generate_trips(50, seed=1, dirty=False)
    if case == "missing":
        data = tmp_path / "no-such.csv"
    elif case == "folder":
        data = tmp_path / "a-folder"
        data.mkdir()
    elif case == "unknown_schema":
        data = _write(tmp_path / "other.csv", "a,b,c\n1,2,3\n")
    elif case == "empty":
        data = _write(tmp_path / "empty.csv", "")
    elif case == "all_dirty":
        good["fareAmount"] = -5.0
        data = tmp_path / "dirty.csv"
        good.to_csv(data, index=False)
    else:
        good["fareAmount"] = good["fareAmount"].astype(object)
        good.loc[3, "fareAmount"] = "abc"
        data = tmp_path / "fares.csv"
        good.to_csv(data, index=False)
    before = sha256_file(data) if data.is_file() else None
    for script in ("train_supervised.py", "train_unsupervised.py"):
        out = tmp_path / f"out-{script}"
        assert_refused(run(script, "--data", data, "--output-dir", out), *fragments)
        assert not out.exists()
    if before:
        assert sha256_file(data) == before  # bad input loses nothing


def test_output_folder_holding_a_run_is_refused_and_kept(sample_csv, tmp_path):
    out = tmp_path / "sup"
    assert run("train_supervised.py", "--data", sample_csv, "--output-dir", out).returncode == 0
    before = sha256_file(out / "manifest.json")
    assert_refused(run("train_supervised.py", "--data", sample_csv, "--output-dir", out), "already holds")
    assert sha256_file(out / "manifest.json") == before


def test_data_without_coordinates_explains_why_kmeans_needs_them(tmp_path):
    trips = generate_trips(200, seed=2, dirty=False).rename(
        columns={
            "tpepPickupDateTime": "tpep_pickup_datetime",
            "tpepDropoffDateTime": "tpep_dropoff_datetime",
            "tripDistance": "trip_distance",
            "fareAmount": "fare_amount",
            "rateCodeId": "RatecodeID",
            "passengerCount": "passenger_count",
        }
    )
    data = tmp_path / "tlc.parquet"
    trips.drop(columns=["startLon", "startLat", "endLon", "endLat"]).to_parquet(data)
    assert run("train_supervised.py", "--data", data, "--output-dir", tmp_path / "sup").returncode == 0
    assert_refused(
        run("train_unsupervised.py", "--data", data, "--output-dir", tmp_path / "uns"), "coordinates"
    )


def test_url_answering_404_is_refused(httpserver, tmp_path):
    httpserver.expect_request("/missing/trips.csv").respond_with_data("no such file", status=404)
    url = httpserver.url_for("/missing/trips.csv")
    done = run(
        "train_supervised.py",
        "--data",
        url,
        "--output-dir",
        tmp_path / "o",
        env={"LAB_DATA_CACHE": str(tmp_path / "cache")},
    )
    assert_refused(done, url, "404")


def test_url_that_never_answers_is_refused_quickly(httpserver, tmp_path):
    release = threading.Event()
    httpserver.expect_request("/hang/trips.csv").respond_with_handler(
        lambda request: release.wait(30) and Response("too late")  # answered only once the test is over
    )
    url = httpserver.url_for("/hang/trips.csv")
    try:
        done = run(
            "train_supervised.py",
            "--data",
            url,
            "--output-dir",
            tmp_path / "o",
            env={"LAB_DATA_CACHE": str(tmp_path / "cache"), "LAB_DOWNLOAD_TIMEOUT": "1"},
        )
    finally:
        release.set()
    assert_refused(done, url, "within 1 s")  # quickly: the timeout given, not a default's minutes
    assert not (tmp_path / "o").exists()


class _Parsed(Exception):
    """Raised instead of parsing, once the script's parser is built."""


def _options_of(script: str, monkeypatch: pytest.MonkeyPatch, added_options: list) -> list:
    """The options (``argparse.Action``) a script's parser has, built in-process (entry.py's shared ones too).

    The parser is built and stopped before it parses; ``added_options`` recorded each ``add_argument``.
    """
    monkeypatch.syspath_prepend(str(ML))
    spec = importlib.util.spec_from_file_location(f"_script_{Path(script).stem}", ML / script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def stop(self, args=None, namespace=None):
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", stop)
    with pytest.raises(_Parsed):
        module.parse_args([])
    return [action for _, action in added_options]


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        (
            "train_supervised.py",
            {"--data", "--output-dir", "--seed", "--alpha", "--test-size", "--features", *TRACKING},
        ),
        (
            "train_unsupervised.py",
            {"--data", "--output-dir", "--seed", "--n-clusters", "--silhouette-sample", *TRACKING},
        ),
    ],
)
def test_help_documents_every_option(script, expected, monkeypatch, added_options):
    options = _options_of(script, monkeypatch, added_options)
    actions = {a.option_strings[-1]: a for a in options if a.option_strings and a.dest != "help"}
    assert set(actions) == expected

    done = run(script, "--help")

    assert done.returncode == 0
    shown = "".join(done.stdout.split())  # argparse wraps help text; compare without whitespace
    for option, action in actions.items():
        assert action.help, f"{script} {option} has no help text"
        # %(default)s is filled in by argparse: every literal piece around it must be printed
        for piece in re.split(r"%\(\w+\)s", action.help):
            assert "".join(piece.split()) in shown, f"{script} --help lacks the help of {option}: {piece!r}"
