"""The promotion path on a real server: candidate -> validated -> production, the regression gate, the
override, rollback, the pinned deployment configuration, and aliases mirroring the lifecycle.

Every test pins into its own copy of ML/deployment under tmp_path; the repository's copy is never written.
"""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from labhelpers.foundation.errors import RegistryError
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.moves import GateRefused
from labhelpers.registry.pinning import DEPLOYMENT_DIR, DEPLOYMENT_FILE, PINS_FILE, deployed_model, read_pins
from labhelpers.registry.promotion import current_production, history, promote, rollback
from labhelpers.registry.register import register_batch

ACTOR = "test-instructor"


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def alias_version(client, name: str, alias: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias).version
    except MlflowException:
        return None


@pytest.fixture(scope="module", autouse=True)
def repository_deployment_untouched():
    """Fails the module if any test wrote into the repository's ML/deployment."""
    snapshot = {p: p.read_bytes() for p in sorted(DEPLOYMENT_DIR.rglob("*")) if p.is_file()}
    yield
    assert {p: p.read_bytes() for p in sorted(DEPLOYMENT_DIR.rglob("*")) if p.is_file()} == snapshot


@pytest.fixture
def deployment_dir(tmp_path, unique_names) -> Path:
    """A copy of ML/deployment whose production deployment serves this test's linear model @latest."""
    folder = Path(shutil.copytree(DEPLOYMENT_DIR, tmp_path / "deployment"))
    (folder / PINS_FILE).unlink(missing_ok=True)  # the repo's pins name the course models; start with none
    yml = folder / DEPLOYMENT_FILE
    retargeted, count = re.subn(
        r"(?m)^model:.*$", f"model: azureml:{unique_names['linear']}@latest", yml.read_text()
    )
    assert count == 1
    yml.write_text(retargeted)
    return folder


@pytest.fixture
def linear(trained_dirs, unique_names):
    """The verified linear candidate under this test's name (register it with ``register_batch([...])``)."""
    return collect(trained_dirs[0], trained_dirs[1], unique_names)[0]


def test_a_candidate_cannot_skip_validation(linear, tracking_uri, deployment_dir):
    register_batch([linear], tracking_uri=tracking_uri)
    client = client_for(tracking_uri)
    before = deployment_dir.joinpath(DEPLOYMENT_FILE).read_text()

    with pytest.raises(
        RegistryError, match="is 'candidate': cannot go to 'production'; its next step is 'validated'"
    ):
        promote(linear.name, 1, "production", client=client, deployment_dir=deployment_dir)

    mv = client.get_model_version(linear.name, "1")
    assert mv.tags["lifecycle"] == "candidate" and "lab.lifecycle_history" not in mv.tags
    assert read_pins(deployment_dir) == {}
    assert deployment_dir.joinpath(DEPLOYMENT_FILE).read_text() == before
    assert alias_version(client, linear.name, "production") is None


def test_validation_records_the_recomputed_metrics_who_when_from_why_and_history(
    trained_dirs, unique_names, tracking_uri, deployment_dir
):
    register_batch(collect(trained_dirs[0], trained_dirs[1], unique_names), tracking_uri=tracking_uri)
    client = client_for(tracking_uri)

    for key, metric in (("linear", "rmse"), ("kmeans", "silhouette")):
        name = unique_names[key]
        move = promote(name, 1, "validated", reason="held-out month", actor=ACTOR, client=client)

        mv = client.get_model_version(name, "1")
        assert (move.from_state, move.to_state, move.by, move.why) == (
            "candidate",
            "validated",
            ACTOR,
            "held-out month",
        )
        assert mv.tags["lifecycle"] == "validated"
        assert mv.tags["lifecycle_from"] == "candidate"
        assert mv.tags["lifecycle_by"] == ACTOR
        assert mv.tags["lifecycle_reason"] == "held-out month"
        assert datetime.fromisoformat(mv.tags["lifecycle_at"]).tzinfo is not None
        recomputed = float(mv.tags[f"validation_{metric}"])
        assert recomputed == recomputed  # a number, not NaN
        assert mv.tags["validation_data_version"].startswith("sha256:")
        assert mv.tags["validation_data_version"] != mv.tags["data_version"]  # data the model never saw
        assert history(name, 1, client=client) == [
            {
                "from": "candidate",
                "to": "validated",
                "by": ACTOR,
                "at": mv.tags["lifecycle_at"],
                "why": "held-out month",
            }
        ]
        # aliases mirror the lifecycle on the local server
        assert alias_version(client, name, "validated") == "1"
        assert alias_version(client, name, "candidate") is None
    assert client.get_model_version(unique_names["ridge"], "1").tags["lifecycle"] == "candidate"
    assert read_pins(deployment_dir) == {}  # validation deploys nothing


