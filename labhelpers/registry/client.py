"""The part of MLflow's ``MlflowClient`` that labhelpers uses, and how to tell "not found" from a failure.

:class:`RegistryClient` is a ``typing.Protocol``: every ``client`` parameter in labhelpers is typed with it,
and the unit tier's one fake client (``FakeRegistry`` in ``tests/unit/fakes.py``) implements it, so a method
the code starts to call must be added here first, and to the fake. mypy checks all three against each other
(``make lint`` runs it over labhelpers, ML, bench and tests): ``MlflowClient`` (MLflow 2 and 3), labhelpers'
own wrapper (:class:`labhelpers.registry.throttling.ThrottledClient`) and the fake each satisfy it, by a
typed assignment in ``tests/unit/registry/test_client.py``.

:func:`is_not_found` is the one test for "the registry answered that this does not exist". Everything else
(a 403, a timeout, a refused connection, a server error) is a failure with its own cause: callers that mean
"missing" catch exactly this and let the rest surface.

Imports only the standard library at run time: MLflow is imported by the callers, and here by the type
checker alone (its entity types).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # MLflow's entity types, for the type checker: at run time this module imports no MLflow
    from mlflow.entities import DatasetInput, Experiment, Metric, Param, Run, RunTag
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from mlflow.store.entities.paged_list import PagedList
    from mlflow.utils.async_logging.run_operations import RunOperations

#: The MLflow error code of "no such run / model / version / experiment" (the local server, MLflow 2 and 3,
#: and the REST answers of other MLflow-compatible registries).
NOT_FOUND_CODE = "RESOURCE_DOES_NOT_EXIST"


def is_not_found(error: BaseException) -> bool:
    """Whether ``error`` is the registry's answer that the thing asked for does not exist.

    Only an ``MlflowException`` (``RestException`` included) whose ``error_code`` is
    ``RESOURCE_DOES_NOT_EXIST`` counts; permission errors, timeouts and connection failures do not.
    """
    return str(getattr(error, "error_code", "")) == NOT_FOUND_CODE


@runtime_checkable
class RegistryClient(Protocol):
    """The ``MlflowClient`` methods labhelpers calls (tracking and model registry), as MLflow types them.

    Each method names the parameters labhelpers passes, in ``MlflowClient``'s order and with its defaults
    (MLflow 2 and 3 alike); ``MlflowClient`` has more, which labhelpers does not use. The entity types are
    MLflow's own, imported for the type checker only.
    """

    @property
    def tracking_uri(self) -> str: ...

    # tracking
    def get_experiment_by_name(self, name: str) -> Experiment | None: ...
    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str: ...
    def delete_experiment(self, experiment_id: str) -> None: ...
    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run: ...
    def get_run(self, run_id: str) -> Run: ...
    def search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str = "",
        run_view_type: int = 1,
        max_results: int = 1000,
        order_by: list[str] | None = None,
    ) -> PagedList[Run]: ...
    def set_terminated(self, run_id: str, status: str | None = None) -> None: ...
    def delete_run(self, run_id: str) -> None: ...
    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> RunOperations | None: ...
    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None) -> None: ...
    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None: ...

    # model registry
    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None) -> RegisteredModel: ...
    def get_registered_model(self, name: str) -> RegisteredModel: ...
    def search_registered_models(
        self, filter_string: str | None = None, max_results: int = 100
    ) -> PagedList[RegisteredModel]: ...
    def delete_registered_model(self, name: str) -> None: ...
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None: ...
    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
    ) -> ModelVersion: ...
    def get_model_version(self, name: str, version: str) -> ModelVersion: ...
    def search_model_versions(
        self, filter_string: str | None = None, max_results: int = 10000, order_by: list[str] | None = None
    ) -> PagedList[ModelVersion]: ...
    def delete_model_version(self, name: str, version: str) -> None: ...
    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...


class VersionWriter(Protocol):
    """Where labhelpers writes version tags and aliases: a ``RegistryClient``, or the registry client under an
    ``MlflowClient`` (see :func:`labhelpers.registry.capabilities.writes`)."""

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...
    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...
    def delete_registered_model_alias(self, name: str, alias: str) -> None: ...
