"""Capabilities learned from the registry's answers, cached per client (fake clients, no server)."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException, RestException, get_error_code
from mlflow.protos import databricks_pb2 as pb

from labhelpers.registry import capabilities
from labhelpers.registry.references import resolve


def _refused(*args, **kwargs):
    raise MlflowException("Not supported by Azure ML (aliases)", error_code=pb.ENDPOINT_NOT_FOUND)


def _versions(fake_registry) -> list:
    """Fresh version records for each test: the fake registry writes aliases into the records it holds."""
    return [
        fake_registry.version(NAME, 2, lifecycle="production"),
        fake_registry.version(NAME, 3, lifecycle="candidate"),
        fake_registry.version(NAME, 1, lifecycle="archived"),
    ]


NAME = "m"


def test_a_refused_alias_is_learned_once_and_never_asked_again(fake_registry):
    client = fake_registry(_versions(fake_registry), refuses={"aliases"})
    assert capabilities.set_alias(client, NAME, "candidate", 1) is False
    assert capabilities.set_alias(client, NAME, "candidate", 2) is False
    assert resolve(f"{NAME}@production", client).version == "2"  # from the lifecycle tag
    assert (
        client.calls.count("set_registered_model_alias") == 1
        and "get_model_version_by_alias" not in client.calls
    )
    assert capabilities.of(client).aliases is False


def test_a_missing_alias_is_an_answer_of_a_registry_that_has_aliases(fake_registry):
    client = fake_registry(_versions(fake_registry))
    assert resolve(f"{NAME}@production", client).version == "2"
    assert capabilities.of(client).aliases is None  # not learned either way
    assert capabilities.set_alias(client, NAME, "production", 2) is True
    assert capabilities.of(client).aliases is True


def test_what_one_client_learned_does_not_leak_into_another(fake_registry):
    refusing, full = (
        fake_registry(_versions(fake_registry), refuses={"aliases"}),
        fake_registry(_versions(fake_registry)),
    )
    capabilities.set_alias(refusing, NAME, "candidate", 1)
    assert capabilities.set_alias(full, NAME, "candidate", 1) is True
    assert (capabilities.of(refusing).aliases, capabilities.of(full).aliases) == (False, True)


def test_refused_ordering_falls_back_to_the_highest_number_and_is_not_asked_again(fake_registry):
    client = fake_registry(_versions(fake_registry), refuses={"ordering"})
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert client.calls.count("search_model_versions+order") == 1
    assert capabilities.of(client).ordering is False


def test_an_order_silently_ignored_is_detected_from_the_answer(fake_registry):
    client = fake_registry(
        _versions(fake_registry), ignores_order=True
    )  # answers 2, 3, 1 to an ordered search
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert capabilities.of(client).ordering is False
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert client.calls.count("search_model_versions+order") == 1


def test_a_confirmed_order_then_costs_one_small_request(fake_registry):
    client = fake_registry(_versions(fake_registry))
    assert resolve(f"{NAME}@latest", client).version == "3"
    assert capabilities.of(client).ordering is True
    client.calls.clear()
    assert resolve(f"{NAME}:latest", client).version == "3"
    assert client.calls == ["search_model_versions+order"]


def _bare_answer(status: int) -> MlflowException:
    """What MLflow's client raises for an answer of ``status`` whose body is not JSON (a proxy's page)."""
    return MlflowException(f"API request failed with error code {status} != 200", get_error_code(status))


def _azure(code: str, status: int, **body) -> RestException:
    """Azure ML's answer as MLflow's client raises it (the shape of Azure/azure-sdk-for-python#42155)."""
    return RestException({"Error": {"Code": code, "Message": "..."}, "statusCode": status, **body})


@pytest.mark.parametrize(
    ("error", "refusal"),
    [
        (MlflowException("x", error_code=pb.ENDPOINT_NOT_FOUND), True),
        (MlflowException("x", error_code=pb.INVALID_PARAMETER_VALUE), True),
        (MlflowException("x", error_code=pb.NOT_IMPLEMENTED), True),
        (_bare_answer(404), True),
        (_bare_answer(400), True),
        (_azure("UserError", 400, error_code="INVALID_PARAMETER_VALUE"), True),
        (_azure("ValidationError", 400), True),  # no MLflow code in the body: Azure's own says it
        (NotImplementedError("no aliases in this store"), True),
        (MlflowException("x", error_code=pb.RESOURCE_DOES_NOT_EXIST), False),
        (MlflowException("x", error_code=pb.RESOURCE_ALREADY_EXISTS), False),
        (MlflowException("x", error_code=pb.PERMISSION_DENIED), False),
        (MlflowException("x", error_code=pb.UNAUTHENTICATED), False),
        (MlflowException("x", error_code=pb.REQUEST_LIMIT_EXCEEDED), False),
        (MlflowException("x", error_code=pb.TEMPORARILY_UNAVAILABLE), False),
        # a server error, a gateway's, a timeout: the registry failed, it did not refuse
        (MlflowException("x"), False),
        (_bare_answer(500), False),
        (_bare_answer(502), False),
        (MlflowException("x", error_code=pb.DEADLINE_EXCEEDED), False),
        (RestException({"error_code": "INTERNAL_ERROR", "message": "boom"}), False),
        (_azure("UserError", 500), False),
        (_azure("ServiceError", 500, error_code="INTERNAL_ERROR"), False),
        (_azure("UserError", 403, error_code="PERMISSION_DENIED"), False),
        # programming errors and the network
        (AttributeError("'RestStore' object has no attribute 'set_registered_model_alias'"), False),
        (TypeError("set_registered_model_alias() takes 4 positional arguments"), False),
        (TimeoutError("read timed out"), False),
        (ConnectionError("refused"), False),
    ],
)
def test_only_a_refusal_teaches_that_a_feature_is_missing(error, refusal):
    assert capabilities.is_refusal(error) is refusal


@pytest.mark.parametrize("error", [MlflowException("boom"), AttributeError("no attribute 'x'")])
def test_a_server_error_or_a_bug_on_the_first_try_is_raised_and_teaches_nothing(fake_registry, error):
    client = fake_registry(_versions(fake_registry))

    def fails(*args):
        raise error

    with pytest.raises(type(error)):
        capabilities.attempt(client, "aliases", fails)
    assert capabilities.of(client).aliases is None  # asked again next time


class _Counted:
    """A write that raises ``errors`` one per call, then succeeds; ``calls`` counts the calls."""

    def __init__(self, *errors: Exception) -> None:
        self.pending, self.calls = list(errors), 0

    def __call__(self) -> str:
        self.calls += 1
        if self.pending:
            raise self.pending.pop(0)
        return "written"


def _counted(*errors: Exception) -> _Counted:
    return _Counted(*errors)


def test_a_write_that_lost_a_race_is_tried_again():
    write = _counted(MlflowException("UNIQUE constraint failed"), _bare_answer(503))
    assert capabilities.racing_writes(3)(write) == "written"
    assert write.calls == 3


def test_a_lost_unique_insert_that_mlflow_answers_as_bad_request_is_tried_again():
    """MLflow 3.15 wraps SQLAlchemy's IntegrityError as BAD_REQUEST: seen on PostgreSQL when three runs of a
    batch log the same dataset at once."""
    lost = MlflowException(
        "(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "
        '"uniq_dataset_uuid"', error_code=pb.BAD_REQUEST
    )  # fmt: skip
    write = _counted(lost, MlflowException("(sqlite3.IntegrityError) UNIQUE constraint failed: datasets",
                                           error_code=pb.BAD_REQUEST))  # fmt: skip
    assert capabilities.racing_writes(3)(write) == "written" and write.calls == 3
    refused = _counted(MlflowException("Invalid dataset digest", error_code=pb.BAD_REQUEST))
    with pytest.raises(MlflowException):
        capabilities.racing_writes(3)(refused)
    assert refused.calls == 1  # a plain 400 answers the same every time
    assert not capabilities.is_refusal(lost)  # nor does a lost race say the registry lacks the feature


@pytest.mark.parametrize(
    "error",
    [
        MlflowException("Permission denied", error_code=pb.PERMISSION_DENIED),
        _bare_answer(403),
        _bare_answer(401),
        MlflowException("x", error_code=pb.INVALID_PARAMETER_VALUE),
        AttributeError("'NoneType' object has no attribute 'run_id'"),
    ],
)
def test_a_403_a_refusal_or_a_bug_is_never_tried_again(error):
    write = _counted(error)
    with pytest.raises(type(error)):
        capabilities.racing_writes(3)(write)
    assert write.calls == 1


def test_a_registry_that_said_yes_once_keeps_the_feature(fake_registry):
    client = fake_registry(_versions(fake_registry))
    capabilities.learn(client, "aliases", True)
    with pytest.raises(MlflowException):
        capabilities.attempt(client, "aliases", _refused)
    assert capabilities.of(client).aliases is True