def test_a_worse_version_is_refused_production_until_overridden_and_rollback_restores_the_good_one(
    linear, trained_dirs, sample_csv, tmp_path, unique_names, tracking_uri, deployment_dir
):
    from labhelpers.training.steps import run_supervised

    client = client_for(tracking_uri)
    name = linear.name
    pins, yml = deployment_dir / PINS_FILE, deployment_dir / DEPLOYMENT_FILE

    # version 1: the good model, validated and put in production
    register_batch([linear], tracking_uri=tracking_uri)
    promote(name, 1, "validated", actor=ACTOR, client=client)
    promote(
        name,
        1,
        "production",
        reason="first release",
        actor=ACTOR,
        client=client,
        deployment_dir=deployment_dir,
    )
    assert read_pins(deployment_dir) == {name: f"azureml:{name}:1"}
    assert deployed_model(deployment_dir) == f"azureml:{name}:1"
    assert yml.read_text().startswith("$schema:")  # the rest of the deployment file is kept
    assert alias_version(client, name, "production") == "1"

    # version 2: trained without the rate codes, a worse fare model that still passes the floor. Its file
    # reproduces its recorded held-out rmse, so validation lets it through: the production gate must stop it.
    no_rate_codes = ["trip_distance", "duration_min", "pickup_hour", "is_night", "passenger_count"]
    run_supervised(sample_csv, tmp_path / "worse", features=no_rate_codes)
    worse = collect(tmp_path / "worse", trained_dirs[1], unique_names)[0]
    register_batch([worse], tracking_uri=tracking_uri)
    promote(name, 2, "validated", actor=ACTOR, client=client)
    pins_before, yml_before = pins.read_bytes(), yml.read_bytes()

    with pytest.raises(GateRefused) as caught:
        promote(name, 2, "production", actor=ACTOR, client=client, deployment_dir=deployment_dir)

    assert f"Refused: {name} version 2 fails the production gate: rmse " in str(caught.value)
    assert "(must not be worse). Production stays at version 1" in str(caught.value)
    assert "override_reason" in str(caught.value)
    assert getattr(current_production(name, client), "version", None) == "1"
    assert alias_version(client, name, "production") == "1"
    # refused: nothing says it passed any more (no @validated), and the refusal is on record
    assert client.get_model_version(name, "2").tags["lifecycle"] == "rejected"
    assert alias_version(client, name, "validated") is None
    assert alias_version(client, name, "rejected") is None
    assert [m["to"] for m in history(name, 2, client=client)] == ["validated", "rejected"]
    verdicts = caught.value.move.table().set_index("check")["verdict"].to_dict()
    assert verdicts == {"floor": "pass", "not worse than production": "fail"}  # no rate codes
    assert client.get_model_version(name, "1").tags["lifecycle"] == "production"
    assert (pins.read_bytes(), yml.read_bytes()) == (pins_before, yml_before)

    # the override promotes it anyway, and says so on the version
    move = promote(
        name,
        2,
        "production",
        override_reason="hotfix demo",
        actor=ACTOR,
        client=client,
        deployment_dir=deployment_dir,
    )
    v1, v2 = (client.get_model_version(name, v) for v in ("1", "2"))
    assert (move.to_state, move.why, move.by) == ("production", "hotfix demo", ACTOR)
    assert v2.tags["override_reason"] == "hotfix demo"
    assert v2.tags["compared_with_production"].startswith("1: rmse")
    assert (v1.tags["lifecycle"], v2.tags["lifecycle"]) == ("archived", "production")
    assert v1.tags["lifecycle_reason"] == "replaced by version 2"
    assert read_pins(deployment_dir) == {name: f"azureml:{name}:2"}
    assert deployed_model(deployment_dir) == f"azureml:{name}:2"
    assert alias_version(client, name, "production") == "2"

    # rollback returns production to version 1 and records why
    back = rollback(
        name, reason="fares off by 10 dollars", actor=ACTOR, client=client, deployment_dir=deployment_dir
    )

    v1, v2 = (client.get_model_version(name, v) for v in ("1", "2"))
    assert (back.version, back.from_state, back.to_state) == ("1", "archived", "production")
    assert (v1.tags["lifecycle"], v2.tags["lifecycle"]) == ("production", "archived")
    assert v2.tags["lifecycle_reason"] == "rolled back: fares off by 10 dollars"
    assert getattr(current_production(name, client), "version", None) == "1"
    assert alias_version(client, name, "production") == "1"
    assert read_pins(deployment_dir) == {name: f"azureml:{name}:1"}
    assert deployed_model(deployment_dir) == f"azureml:{name}:1"
    assert [(m["from"], m["to"]) for m in history(name, 1, client=client)] == [
        ("candidate", "validated"),
        ("validated", "production"),
        ("production", "archived"),
        ("archived", "production"),
    ]
    assert [m["to"] for m in json.loads(v2.tags["lab.lifecycle_history"])] == [
        "validated",
        "rejected",
        "production",
        "archived",
    ]


