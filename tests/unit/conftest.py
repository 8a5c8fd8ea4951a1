"""The unit tier: no MLflow server, no network. A test here that asks for a server fails loudly."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.core.registry_client import RegistryClient


@pytest.fixture(scope="session")
def mlflow_server():
    pytest.fail("tests/unit/ runs without an MLflow server: move this test to tests/integration/")


class FakeRegistry(RegistryClient):
    """An MLflow registry in memory, implementing :class:`labhelpers.core.registry_client.RegistryClient`.

    The one fake client of the unit tier (the protocol lists what labhelpers may call, so mypy keeps both in
    step with ``MlflowClient``). Answers as MLflow's client does: a missing run, model, version or alias is an
    ``MlflowException`` with ``RESOURCE_DOES_NOT_EXIST``.

    Args:
        versions: Model versions to start with (see :meth:`version`).
        tracking_uri: What ``client.tracking_uri`` says (default: a remote, non-Azure server).
        refuses: Requests refused as Azure ML's MLflow API refuses them: ``"aliases"``, ``"ordering"``
            (``order_by`` on versions), ``"run_filters"`` (runs by attribute), ``"model_search"``
            (``search_registered_models``, azure-sdk-for-python#42155).
        ignores_order: Accept ``order_by`` but answer unsorted (a server that ignores it).

    Attributes:
        calls: Every method called, in order; an ordered version search is ``"search_model_versions+order"``.
        failures: Method name -> exception that method raises (a 403, a timeout) instead of answering; a key
            ``"get_run:RUN_ID"``, ``"get_registered_model:NAME"`` or ``"get_model_version:NAME/N"`` fails
            that one object only.
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

    def __init__(self, versions=(), *, tracking_uri="http://127.0.0.1:9", refuses=(), ignores_order=False):
        self._uri = tracking_uri
        self.refuses, self.ignores_order = set(refuses), ignores_order
        self.models: dict[str, list] = {}
        self.model_tags: dict[str, dict[str, str]] = {}
        self.experiments: dict[str, SimpleNamespace] = {}
        self.runs: dict[str, SimpleNamespace] = {}
        self.calls: list[str] = []
        self.failures: dict[str, BaseException] = {}
        self.deleted: list[tuple] = []
        for v in versions:
            self.models.setdefault(v.name, []).append(v)

    # --- building the registry's content ---------------------------------------------------------------

    @staticmethod
    def version(name: str, number: int, run_id: str | None = None, **tags: str) -> SimpleNamespace:
        """A ``ModelVersion``-like record."""
        return SimpleNamespace(
            name=name,
            version=str(number),
            tags=dict(tags),
            run_id=run_id or f"run-{number}",
            creation_timestamp=0,
            source="",
            aliases=[],
        )

    def add(self, name: str, *tag_sets: dict) -> None:
        """Register versions 1, 2, ... of ``name`` with these tags."""
        found = self.models.setdefault(name, [])
        for tags in tag_sets:
            found.append(self.version(name, len(found) + 1, **tags))

    def add_experiment(self, name: str, runs: int) -> None:
        experiment_id = str(len(self.experiments) + 1)
        self.experiments[name] = SimpleNamespace(experiment_id=experiment_id, name=name)
        for n in range(runs):
            self.add_run(f"run-{experiment_id}-{n}", experiment_id=experiment_id)

    def add_run(self, run_id: str, params: dict | None = None, experiment_id: str = "1") -> None:
        self.runs[run_id] = SimpleNamespace(
            info=SimpleNamespace(run_id=run_id, experiment_id=experiment_id, status="RUNNING"),
            data=SimpleNamespace(params=dict(params or {}), metrics={}),
        )

    # --- answers ---------------------------------------------------------------------------------------

    @property
    def tracking_uri(self) -> str:
        return self._uri

    @tracking_uri.setter
    def tracking_uri(self, uri: str) -> None:  # a test moves the fake to another backend
        self._uri = uri

    def _call(self, method: str, refused_by: str | None = None, about: str | None = None) -> None:
        self.calls.append(method)
        for key in (f"{method}:{about}", method):
            if key in self.failures:
                raise self.failures[key]
        if refused_by in self.refuses:
            raise MlflowException(f"{refused_by} is not supported", error_code=pb.ENDPOINT_NOT_FOUND)

    @staticmethod
    def _missing(what: str) -> MlflowException:
        return MlflowException(f"{what} not found", error_code=pb.RESOURCE_DOES_NOT_EXIST)

    def get_experiment_by_name(self, name):
        self._call("get_experiment_by_name")
        return self.experiments.get(name)

    def create_experiment(self, name, *args, **kwargs):
        self._call("create_experiment")
        self.experiments[name] = SimpleNamespace(experiment_id=str(len(self.experiments) + 1), name=name)
        return self.experiments[name].experiment_id

    def delete_experiment(self, experiment_id):
        self._call("delete_experiment")
        self.deleted.append(("experiment", experiment_id))

    def create_run(self, experiment_id, *args, **kwargs):
        self._call("create_run")
        run_id = f"run-{len(self.runs) + 1}"
        self.add_run(run_id, experiment_id=experiment_id)
        return self.runs[run_id]

    def get_run(self, run_id):
        self._call("get_run", about=run_id)
        if run_id not in self.runs:
            raise self._missing(f"Run '{run_id}'")
        return self.runs[run_id]

    def search_runs(self, experiment_ids, filter_string="", run_view_type=None, max_results=None, **kwargs):
        self._call("search_runs", "run_filters" if "attributes." in filter_string else None)
        wanted = set(re.findall(r"'([^']+)'", filter_string)) if "run_id IN" in filter_string else None
        found = [
            run
            for run in self.runs.values()
            if run.info.experiment_id in experiment_ids and (wanted is None or run.info.run_id in wanted)
        ]
        return found[:max_results] if max_results else found

    def set_terminated(self, run_id, status=None, *args, **kwargs):
        self._call("set_terminated")
        self.get_run(run_id).info.status = status or "FINISHED"

    def delete_run(self, run_id):
        self._call("delete_run")
        self.deleted.append(("run", run_id))

    def log_batch(self, run_id, *args, **kwargs):
        self._call("log_batch")

    def log_inputs(self, run_id, *args, **kwargs):
        self._call("log_inputs")

    def log_artifact(self, run_id, local_path, artifact_path=None):
        self._call("log_artifact")

    def create_registered_model(self, name, *args, **kwargs):
        self._call("create_registered_model")
        self.models.setdefault(name, [])
        return SimpleNamespace(name=name, tags={})

    def get_registered_model(self, name):
        self._call("get_registered_model", about=name)
        if name not in self.models:
            raise self._missing(f"Registered Model with name={name}")
        return SimpleNamespace(name=name, tags=dict(self.model_tags.get(name, {})))

    def search_registered_models(self, *args, **kwargs):
        self._call("search_registered_models")
        if "model_search" in self.refuses:
            raise MlflowException("filter '!=' not supported")  # azure-sdk-for-python#42155
        return [SimpleNamespace(name=name) for name in self.models]

    def delete_registered_model(self, name):
        self._call("delete_registered_model")
        self.deleted.append(("model", name))
        del self.models[name]

    def set_registered_model_tag(self, name, key, value):
        self.get_registered_model(name)  # raises for a model that does not exist
        self.model_tags.setdefault(name, {})[key] = value

    def create_model_version(self, name, source, *args, run_id=None, tags=None, **kwargs):
        self._call("create_model_version")
        found = self.models.setdefault(name, [])
        number = max((int(v.version) for v in found), default=0) + 1
        found.append(self.version(name, number, run_id=run_id, **(tags or {})))
        return found[-1]

    def get_model_version(self, name, version):
        self._call("get_model_version", about=f"{name}/{version}")
        for v in self.models.get(name, []):
            if v.version == str(version):
                return v
        raise self._missing(f"Model Version (name={name}, version={version})")

    def search_model_versions(self, filter_string="", max_results=None, order_by=None, **kwargs):
        self._call("search_model_versions+order" if order_by else "search_model_versions")
        if order_by and "ordering" in self.refuses:
            raise MlflowException("no order_by", error_code=pb.INVALID_PARAMETER_VALUE)
        name = re.match(r"name='([^']+)'", filter_string).group(1)
        found = list(self.models.get(name, []))
        if order_by and not self.ignores_order:
            found.sort(key=lambda v: -int(v.version))
        return found[:max_results] if max_results else found

    def delete_model_version(self, name, version):
        self._call("delete_model_version")
        self.get_model_version(name, version)
        self.deleted.append(("version", name, str(version)))
        self.models[name] = [v for v in self.models[name] if v.version != str(version)]

    def set_model_version_tag(self, name, version, key, value, *args, **kwargs):
        self._call("set_model_version_tag")
        self.get_model_version(name, version).tags[key] = value

    def get_model_version_by_alias(self, name, alias):
        self._call("get_model_version_by_alias", "aliases")
        for v in self.models.get(name, []):
            if alias in v.aliases:
                return v
        raise self._missing(f"alias {alias} of {name}")

    def set_registered_model_alias(self, name, alias, version):
        self._call("set_registered_model_alias", "aliases")
        for v in self.models.get(name, []):
            if alias in v.aliases:
                v.aliases.remove(alias)
        self.get_model_version(name, version).aliases.append(alias)

    def delete_registered_model_alias(self, name, alias):
        self._call("delete_registered_model_alias", "aliases")
        for v in self.models.get(name, []):
            if alias in v.aliases:
                v.aliases.remove(alias)


@pytest.fixture
def fake_registry():
    """The class :class:`FakeRegistry` (call it: ``fake_registry(versions, refuses={"aliases"})``)."""
    return FakeRegistry
