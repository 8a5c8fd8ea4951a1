"""Reset lists, asks, deletes only inside the namespaces given; on Azure ML only versions go."""

from __future__ import annotations

from labhelpers.classroom.reset import reset


def _fill(registry) -> None:
    for who in ("alice", "bob"):
        registry.add(f"taxi-fare-linear-regression-{who}", {}, {})
        registry.add(f"taxi-trip-kmeans-{who}", {})
        registry.add_experiment(f"taxi-model-registry-{who}", runs=3)
    registry.add("taxi-fare-linear-regression", {})  # the seed's names


def test_a_dry_run_lists_and_deletes_nothing(registry):
    _fill(registry)
    said: list[str] = []
    done = reset(["alice"], client=registry, dry_run=True, echo=said.append, confirm=lambda _: "yes")
    assert done is False and registry.deleted == []
    listing = "\n".join(said)
    assert "taxi-fare-linear-regression-alice: 2 version(s) 1, 2" in listing and "3 run(s)" in listing
    assert "-bob" not in listing


def test_without_a_yes_nothing_is_deleted(registry):
    _fill(registry)
    assert reset(["alice"], client=registry, echo=lambda _: None, confirm=lambda _: "y ") is False
    assert registry.deleted == []


def test_a_confirmed_reset_deletes_one_namespace_only(registry):
    _fill(registry)
    said: list[str] = []
    assert reset(["alice"], client=registry, echo=said.append, confirm=lambda _: "yes") is True
    assert set(registry.models) == {
        "taxi-fare-linear-regression-bob", "taxi-trip-kmeans-bob", "taxi-fare-linear-regression",
    }  # fmt: skip
    assert ("experiment", "1") in registry.deleted and ("experiment", "2") not in registry.deleted
    assert sum(1 for item in registry.deleted if item[0] == "run") == 3
    assert "mlflow gc" in said[-1]  # a server of unknown origin keeps its artifacts: the message says so


def test_on_azure_only_versions_go_and_the_note_says_why(registry):
    registry.tracking_uri = "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/s/x"
    _fill(registry)
    said: list[str] = []
    assert reset(["bob"], client=registry, echo=said.append, assume_yes=True) is True
    assert registry.models["taxi-fare-linear-regression-bob"] == []  # the container stays
    assert {item[0] for item in registry.deleted} == {"version"}
    assert any("cannot delete them" in line for line in said)


def test_notebook_02s_model_and_experiment_by_hand_go_too(registry):
    _fill(registry)
    for who in ("alice", "bob"):
        registry.add(f"taxi-fare-by-hand-{who}", {})
        registry.add_experiment(f"taxi-by-hand-{who}", runs=1)
    said: list[str] = []
    assert reset(["alice"], client=registry, echo=said.append, assume_yes=True) is True
    assert "taxi-fare-by-hand-alice" not in registry.models and "taxi-fare-by-hand-bob" in registry.models
    by_hand = registry.experiments["taxi-by-hand-alice"].experiment_id
    assert ("experiment", by_hand) in registry.deleted
    assert ("experiment", registry.experiments["taxi-by-hand-bob"].experiment_id) not in registry.deleted
    assert "  experiment taxi-by-hand-alice: 1 run(s) and artifacts" in "\n".join(said).splitlines()
