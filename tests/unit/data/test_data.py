"""Loading NYC taxi files of every known schema into the canonical frame, and refusing bad input clearly."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from werkzeug import Response

from labhelpers.data import download
from labhelpers.data import load as data_module
from labhelpers.data.load import CANONICAL_COLUMNS, CANONICAL_DTYPES, TripData, load_trips, to_canonical
from labhelpers.foundation.errors import DataError, SchemaError
from labhelpers.processes.groups import wait_until

PICKUPS = ["2015-01-15 19:05:39", "2015-01-10 20:33:38", "2015-01-10 20:33:39"]
DROPOFFS = ["2015-01-15 19:23:42", "2015-01-10 20:53:28", "2015-01-10 20:43:41"]
FARES = [12.0, 14.5, 9.5]
DISTANCES = [1.59, 3.3, 1.8]
LONS = [-73.993896, -74.001648, -73.963341]
LATS = [40.750111, 40.724243, 40.802788]


AZURE_MONEY = [
    "fareAmount",
    "extra",
    "mtaTax",
    "improvementSurcharge",
    "tipAmount",
    "tollsAmount",
    "totalAmount",
]
TLC_MONEY = [
    "fare_amount",
    "extra",
    "mta_tax",
    "improvement_surcharge",
    "tip_amount",
    "tolls_amount",
    "total_amount",
]
MONEY_VALUES = [
    FARES,
    [1.0, 0.5, 0.5],
    [0.5] * 3,
    [0.3] * 3,
    [3.25, 2.0, 0.0],
    [0.0] * 3,
    [17.05, 17.8, 10.8],
]


def _money(names: list[str]) -> dict[str, list[float]]:
    return dict(zip(names, MONEY_VALUES, strict=True))


def azure_yellow() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vendorID": [2, 1, 1],
            "tpepPickupDateTime": pd.to_datetime(PICKUPS),
            "tpepDropoffDateTime": pd.to_datetime(DROPOFFS),
            "passengerCount": [1, 1, 2],
            "tripDistance": DISTANCES,
            "puLocationId": [None, None, None],
            "doLocationId": [None, None, None],
            "startLon": LONS,
            "startLat": LATS,
            "endLon": LONS,
            "endLat": LATS,
            "rateCodeId": [1, 1, 1],
            "storeAndFwdFlag": ["N", "N", "Y"],
            "paymentType": [1, 1, 2],
            **_money(AZURE_MONEY),
        }
    )


def azure_green() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vendorID": [2, 1, 1],
            "lpepPickupDatetime": pd.to_datetime(PICKUPS),
            "lpepDropoffDatetime": pd.to_datetime(DROPOFFS),
            "passengerCount": [1, 1, 2],
            "tripDistance": DISTANCES,
            "puLocationId": ["74", "42", None],
            "doLocationId": ["42", "74", None],
            "pickupLongitude": LONS,
            "pickupLatitude": LATS,
            "dropoffLongitude": LONS,
            "dropoffLatitude": LATS,
            "rateCodeID": [1, 1, 5],
            "storeAndFwdFlag": ["N", "N", "N"],
            "paymentType": [1, 2, 2],
            **_money(AZURE_MONEY),
            "ehailFee": [None, None, None],
            "tripType": [1, 1, 2],
        }
    )


def tlc() -> pd.DataFrame:
    """A TLC yellow file since mid-2016: zone ids, no coordinates, extra surcharge columns."""
    return pd.DataFrame(
        {
            "VendorID": [2, 1, 1],
            "tpep_pickup_datetime": pd.to_datetime(PICKUPS),
            "tpep_dropoff_datetime": pd.to_datetime(DROPOFFS),
            "passenger_count": [1.0, 1.0, None],
            "trip_distance": DISTANCES,
            "RatecodeID": [1.0, 1.0, 99.0],
            "store_and_fwd_flag": ["N", None, "N"],
            "PULocationID": [161, 236, 132],
            "DOLocationID": [236, 161, 1],
            "payment_type": [1, 2, 1],
            **_money(TLC_MONEY),
            "congestion_surcharge": [2.5, 2.5, 0.0],
            "Airport_fee": [0.0, 0.0, 1.75],
        }
    )


SCHEMA_FRAMES = {"azure_yellow": azure_yellow, "azure_green": azure_green, "tlc": tlc}


def write(frame: pd.DataFrame, path: Path) -> Path:
    if path.name.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)  # pandas compresses .csv.gz by its suffix
    return path


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet"])
@pytest.mark.parametrize("schema", list(SCHEMA_FRAMES))
def test_each_schema_loads_to_the_canonical_frame(tmp_path: Path, schema: str, suffix: str) -> None:
    path = write(SCHEMA_FRAMES[schema](), tmp_path / f"trips{suffix}")

    data = load_trips(path)

    frame = data.frame
    assert data.schema == schema
    assert list(frame.columns) == CANONICAL_COLUMNS
    assert {name: str(dtype) for name, dtype in frame.dtypes.items()} == {
        name: "string" if dtype == "string" else dtype for name, dtype in CANONICAL_DTYPES.items()
    }
    assert frame["fare_amount"].tolist() == FARES
    assert frame["trip_distance"].tolist() == DISTANCES
    assert frame["total_amount"].tolist() == [17.05, 17.8, 10.8]
    assert frame["pickup_datetime"].tolist() == list(pd.to_datetime(PICKUPS))
    assert frame["dropoff_datetime"].tolist() == list(pd.to_datetime(DROPOFFS))
    assert frame.index.equals(pd.RangeIndex(3))
    if schema == "tlc":
        assert frame[["pickup_longitude", "dropoff_latitude"]].isna().all().all()
        assert frame["pu_location_id"].tolist() == [161, 236, 132]
        assert frame["passenger_count"].isna().tolist() == [False, False, True]
        assert frame["rate_code"].tolist() == [1, 1, 99]
    else:
        assert frame["pickup_longitude"].tolist() == LONS
        assert frame["dropoff_latitude"].tolist() == LATS
    if schema == "azure_green":
        assert frame["pu_location_id"].tolist()[:2] == [74, 42]
        assert frame["pu_location_id"].isna().tolist() == [False, False, True]


def test_trip_data_records_the_file_read(tmp_path: Path) -> None:
    path = write(azure_yellow(), tmp_path / "yellow.parquet")

    data = load_trips(str(path))

    assert isinstance(data, TripData)
    assert data.source == str(path)
    assert data.path == path
    assert data.rows_read == 3
    assert data.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(AttributeError):
        data.schema = "tlc"  # type: ignore[misc]


def test_old_tlc_csv_with_quirky_names_keeps_coordinates(tmp_path: Path) -> None:
    """2014 TLC CSVs spell columns " pickup_datetime", "vendor_id" and carry coordinates."""
    header = (
        "vendor_id, pickup_datetime, dropoff_datetime, passenger_count, trip_distance, pickup_longitude, "
        "pickup_latitude, rate_code, store_and_fwd_flag, dropoff_longitude, dropoff_latitude, payment_type, "
        "FARE_AMOUNT , surcharge, mta_tax, tip_amount, tolls_amount, total_amount"
    )
    rows = [
        "CMT,2014-01-09 20:45:25,2014-01-09 20:52:31,1,0.7,-73.994770,40.736828,1,N,-73.982227,40.731790,CRD,"
        "6.5,0.5,0.5,1.4,0,8.9",
        "VTS,2014-01-09 20:46:12,2014-01-09 20:55:12,1,1.4,-73.982392,40.773382,1,,-73.960449,40.763995,CSH,"
        "8.5,0.5,0.5,0,0,9.5",
    ]
    path = tmp_path / "yellow_tripdata_2014-01.csv"
    path.write_text("\n".join([header, *rows]) + "\n")

    data = load_trips(path)

    assert data.schema == "tlc"
    frame = data.frame
    assert frame["fare_amount"].tolist() == [6.5, 8.5]
    assert frame["pickup_longitude"].tolist() == [-73.994770, -73.982392]
    assert frame["dropoff_latitude"].tolist() == [40.731790, 40.763995]
    assert frame["extra"].tolist() == [0.5, 0.5]
    assert frame["vendor_id"].tolist() == [1, 2]
    assert frame["payment_type"].tolist() == [1, 2]
    assert frame["pu_location_id"].isna().all()
    assert frame["improvement_surcharge"].isna().all()
    assert frame["store_and_fwd_flag"].isna().tolist() == [False, True]


def test_green_tlc_parquet_with_extra_columns(tmp_path: Path) -> None:
    raw = tlc().rename(columns={"tpep_pickup_datetime": "lpep_pickup_datetime"})
    raw = raw.rename(columns={"tpep_dropoff_datetime": "LPEP_DROPOFF_DATETIME"})
    raw = raw.drop(columns=["improvement_surcharge"]).assign(ehail_fee=np.nan, trip_type=1, note="x")

    frame = load_trips(write(raw, tmp_path / "green.parquet")).frame

    assert frame["pickup_datetime"].tolist() == list(pd.to_datetime(PICKUPS))
    assert frame["improvement_surcharge"].isna().all()
    assert "note" not in frame.columns


def test_text_codes_of_old_azure_yellow_files(tmp_path: Path) -> None:
    raw = azure_yellow().assign(vendorID=["CMT", "VTS", "DDS"], paymentType=["Credit", "CASH", "No Charge"])
    raw = raw.assign(improvementSurcharge=["0.3", None, ""], puLocationId=["161", "", None])

    frame = load_trips(write(raw, tmp_path / "yellow.parquet")).frame

    assert frame["vendor_id"].tolist()[:2] == [1, 2]
    assert frame["vendor_id"].isna().tolist() == [False, False, True]
    assert frame["payment_type"].tolist() == [1, 2, 3]
    assert frame["improvement_surcharge"].isna().tolist() == [False, True, True]
    assert frame["pu_location_id"].isna().tolist() == [False, True, True]


def test_datetimes_in_text_and_us_notation(tmp_path: Path) -> None:
    raw = tlc().astype({"tpep_pickup_datetime": str})
    raw["tpep_dropoff_datetime"] = ["1/15/2015 7:23:42 PM", "2015-01-10T20:53:28", "2015-01-10 20:43:41"]

    frame = load_trips(write(raw, tmp_path / "text_dates.parquet")).frame

    assert frame["dropoff_datetime"].tolist() == list(pd.to_datetime(DROPOFFS))
    assert frame["pickup_datetime"].dtype == "datetime64[ns]"


def test_csv_read_in_chunks_equals_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = pd.concat([azure_yellow()] * 3, ignore_index=True)
    raw.loc[7, "tpepPickupDateTime"] = pd.NaT
    path = write(raw, tmp_path / "nine.csv")
    whole = load_trips(path).frame

    monkeypatch.setattr(data_module, "CSV_CHUNK_ROWS", 2)
    chunked = load_trips(path).frame

    pd.testing.assert_frame_equal(chunked, whole)
    assert chunked.index.equals(pd.RangeIndex(9))
    assert chunked["pickup_datetime"].isna().tolist() == [False] * 7 + [True, False]


def test_bad_value_in_a_later_chunk_names_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = pd.concat([azure_yellow()] * 2, ignore_index=True).astype({"tripDistance": object})
    raw.loc[4, "tripDistance"] = "1,5"
    monkeypatch.setattr(data_module, "CSV_CHUNK_ROWS", 2)

    with pytest.raises(
        DataError, match=r"six.csv rows 5-6: column 'tripDistance' \(trip_distance\) holds 1 value"
    ):
        load_trips(write(raw, tmp_path / "six.csv"))


def test_to_canonical_accepts_any_index_and_leaves_the_input_alone() -> None:
    raw = azure_green().set_axis([10, 20, 30])
    before = raw.copy()

    frame, schema = to_canonical(raw)

    assert schema == "azure_green"
    assert frame.index.equals(pd.RangeIndex(3))
    assert frame["fare_amount"].tolist() == FARES
    pd.testing.assert_frame_equal(raw, before)


def test_unknown_schema_lists_missing_and_found_columns(tmp_path: Path) -> None:
    raw = tlc().drop(columns=["fare_amount", "tpep_dropoff_datetime"]).rename(columns={"VendorID": "driver"})
    path = write(raw, tmp_path / "mystery.csv")

    with pytest.raises(SchemaError) as caught:
        load_trips(path)

    message = str(caught.value)
    assert str(path) in message
    assert "'tlc'" in message
    assert "fare_amount" in message.split("missing")[1]
    assert "tpep_dropoff_datetime" in message.split("missing")[1]
    assert "'driver'" in message and "'trip_distance'" in message
    assert "Azure Open Datasets" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file") as caught:
        load_trips(tmp_path / "nope.parquet")
    assert "nope.parquet" in str(caught.value)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "month.parquet"
    folder.mkdir()
    with pytest.raises(DataError, match="is a folder"):
        load_trips(folder)


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "trips.xlsx"
    path.write_bytes(b"not really excel")
    with pytest.raises(DataError, match=r"unsupported file type '\.xlsx'.*\.csv, \.csv\.gz or \.parquet"):
        load_trips(path)


@pytest.mark.parametrize("name", ["empty.csv", "empty.parquet", "empty.csv.gz"])
def test_zero_byte_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    with pytest.raises(DataError, match=r"empty \(0 bytes\)"):
        load_trips(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_header_only_file(tmp_path: Path, suffix: str) -> None:
    path = write(azure_yellow().iloc[:0], tmp_path / f"header{suffix}")
    with pytest.raises(DataError, match="no rows") as caught:
        load_trips(path)
    assert path.name in str(caught.value)


def test_blank_csv_holds_no_data(tmp_path: Path) -> None:
    path = tmp_path / "blank.csv"
    path.write_text("\n\n")
    with pytest.raises(DataError, match="holds no data"):
        load_trips(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_non_numeric_fare_names_column_count_and_value(tmp_path: Path, suffix: str) -> None:
    raw = azure_yellow().astype({"fareAmount": object})
    raw["fareAmount"] = ["12.0", "abc", "twelve"]
    path = write(raw, tmp_path / f"bad_fare{suffix}")
    before = path.read_bytes()

    with pytest.raises(DataError) as caught:
        load_trips(path)

    message = str(caught.value)
    assert "'fareAmount'" in message
    assert "2 value(s)" in message
    assert "'abc'" in message
    assert path.read_bytes() == before


def test_fractional_passenger_count_is_refused(tmp_path: Path) -> None:
    path = write(tlc().assign(passenger_count=[1.0, 1.5, 2.0]), tmp_path / "fraction.parquet")
    with pytest.raises(DataError, match=r"'passenger_count'.*1 value\(s\) that are not whole numbers"):
        load_trips(path)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_unparseable_datetimes(tmp_path: Path, suffix: str) -> None:
    raw = tlc().astype({"tpep_pickup_datetime": str})
    raw.loc[1, "tpep_pickup_datetime"] = "yesterday-ish"
    path = write(raw, tmp_path / f"bad_dates{suffix}")

    with pytest.raises(DataError, match=r"'tpep_pickup_datetime'.*1 value\(s\).*dates.*'yesterday-ish'"):
        load_trips(path)


def test_dates_beyond_the_datetime_range(tmp_path: Path) -> None:
    raw = tlc()
    raw["tpep_dropoff_datetime"] = np.array(
        ["2015-01-15", "3015-01-10", "2015-01-10"], dtype="datetime64[us]"
    )
    with pytest.raises(DataError, match=r"'tpep_dropoff_datetime'.*outside 1677-2262"):
        load_trips(write(raw, tmp_path / "far_future.parquet"))


def test_fractional_codes_in_text(tmp_path: Path) -> None:
    path = write(azure_green().assign(passengerCount=["1", "2.5", "2.5"]), tmp_path / "text_counts.csv")
    with pytest.raises(DataError, match=r"'passengerCount'.*2 value\(s\).*whole numbers \(first: 2.5\)"):
        load_trips(path)


def test_damaged_parquet(tmp_path: Path) -> None:
    good = write(azure_yellow(), tmp_path / "good.parquet").read_bytes()
    path = tmp_path / "cut.parquet"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match="could not be read as parquet.*download it again"):
        load_trips(path)
    assert path.read_bytes() == good[: len(good) // 2]


def _asked(httpserver) -> list[str]:
    """The paths the loopback server (pytest-httpserver) answered, in order."""
    return [request.path for request, _ in httpserver.log]


def test_url_downloads_once_then_reuses_the_cache(tmp_path: Path, httpserver, capsys) -> None:
    body = write(azure_green(), tmp_path / "green.parquet").read_bytes()
    httpserver.expect_request("/data/green_2016-01.parquet").respond_with_data(body)
    url = httpserver.url_for("/data/green_2016-01.parquet")
    cache = tmp_path / "cache"

    first = load_trips(url, cache_dir=cache, timeout=5, progress=True)
    second = load_trips(url, cache_dir=cache, timeout=5, progress=True)

    assert _asked(httpserver) == ["/data/green_2016-01.parquet"]
    assert first.source == url and first.schema == "azure_green"
    assert first.path.parent == cache and first.path.name.endswith(".parquet")
    assert first.path.read_bytes() == body
    assert first.sha256 == second.sha256 == hashlib.sha256(body).hexdigest()
    assert second.path == first.path
    pd.testing.assert_frame_equal(first.frame, second.frame)
    assert [p.name for p in cache.iterdir()] == [first.path.name]
    assert capsys.readouterr().err.count("green_2016-01.parquet") >= 1  # the progress bar, first call only


def test_url_404_names_url_and_status(tmp_path: Path, httpserver) -> None:
    httpserver.expect_request("/missing.csv").respond_with_data("no such file", status=404)
    url = httpserver.url_for("/missing.csv")
    cache = tmp_path / "cache"

    with pytest.raises(DataError, match="404") as caught:
        load_trips(url, cache_dir=cache, timeout=5, progress=False)

    assert url in str(caught.value)
    assert "local path" in str(caught.value)
    assert _asked(httpserver) == ["/missing.csv"]  # a wrong URL is not retried
    assert list(cache.iterdir()) == []  # nothing that could pass for a finished download


def test_url_that_never_answers_times_out(tmp_path: Path, httpserver) -> None:
    release, arrived = threading.Event(), []

    def hang(request):  # accepted, answered only once the test is over
        arrived.append(request.path)
        release.wait(30)
        return Response("too late")

    httpserver.expect_request("/hang/trips.parquet").respond_with_handler(hang)
    url, cache = httpserver.url_for("/hang/trips.parquet"), tmp_path / "cache"
    try:
        with pytest.raises(DataError, match=r"did not answer within 1 s") as caught:
            load_trips(url, cache_dir=cache, timeout=1, progress=False)
    finally:
        release.set()
        # the answer lands in the server's log only once the handler returns: wait for it, or it lands in
        # the next test's log (the loopback server is the session's)
        wait_until(lambda: "/hang/trips.parquet" in _asked(httpserver), 10)

    assert url in str(caught.value)
    assert arrived == ["/hang/trips.parquet"]  # asked once: a silent server is not retried
    assert list(cache.iterdir()) == []


def test_broken_download_is_retried_then_leaves_nothing_that_looks_complete(
    tmp_path: Path, httpserver
) -> None:
    def cut_short(request):  # promises more bytes than it sends, then hangs up
        headers = {"Content-Length": "100000", "Connection": "close"}
        return Response(iter([b"PAR1" * 10]), headers=headers, direct_passthrough=True)

    httpserver.expect_request("/short/trips.parquet").respond_with_handler(cut_short)
    url = httpserver.url_for("/short/trips.parquet")
    cache = tmp_path / "cache"

    with pytest.raises(
        DataError, match=rf"download failed .* after {1 + download.RETRIES} attempts"
    ) as caught:
        load_trips(url, cache_dir=cache, timeout=5, progress=False)

    assert url in str(caught.value)
    assert _asked(httpserver) == ["/short/trips.parquet"] * (1 + download.RETRIES)
    assert list(cache.iterdir()) == []


def test_server_errors_are_retried_until_the_file_arrives(tmp_path: Path, httpserver) -> None:
    body = write(azure_yellow(), tmp_path / "yellow.parquet").read_bytes()
    for _ in range(download.RETRIES):  # 503 on every attempt but the last
        httpserver.expect_oneshot_request("/busy/yellow.parquet").respond_with_data("busy", status=503)
    httpserver.expect_request("/busy/yellow.parquet").respond_with_data(body)
    url = httpserver.url_for("/busy/yellow.parquet")

    data = load_trips(url, cache_dir=tmp_path / "cache", timeout=5, progress=False)

    assert _asked(httpserver) == ["/busy/yellow.parquet"] * (1 + download.RETRIES)
    assert data.path.read_bytes() == body and data.schema == "azure_yellow"


def test_known_sha256_is_checked_and_a_mismatch_names_url_and_both_digests(
    tmp_path: Path, httpserver
) -> None:
    body = write(azure_yellow(), tmp_path / "yellow.parquet").read_bytes()
    httpserver.expect_request("/yellow.parquet").respond_with_data(body)
    url, cache = httpserver.url_for("/yellow.parquet"), tmp_path / "cache"
    actual, wrong = hashlib.sha256(body).hexdigest(), "0" * 64

    with pytest.raises(DataError) as caught:
        load_trips(url, cache_dir=cache, timeout=5, progress=False, sha256=wrong)

    message = str(caught.value)
    assert url in message and actual in message and wrong in message
    assert _asked(httpserver) == ["/yellow.parquet"]  # a wrong digest is not retried
    assert list(cache.iterdir()) == []
    data = load_trips(url, cache_dir=cache, timeout=5, progress=False, sha256=f"sha256:{actual.upper()}")
    assert data.sha256 == actual and data.path.read_bytes() == body


def test_cached_file_that_no_longer_matches_the_known_sha256_is_downloaded_again(
    tmp_path: Path, httpserver
) -> None:
    body = write(azure_yellow(), tmp_path / "yellow.parquet").read_bytes()
    httpserver.expect_request("/yellow.parquet").respond_with_data(body)
    url, cache = httpserver.url_for("/yellow.parquet"), tmp_path / "cache"
    first = load_trips(url, cache_dir=cache, timeout=5, progress=False)
    first.path.write_bytes(b"damaged in the cache")

    again = load_trips(
        url, cache_dir=cache, timeout=5, progress=False, sha256=hashlib.sha256(body).hexdigest()
    )

    assert _asked(httpserver) == ["/yellow.parquet"] * 2
    assert again.path == first.path and again.path.read_bytes() == body


def test_malformed_sha256_is_refused_before_downloading(tmp_path: Path, httpserver) -> None:
    with pytest.raises(DataError, match=r"sha256='abc' is not a SHA-256 digest"):
        load_trips(
            httpserver.url_for("/x.parquet"), cache_dir=tmp_path / "cache", progress=False, sha256="abc"
        )
    assert _asked(httpserver) == []


def test_local_file_with_a_known_sha256(tmp_path: Path) -> None:
    path = write(azure_yellow(), tmp_path / "yellow.parquet")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert load_trips(path, sha256=digest).sha256 == digest
    with pytest.raises(DataError, match=rf"{digest}.*sha256={'1' * 64} was expected"):
        load_trips(path, sha256="1" * 64)


def test_damaged_cached_file_says_how_to_download_again(tmp_path: Path, httpserver) -> None:
    httpserver.expect_request("/trips.parquet").respond_with_data(b"<html>maintenance</html>")
    url = httpserver.url_for("/trips.parquet")

    with pytest.raises(DataError, match="could not be read as parquet") as caught:
        load_trips(url, cache_dir=tmp_path / "cache", timeout=5, progress=False)

    assert f"the cached download of {url}; delete it to download again" in str(caught.value)


def test_url_nobody_listens_on(tmp_path: Path, free_port) -> None:
    url = f"http://127.0.0.1:{free_port()}/trips.csv"

    with pytest.raises(
        DataError, match=rf"within 2 s \(connection failed, {1 + download.RETRIES} attempts\)"
    ) as caught:
        load_trips(url, cache_dir=tmp_path / "cache", timeout=2, progress=False)

    assert url in str(caught.value)


def test_url_without_a_data_suffix_is_refused_before_downloading(tmp_path: Path, httpserver) -> None:
    with pytest.raises(DataError, match="does not end in"):
        load_trips(httpserver.url_for("/index.html"), cache_dir=tmp_path / "cache", progress=False)
    assert _asked(httpserver) == []


def test_a_full_cache_disk_is_named_with_the_way_out_and_keeps_nothing(
    tmp_path: Path, httpserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    httpserver.expect_request("/yellow.parquet").respond_with_data(
        write(azure_yellow(), tmp_path / "yellow.parquet").read_bytes()
    )
    url, cache = httpserver.url_for("/yellow.parquet"), tmp_path / "cache"

    def full_disk(self, url, response, output_file):
        Path(output_file).write_bytes(b"PAR1")  # some bytes land, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), output_file)

    monkeypatch.setattr(download.Downloader, "write_body", full_disk)

    with pytest.raises(DataError) as caught:
        load_trips(url, cache_dir=cache, timeout=5, progress=False)

    message = str(caught.value)
    assert url in message and f"download cache {cache} is full" in message and "LAB_DATA_CACHE" in message
    assert _asked(httpserver) == ["/yellow.parquet"]  # a full disk is not retried
    assert list(cache.iterdir()) == []
