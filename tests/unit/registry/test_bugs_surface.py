"""A registry's answer is handled where it is expected; a programming error is never taken for one.

Each place that carries on after a registry error (logs it, falls back, reports a batch as failed) catches
``MlflowException``, MLflow's error for the registry's answers, its failures and its unreachable network;
an ``AttributeError`` or ``TypeError`` (a bug, here or in a plugin) is raised where it happened.
"""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.course.exercises import record_pass
from labhelpers.registry.all_or_nothing.repair import repair
from labhelpers.registry.all_or_nothing.undo import undo
from labhelpers.registry.all_or_nothing.upload import drop_retried_duplicates
from labhelpers.registry.capabilities import with_retry
from labhelpers.registry.catalog import audit
from labhelpers.registry.references import resolve

BUG = AttributeError("'NoneType' object has no attribute 'version'")
FORBIDDEN = MlflowException("Permission denied", error_code=pb.PERMISSION_DENIED)


def _pending_batch(fake_registry):
    """A dead batch (its lease ran out long ago) that lacks member n: a repair deletes its version of m."""
    pending = {
        "lab.batch_id": "dead",
        "lab.batch_status": "pending",
        "lab.batch_names": "m,n",
        "lab.batch_lease_until": "1",
    }
    return fake_registry([fake_registry.version("m", 1, **pending)])


@pytest.mark.parametrize("method", ["delete_model_version", "set_terminated"])
def test_repair_reports_a_registry_failure_as_a_failed_batch_and_raises_a_bug(fake_registry, method):
    client = _pending_batch(fake_registry)
    client.failures[method] = FORBIDDEN
    [result] = repair(client, ["m"])
    assert result.action == ("failed" if method == "delete_model_version" else "removed")

    client = _pending_batch(fake_registry)
    client.failures[method] = BUG
    with pytest.raises(AttributeError, match="no attribute 'version'"):
        repair(client, ["m"])


def test_undo_leaves_what_the_registry_refused_and_raises_a_bug(fake_registry):
    client = fake_registry([fake_registry.version("m", 1)])
    client.failures["delete_model_version"] = FORBIDDEN
    assert undo(client, [("version", ("m", "1"))]) == [("m", "1")]

    client.failures["delete_model_version"] = BUG
    with pytest.raises(AttributeError):
        undo(client, [("version", ("m", "1"))])


def test_a_mirror_write_gives_up_on_a_registry_error_but_raises_a_bug():
    def refused(*args):
        raise FORBIDDEN

    def buggy(*args):
        raise TypeError("log_inputs() missing 1 required positional argument: 'datasets'")

    assert with_retry(refused, "run-1") is False
    with pytest.raises(TypeError, match="missing 1 required"):
        with_retry(buggy, "run-1")


def test_the_duplicate_check_skips_on_a_registry_error_but_raises_a_bug(fake_registry):
    client = fake_registry([fake_registry.version("m", 1), fake_registry.version("m", 2)])
    client.failures["search_model_versions"] = FORBIDDEN
    drop_retried_duplicates(client, "m", "run-1", kept="1")
    assert client.deleted == []

    client.failures["search_model_versions"] = BUG
    with pytest.raises(AttributeError):
        drop_retried_duplicates(client, "m", "run-1", kept="1")


def test_an_unknown_name_is_explained_even_when_the_list_is_refused_but_a_bug_is_raised(fake_registry):
    client = fake_registry([fake_registry.version("m", 1)], refuses={"model_search"})
    with pytest.raises(Exception, match="No registered model named 'nope'"):
        resolve("nope@latest", client)

    client.failures["search_registered_models"] = BUG
    with pytest.raises(AttributeError):
        resolve("nope@latest", client)


def test_the_audit_falls_back_only_when_run_search_is_refused(fake_registry):
    def client_whose_run_search(error):
        versions = [fake_registry.version("m", n, **fake_registry.REPRODUCIBLE_TAGS) for n in (1, 2)]
        client = fake_registry(versions)
        for run_id in ("run-1", "run-2"):
            client.add_run(run_id, {"random_seed": "1", "features": "x"})
        client.failures["search_runs"] = error
        return client

    refused = client_whose_run_search(MlflowException("not supported", error_code=pb.INVALID_PARAMETER_VALUE))
    assert audit(["m"], refused).empty  # both runs read, one by one: run-1 for its experiment, then run-2
    assert refused.calls.count("get_run") == 2
    for error in (FORBIDDEN, MlflowException("boom"), BUG):  # a 403, a server error, a bug
        with pytest.raises(type(error)):
            audit(["m"], client_whose_run_search(error))


def test_a_passed_exercise_not_recorded_is_no_failure_but_a_bug_is(fake_registry):
    client = fake_registry()
    client.failures["set_registered_model_tag"] = FORBIDDEN
    assert record_pass(client, "01") is False

    client.failures["set_registered_model_tag"] = BUG
    with pytest.raises(AttributeError):
        record_pass(client, "01")
