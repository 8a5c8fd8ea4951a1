"""A registry in memory for the classroom's unit tests: only the calls progress and reset make."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest


class FakeRegistry:
    """Registered models, versions, experiments and runs, with every deletion recorded."""

    def __init__(self, tracking_uri: str = "http://127.0.0.1:9"):
        self.tracking_uri = tracking_uri
        self.models: dict[str, list] = {}
        self.experiments: dict[str, SimpleNamespace] = {}
        self.runs: dict[str, list[str]] = {}
        self.deleted: list[tuple] = []
        self.model_tags: dict[str, dict[str, str]] = {}

    def add(self, name: str, *tag_sets: dict) -> None:
        versions = self.models.setdefault(name, [])
        for tags in tag_sets:
            versions.append(SimpleNamespace(name=name, version=str(len(versions) + 1), tags=dict(tags)))

    def add_experiment(self, name: str, runs: int) -> None:
        experiment_id = str(len(self.experiments) + 1)
        self.experiments[name] = SimpleNamespace(experiment_id=experiment_id, name=name)
        self.runs[experiment_id] = [f"run-{experiment_id}-{n}" for n in range(runs)]

    def search_model_versions(self, filter_string: str):
        name = re.fullmatch(r"name='(.+)'", filter_string).group(1)
        return list(self.models.get(name, []))

    def get_registered_model(self, name: str):
        from mlflow.exceptions import MlflowException

        if name not in self.models:
            raise MlflowException(f"{name} not found")
        return SimpleNamespace(name=name, tags=dict(self.model_tags.get(name, {})))

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        self.get_registered_model(name)  # raises for a model that does not exist
        self.model_tags.setdefault(name, {})[key] = value

    def get_experiment_by_name(self, name: str):
        return self.experiments.get(name)

    def search_runs(self, experiment_ids, run_view_type=None, max_results=None):
        return [SimpleNamespace(info=SimpleNamespace(run_id=r)) for r in self.runs[experiment_ids[0]]]

    def delete_registered_model(self, name: str) -> None:
        self.deleted.append(("model", name))
        del self.models[name]

    def delete_model_version(self, name: str, version: str) -> None:
        self.deleted.append(("version", name, version))
        self.models[name] = [v for v in self.models[name] if v.version != version]

    def delete_run(self, run_id: str) -> None:
        self.deleted.append(("run", run_id))

    def delete_experiment(self, experiment_id: str) -> None:
        self.deleted.append(("experiment", experiment_id))


@pytest.fixture
def registry():
    """An empty in-memory registry that looks like a remote (non-local, non-Azure) MLflow server."""
    return FakeRegistry()
