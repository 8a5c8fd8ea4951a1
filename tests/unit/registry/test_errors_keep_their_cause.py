"""Only "no such run / model / version" means missing: a 403 or a timeout surfaces with its own message."""

from __future__ import annotations

import logging

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.classroom.progress import progress
from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.all_or_nothing.undo import undo
from labhelpers.registry.catalog import audit
from labhelpers.registry.client import is_not_found
from labhelpers.registry.promotion import promote
from labhelpers.registry.references import resolve

FORBIDDEN = MlflowException("Permission denied for run", error_code=pb.PERMISSION_DENIED)
TIMEOUT = TimeoutError("read timed out after 120 s")


@pytest.mark.parametrize(
    ("error", "missing"),
    [
        (MlflowException("Run 'r' not found", error_code=pb.RESOURCE_DOES_NOT_EXIST), True),
        (FORBIDDEN, False),
        (
            MlflowException(
                "API request failed with error code 404 != 200", error_code=pb.ENDPOINT_NOT_FOUND
            ),
            False,
        ),
        (MlflowException("Run 'r' not found"), False),  # no code: an internal error whatever it says
        (TIMEOUT, False),
        (ConnectionError("refused"), False),
    ],
)
def test_only_resource_does_not_exist_is_not_found(error, missing):
    assert is_not_found(error) is missing


def _registry(fake_registry, run_error=None):
    client = fake_registry([fake_registry.version("m", 1, **fake_registry.REPRODUCIBLE_TAGS)])
    if run_error is not None:
        client.failures["get_run"] = run_error
    return client


@pytest.mark.parametrize("error", [FORBIDDEN, TIMEOUT])
def test_promotion_reports_a_failed_run_read_as_itself_not_as_a_missing_run(fake_registry, error):
    client = _registry(fake_registry, error)
    with pytest.raises(type(error), match=str(error)):
        promote("m", 1, "validated", client=client, actor="t")
    assert client.models["m"][0].tags["lifecycle"] == "candidate"  # nothing moved


def test_promotion_still_refuses_a_version_whose_run_is_gone(fake_registry):
    with pytest.raises(RegistryError, match="training run missing"):
        promote("m", 1, "validated", client=_registry(fake_registry), actor="t")


@pytest.mark.parametrize("error", [FORBIDDEN, TIMEOUT])
def test_the_audit_reports_a_failed_run_read_as_itself(fake_registry, error):
    client = fake_registry([fake_registry.version("m", n, **fake_registry.REPRODUCIBLE_TAGS) for n in (1, 2)])
    client.add_run("run-1", {"random_seed": "1", "features": "x"})
    client.refuses.add("run_filters")  # runs are then read one by one
    client.failures["get_run:run-2"] = error
    with pytest.raises(type(error), match=str(error)):
        audit(["m"], client)


def test_the_audit_lists_a_gone_run_as_missing_even_when_it_is_the_first(fake_registry):
    client = fake_registry([fake_registry.version("m", n, **fake_registry.REPRODUCIBLE_TAGS) for n in (1, 2)])
    client.add_run("run-2", {"random_seed": "1", "features": "x"})  # run-1 is gone
    table = audit(["m"], client)
    assert table.to_dict("records") == [{"name": "m", "version": 1, "problems": "training run missing"}]


def test_the_audit_asks_for_each_gone_run_once(fake_registry):
    client = fake_registry(
        [fake_registry.version("m", n, **fake_registry.REPRODUCIBLE_TAGS) for n in (1, 2, 3)]
    )
    table = audit(["m"], client)  # every run is gone
    assert table["problems"].tolist() == ["training run missing"] * 3
    assert client.calls.count("get_run") == 3 and "search_runs" not in client.calls


def test_progress_reports_a_registry_it_cannot_read_instead_of_not_started(fake_registry):
    client = fake_registry()
    client.add("taxi-fare-linear-regression-alice", {})
    client.failures["get_registered_model"] = FORBIDDEN
    with pytest.raises(MlflowException, match="Permission denied"):
        progress(["alice"], client=client)


def test_progress_counts_no_exercises_for_a_model_not_registered_yet(fake_registry):
    table = progress(["bob"], client=fake_registry())
    assert table.loc[0, "furthest"] == "not started" and table.loc[0, "exercises_passed"] is None


def test_a_version_that_cannot_be_read_is_not_reported_as_absent(fake_registry):
    client = _registry(fake_registry)
    client.failures["get_model_version"] = FORBIDDEN
    with pytest.raises(MlflowException, match="Permission denied"):
        resolve("m:1", client)
    client.failures.clear()
    with pytest.raises(RegistryError, match="m has no version 7; versions: 1"):
        resolve("m:7", client)


def test_an_alias_read_that_fails_is_not_taken_for_a_missing_alias(fake_registry):
    client = _registry(fake_registry)
    client.failures["get_model_version_by_alias"] = FORBIDDEN
    with pytest.raises(MlflowException, match="Permission denied"):
        resolve("m@candidate", client)


def test_undo_logs_what_it_could_not_remove_and_returns_the_versions_left(fake_registry, caplog):
    client = _registry(fake_registry)
    client.add_run("run-1")
    client.failures["delete_model_version"] = FORBIDDEN
    created = [("run", "run-1"), ("version", ("m", "1"))]
    with caplog.at_level(logging.WARNING, logger="labhelpers.registry.all_or_nothing.undo"):
        left = undo(client, created)
    assert left == [("m", "1")]
    assert client.runs["run-1"].status == "FAILED"  # the run was still marked
    messages = [r.getMessage() for r in caplog.records if r.name == "labhelpers.registry.all_or_nothing.undo"]
    assert any("version ('m', '1') not removed" in m and "Permission denied" in m for m in messages)
