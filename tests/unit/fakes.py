"""The unit tier's one fake MLflow client: a registry in memory implementing ``RegistryClient``.

:class:`FakeRegistry` implements :class:`labhelpers.registry.client.RegistryClient` method by method and
answers with MLflow's own entities (``ModelVersion``, ``RegisteredModel``, ``Run``, ``Experiment``,
``PagedList``), so what labhelpers reads from it is what it reads from ``MlflowClient``; mypy checks that it
implements the protocol (``tests/unit/registry/test_client.py``). Every unit test that needs a client
uses it; a test shapes it through its documented seams (content, refusals, failures, hooks, allowed methods)
rather than subclassing it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlflow.entities import DatasetInput, Experiment, Metric, Param, Run, RunData, RunInfo, RunTag
from mlflow.entities.model_registry import ModelVersion, ModelVersionTag, RegisteredModel, RegisteredModelTag
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb
from mlflow.store.entities.paged_list import PagedList
from mlflow.utils.async_logging.run_operations import RunOperations

#: A filter condition of a version or run search: ``tags.KEY='V'`` (the key plain or in backticks),
#: ``run_id='R'`` or ``name='N'``, with or without spaces around ``=``.
_CONDITION = re.compile(r"^\s*(?:attributes\.)?(tags\.(?:`[^`]+`|[\w.-]+)|run_id|name)\s*=\s*'([^']*)'\s*$")
_RUN_IDS = re.compile(r"^\s*attributes\.run_id IN \(([^)]*)\)\s*$")


@dataclass
class Version:
    """One model version as the fake stores it (tests edit it; reads answer a ``ModelVersion`` of it)."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    creation_timestamp: int = 0
    source: str = ""

    def entity(self) -> ModelVersion:
        """What the registry answers: MLflow's ``ModelVersion`` of this version, as it is now."""
        return ModelVersion(
            self.name,
            self.version,
            self.creation_timestamp,
            source=self.source,
            run_id=self.run_id,
            tags=[ModelVersionTag(key, value) for key, value in self.tags.items()],
            aliases=list(self.aliases),
        )


@dataclass
class RunRecord:
    """One run as the fake stores it (tests edit it; reads answer a ``Run`` built from it)."""

    run_id: str
    experiment_id: str = "1"
    status: str = "RUNNING"
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    start_time: int = 0

    def entity(self) -> Run:
        """What the registry answers: MLflow's ``Run`` of this run, as it is now."""
        info = RunInfo(
            run_id=self.run_id,
            experiment_id=self.experiment_id,
            user_id="",
            status=self.status,
            start_time=self.start_time,
            end_time=None,
            lifecycle_stage="active",
            run_name=self.tags.get("mlflow.runName"),
        )
        data = RunData(
            metrics=[Metric(key, value, 0, 0) for key, value in self.metrics.items()],
            params=[Param(key, value) for key, value in self.params.items()],
            tags=[RunTag(key, value) for key, value in self.tags.items()],
        )
        return Run(info, data)