def test_rollback_without_an_earlier_production_version_is_refused(linear, tracking_uri, deployment_dir):
    client = client_for(tracking_uri)
    register_batch([linear], tracking_uri=tracking_uri)

    with pytest.raises(RegistryError, match="has no production version to roll back"):
        rollback(linear.name, client=client, deployment_dir=deployment_dir)
    promote(linear.name, 1, "validated", client=client)
    promote(linear.name, 1, "production", client=client, deployment_dir=deployment_dir)
    pinned = (deployment_dir / PINS_FILE).read_bytes()

    with pytest.raises(
        RegistryError, match="version 1 is the first production version: nothing to return to"
    ):
        rollback(linear.name, client=client, deployment_dir=deployment_dir)

    assert getattr(current_production(linear.name, client), "version", None) == "1"
    assert (deployment_dir / PINS_FILE).read_bytes() == pinned


def test_a_deployment_without_its_model_line_stops_production_before_the_registry_moves(
    linear, tracking_uri, deployment_dir
):
    register_batch([linear], tracking_uri=tracking_uri)
    client = client_for(tracking_uri)
    promote(linear.name, 1, "validated", actor=ACTOR, client=client)
    yml = deployment_dir / DEPLOYMENT_FILE
    yml.write_text(
        "".join(line for line in yml.read_text().splitlines(True) if not line.startswith("model:"))
    )
    before = yml.read_bytes()

    with pytest.raises(RegistryError, match=rf"{re.escape(str(yml))} has no `model:` line"):
        promote(linear.name, 1, "production", actor=ACTOR, client=client, deployment_dir=deployment_dir)

    mv = client.get_model_version(linear.name, "1")
    assert mv.tags["lifecycle"] == "validated"  # the registry did not move
    assert alias_version(client, linear.name, "production") is None
    assert yml.read_bytes() == before and read_pins(deployment_dir) == {}


def test_a_second_rollback_says_production_is_rolled_back_already_and_changes_nothing(
    linear, tracking_uri, deployment_dir
):
    client = client_for(tracking_uri)
    name = linear.name
    for version in (1, 2):  # 1 in production, then 2 replaces it (the same model: the gate lets it through)
        register_batch([linear], tracking_uri=tracking_uri)
        promote(name, version, "validated", actor=ACTOR, client=client)
        promote(name, version, "production", actor=ACTOR, client=client, deployment_dir=deployment_dir)
    back = rollback(name, reason="practice", actor=ACTOR, client=client, deployment_dir=deployment_dir)
    assert (back.version, back.from_state, back.to_state) == ("1", "archived", "production")

    def state():
        tags = {v: dict(client.get_model_version(name, v).tags) for v in ("1", "2")}
        files = {p.name: p.read_bytes() for p in deployment_dir.iterdir() if p.is_file()}
        return tags, files, alias_version(client, name, "production")

    before = state()
    again = rollback(name, reason="practice", actor="someone", client=client, deployment_dir=deployment_dir)

    assert state() == before  # version 2 stays archived; tags, pins and alias untouched
    assert (again.version, again.from_state, again.to_state, again.by) == (
        "1",
        "production",
        "production",
        ACTOR,
    )
    assert again.why.startswith("production is already rolled back: version 1 since ")
    assert "(rollback from version 2: practice); nothing changed" in again.why
    assert getattr(current_production(name, client), "version", None) == "1"
    assert [m["to"] for m in history(name, 2, client=client)] == ["validated", "production", "archived"]


def test_the_gates_download_a_version_once_and_a_version_made_again_anew(
    linear, tracking_uri, monkeypatch, sample_csv
):
    import mlflow.sklearn
    from mlflow.entities.model_registry import ModelVersion, ModelVersionTag

    from labhelpers.registry import validation
    from labhelpers.training.steps import prepare_data

    register_batch([linear], tracking_uri=tracking_uri)
    version = client_for(tracking_uri).get_model_version(linear.name, "1")
    frame = prepare_data(sample_csv, require_coordinates=True)[0]
    loads = []
    load_model = mlflow.sklearn.load_model
    monkeypatch.setattr(mlflow.sklearn, "load_model", lambda uri: loads.append(uri) or load_model(uri))

    first = validation.metrics_on(version, frame)
    assert validation.metrics_on(version, frame) == first  # the gates of one promotion score it again
    assert loads == [f"models:/{linear.name}/1"]

    # the same name and number made again (deleted, registered anew) is another version: downloaded anew
    remade = ModelVersion(
        linear.name,
        "1",
        version.creation_timestamp + 1,
        source=version.source,
        tags=[ModelVersionTag(*tag) for tag in version.tags.items()],
    )
    assert validation.metrics_on(remade, frame) == first
    assert loads == [f"models:/{linear.name}/1"] * 2