class FakeRegistry:
    """An MLflow registry in memory, implementing :class:`labhelpers.registry.client.RegistryClient`.

    Answers as MLflow's client does: a missing run, model, version or alias is an ``MlflowException`` with
    ``RESOURCE_DOES_NOT_EXIST``; a refused request is one with a refusal code (see ``refuses``).

    Args:
        versions: Model versions to start with (see :meth:`version`).
        tracking_uri: What ``client.tracking_uri`` says (default: a remote, non-Azure server).
        refuses: Requests refused as Azure ML's MLflow API refuses them: ``"aliases"``, ``"ordering"``
            (``order_by`` on versions), ``"run_filters"`` (runs by attribute), ``"model_search"``
            (``search_registered_models``, azure-sdk-for-python#42155), ``"version_filters"`` (a version
            search narrowed beyond ``name='X'``), ``"model_delete"`` (deleting a registered model).
        ignores_order: Accept ``order_by`` but answer unsorted (a server that ignores it).
        allows: The only methods a test expects the code to call; any other call fails the test with an
            ``AssertionError`` naming it (default: every method).

    Attributes:
        models: Registered name -> its :class:`Version` records, in creation order.
        model_tags: Registered name -> its tags.
        experiments: Experiment name -> MLflow ``Experiment``.
        runs: Run id -> its :class:`RunRecord`.
        calls: Every method called, in order, answered or not; an ordered version search is
            ``"search_model_versions+order"``.
        answered: ``(method, arguments)`` of every call the fake answered (not failed nor refused), in order.
        failures: Method name -> exception that method raises (a 403, a timeout) instead of answering; a key
            ``"get_run:RUN_ID"``, ``"get_registered_model:NAME"``, ``"get_model_version:NAME/N"`` or
            ``"delete_model_version:NAME/N"`` fails that one object only.
        hooks: Method name -> a callable run with the call's arguments before the fake answers (a test
            waits on it, or raises from it to fail that call only when its arguments say so).
        deleted: What was deleted: ``("model", name)``, ``("version", name, version)``, ``("run", id)``...
    """

    #: Every version tag the reproducibility rule (the catalog's audit) asks for, with plausible values: a
    #: version carrying them all can only fail the audit through its run.
    REPRODUCIBLE_TAGS = {
        "task_type": "regression",
        "dataset": "nyc-taxi",
        "framework": "scikit-learn",
        "model_type": "LinearRegression",
        "git_commit": "abc",
        "git_dirty": "false",
        "data_version": "sha256:1",
        "features": "trip_distance",
        "lifecycle": "candidate",
        "rmse": "1",
        "mae": "1",
        "r2": "0.5",
    }

    def __init__(
        self,
        versions: Sequence[Version] = (),
        *,
        tracking_uri: str = "http://127.0.0.1:9",
        refuses: Collection[str] = (),
        ignores_order: bool = False,
        allows: Collection[str] | None = None,
    ) -> None:
        self._uri = tracking_uri
        self.refuses, self.ignores_order = set(refuses), ignores_order
        self.allows = None if allows is None else set(allows)
        self.models: dict[str, list[Version]] = {}
        self.model_tags: dict[str, dict[str, str]] = {}
        self.experiments: dict[str, Experiment] = {}
        self.runs: dict[str, RunRecord] = {}
        self.calls: list[str] = []
        self.answered: list[tuple[str, tuple[object, ...]]] = []
        self.failures: dict[str, BaseException] = {}
        self.hooks: dict[str, Callable[..., object]] = {}
        self.deleted: list[tuple[str, ...]] = []
        self._lock = threading.Lock()  # the lease's heartbeat writes from its own thread
        for v in versions:
            self.models.setdefault(v.name, []).append(v)

    # --- building the registry's content ---------------------------------------------------------------

    @staticmethod
    def version(name: str, number: int, run_id: str | None = None, **tags: str) -> Version:
        """A version record of ``name`` with these tags (its run ``run-N`` unless given)."""
        return Version(name, str(number), run_id or f"run-{number}", dict(tags))

    def add(self, name: str, *tag_sets: dict[str, str]) -> None:
        """Register versions 1, 2, ... of ``name`` with these tags."""
        found = self.models.setdefault(name, [])
        for tags in tag_sets:
            found.append(Version(name, str(len(found) + 1), f"run-{len(found) + 1}", dict(tags)))

    def add_experiment(self, name: str, runs: int) -> None:
        """An experiment named ``name`` with ``runs`` runs (``run-ID-0``, ``run-ID-1``...)."""
        experiment_id = str(len(self.experiments) + 1)
        self.experiments[name] = Experiment(experiment_id, name, f"/artifacts/{experiment_id}", "active")
        for n in range(runs):
            self.add_run(f"run-{experiment_id}-{n}", experiment_id=experiment_id)

    def add_run(
        self,
        run_id: str,
        params: dict[str, str] | None = None,
        experiment_id: str = "1",
        *,
        status: str = "RUNNING",
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
    ) -> RunRecord:
        """A run with these parameters, metrics and tags."""
        record = RunRecord(
            run_id, experiment_id, status, dict(params or {}), dict(metrics or {}), dict(tags or {})
        )
        self.runs[run_id] = record
        return record

    @property
    def versions(self) -> list[Version]:
        """Every version of every model, model by model."""
        return [v for found in self.models.values() for v in found]

    # --- answers ---------------------------------------------------------------------------------------

    @property
    def tracking_uri(self) -> str:
        return self._uri

    @tracking_uri.setter
    def tracking_uri(self, uri: str) -> None:  # a test moves the fake to another backend
        self._uri = uri

    def _call(
        self, method: str, *args: object, refused_by: str | None = None, about: str | None = None
    ) -> None:
        """Log the call, then fail it as the test asked (failures, hooks, refusals, allowed methods)."""
        name = method.removesuffix("+order")
        with self._lock:
            self.calls.append(method)
        if self.allows is not None and name not in self.allows:
            raise AssertionError(f"the code called {name}{args!r}, which this test does not allow")
        for key in (f"{name}:{about}", name):
            if key in self.failures:
                raise self.failures[key]
        hook = self.hooks.get(name)
        if hook is not None:
            hook(*args)
        if refused_by in self.refuses:
            raise MlflowException(f"{refused_by} is not supported", error_code=pb.ENDPOINT_NOT_FOUND)
        with self._lock:
            self.answered.append((name, args))

    @staticmethod
    def _missing(what: str) -> MlflowException:
        return MlflowException(f"{what} not found", error_code=pb.RESOURCE_DOES_NOT_EXIST)

    def stored(self, name: str, version: str) -> Version:
        """The stored record of a version (tests edit it), or the registry's "not found"."""
        for v in self.models.get(name, []):
            if v.version == str(version):
                return v
        raise self._missing(f"Model Version (name={name}, version={version})")

    def _run(self, run_id: str) -> RunRecord:
        if run_id not in self.runs:
            raise self._missing(f"Run '{run_id}'")
        return self.runs[run_id]

    # tracking

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        self._call("get_experiment_by_name", name)
        return self.experiments.get(name)

    def create_experiment(
        self, name: str, artifact_location: str | None = None, tags: dict[str, Any] | None = None
    ) -> str:
        self._call("create_experiment", name)
        experiment_id = str(len(self.experiments) + 1)
        self.experiments[name] = Experiment(experiment_id, name, artifact_location or "", "active")
        return experiment_id

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("delete_experiment", experiment_id)
        self.deleted.append(("experiment", experiment_id))

    def create_run(
        self,
        experiment_id: str,
        start_time: int | None = None,
        tags: dict[str, Any] | None = None,
        run_name: str | None = None,
    ) -> Run:
        self._call("create_run", experiment_id)
        run_id = f"run-{len(self.runs) + 1}"
        named = {"mlflow.runName": run_name} if run_name else {}
        record = self.add_run(run_id, experiment_id=experiment_id, tags={**(tags or {}), **named})
        record.start_time = start_time or len(self.runs)
        return record.entity()

    def get_run(self, run_id: str) -> Run:
        self._call("get_run", run_id, about=run_id)
        return self._run(run_id).entity()

    def search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str = "",
        run_view_type: int = 1,
        max_results: int = 1000,
        order_by: list[str] | None = None,
    ) -> PagedList[Run]:
        self._call(
            "search_runs",
            experiment_ids,
            filter_string,
            refused_by="run_filters" if "attributes." in filter_string else None,
        )
        found = [run for run in self.runs.values() if run.experiment_id in experiment_ids]
        for condition in re.split(r"\s+and\s+", filter_string, flags=re.IGNORECASE) if filter_string else []:
            ids = _RUN_IDS.match(condition)
            if ids:
                wanted = set(re.findall(r"'([^']+)'", ids[1]))
                found = [run for run in found if run.run_id in wanted]
                continue
            key, value = _parse(condition, filter_string)
            found = [run for run in found if _run_value(run, key) == value]
        if order_by:
            raise AssertionError(f"the fake does not sort runs; the code asked for {order_by}")
        return PagedList([run.entity() for run in found[:max_results]], None)

    def set_terminated(self, run_id: str, status: str | None = None) -> None:
        self._call("set_terminated", run_id, status)
        self._run(run_id).status = status or "FINISHED"

    def delete_run(self, run_id: str) -> None:
        self._call("delete_run", run_id)
        self.deleted.append(("run", run_id))

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: Sequence[RunTag] = (),
    ) -> RunOperations | None:
        self._call("log_batch", run_id)
        run = self._run(run_id)
        run.metrics.update({m.key: m.value for m in metrics})
        run.params.update({p.key: p.value for p in params})
        run.tags.update({t.key: t.value for t in tags})
        return None

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] | None = None) -> None:
        self._call("log_inputs", run_id)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        self._call("log_artifact", run_id, local_path, artifact_path)

    # model registry

    def create_registered_model(self, name: str, tags: dict[str, Any] | None = None) -> RegisteredModel:
        self._call("create_registered_model", name)
        if name in self.models:
            raise MlflowException(
                f"Registered Model (name={name}) already exists", pb.RESOURCE_ALREADY_EXISTS
            )
        self.models[name] = []
        if tags:
            self.model_tags[name] = {key: str(value) for key, value in tags.items()}
        return self._model(name)

    def _model(self, name: str) -> RegisteredModel:
        tags = self.model_tags.get(name, {})
        return RegisteredModel(name, tags=[RegisteredModelTag(key, value) for key, value in tags.items()])

    def get_registered_model(self, name: str) -> RegisteredModel:
        self._call("get_registered_model", name, about=name)
        if name not in self.models:
            raise self._missing(f"Registered Model with name={name}")
        return self._model(name)

    def search_registered_models(
        self, filter_string: str | None = None, max_results: int = 100
    ) -> PagedList[RegisteredModel]:
        self._call("search_registered_models", filter_string)
        if "model_search" in self.refuses:
            raise MlflowException("filter '!=' not supported")  # azure-sdk-for-python#42155
        return PagedList([self._model(name) for name in list(self.models)[:max_results]], None)

    def delete_registered_model(self, name: str) -> None:
        self._call("delete_registered_model", name, refused_by="model_delete")  # Azure ML keeps them
        if name not in self.models:
            raise self._missing(f"Registered Model with name={name}")
        self.deleted.append(("model", name))
        del self.models[name]
        self.model_tags.pop(name, None)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self._call("set_registered_model_tag", name, key, value)
        if name not in self.models:
            raise self._missing(f"Registered Model with name={name}")
        self.model_tags.setdefault(name, {})[key] = value

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: dict[str, Any] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        await_creation_for: int = 300,
    ) -> ModelVersion:
        self._call("create_model_version", name, source)
        found = self.models.setdefault(name, [])
        number = max((int(v.version) for v in found), default=0) + 1
        tagged = {key: str(value) for key, value in (tags or {}).items()}
        created = Version(name, str(number), run_id or f"run-{number}", tagged, source=source)
        found.append(created)
        return created.entity()

    def get_model_version(self, name: str, version: str) -> ModelVersion:
        self._call("get_model_version", name, version, about=f"{name}/{version}")
        return self.stored(name, version).entity()

    def search_model_versions(
        self, filter_string: str | None = None, max_results: int = 10000, order_by: list[str] | None = None
    ) -> PagedList[ModelVersion]:
        by_name, *narrowed = re.split(r"\s+and\s+", filter_string or "", flags=re.IGNORECASE)
        self._call(
            "search_model_versions+order" if order_by else "search_model_versions",
            filter_string,
            refused_by="version_filters" if narrowed else None,
        )
        if order_by and "ordering" in self.refuses:
            raise MlflowException("no order_by", error_code=pb.INVALID_PARAMETER_VALUE)
        key, name = _parse(by_name, filter_string or "")
        if key != "name":
            raise AssertionError(f"every version search names its model first, got {filter_string!r}")
        found = list(self.models.get(name, []))
        for condition in narrowed:  # what an MLflow server narrows by: tags.KEY='V', run_id='R'
            key, value = _parse(condition, filter_string or "")
            found = [v for v in found if (v.run_id if key == "run_id" else v.tags.get(_tag(key))) == value]
        if order_by and not self.ignores_order:
            found.sort(key=lambda v: -int(v.version))
        return PagedList([v.entity() for v in found[:max_results]], None)

    def delete_model_version(self, name: str, version: str) -> None:
        self._call("delete_model_version", name, version, about=f"{name}/{version}")
        self.stored(name, version)
        self.deleted.append(("version", name, str(version)))
        self.models[name] = [v for v in self.models[name] if v.version != str(version)]

    def set_model_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self._call("set_model_version_tag", name, version, key, value)
        self.stored(name, version).tags[key] = value

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        self._call("get_model_version_by_alias", name, alias, refused_by="aliases")
        for v in self.models.get(name, []):
            if alias in v.aliases:
                return v.entity()
        raise self._missing(f"alias {alias} of {name}")

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        self._call("set_registered_model_alias", name, alias, version, refused_by="aliases")
        for v in self.models.get(name, []):
            if alias in v.aliases:
                v.aliases.remove(alias)
        self.stored(name, version).aliases.append(alias)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        self._call("delete_registered_model_alias", name, alias, refused_by="aliases")
        for v in self.models.get(name, []):
            if alias in v.aliases:
                v.aliases.remove(alias)


def _parse(condition: str, whole: str) -> tuple[str, str]:
    """``(key, value)`` of one ``key='value'`` condition; a filter the fake cannot read fails the test."""
    match = _CONDITION.match(condition)
    if match is None:
        raise AssertionError(f"the fake registry cannot read the filter {whole!r} (at {condition!r})")
    return match[1], match[2]


def _tag(key: str) -> str:
    """``tags.KEY`` or ``tags.`KEY``` -> ``KEY``."""
    return key.removeprefix("tags.").strip("`")


def _run_value(run: RunRecord, key: str) -> str | None:
    return run.run_id if key == "run_id" else run.tags.get(_tag(key))
