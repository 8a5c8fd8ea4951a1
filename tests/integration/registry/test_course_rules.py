"""Registry rules the course relies on: every version's owner, pins written only where asked, and the
audit's clean-commit rule, on a real server."""

from __future__ import annotations

import pytest

from labhelpers.foundation.provenance import default_owner
from labhelpers.registry.all_or_nothing.candidates import collect
from labhelpers.registry.catalog import audit
from labhelpers.registry.pinning import DEPLOYMENT_DIR
from labhelpers.registry.promotion import promote, rollback
from labhelpers.registry.register import register_batch, register_models


def client_for(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(uri, uri)


def test_every_version_records_its_owner_by_default_the_login_name_or_as_given(
    trained_dirs, unique_names, tracking_uri, monkeypatch
):
    monkeypatch.delenv("LAB_OWNER", raising=False)
    login = default_owner()
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    monkeypatch.setenv("LAB_OWNER", "team-fares")
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri, owner="ana")
    client = client_for(tracking_uri)

    for name in unique_names.values():
        owners = {v.version: v.tags["owner"] for v in client.search_model_versions(f"name='{name}'")}
        assert owners == {"1": login, "2": "team-fares", "3": "ana"}
        run = client.get_run(client.get_model_version(name, "3").run_id)
        assert run.data.tags["owner"] == "ana"


def test_promote_and_rollback_write_no_pin_unless_given_a_folder(
    trained_dirs, unique_names, tracking_uri, tmp_path
):
    snapshot = {p: p.read_bytes() for p in sorted(DEPLOYMENT_DIR.rglob("*")) if p.is_file()}
    linear = collect(trained_dirs[0], trained_dirs[1], unique_names)[0]
    client = client_for(tracking_uri)
    for _ in range(2):
        register_batch([linear], tracking_uri=tracking_uri)
    for version in ("1", "2"):
        promote(linear.name, version, "validated", client=client)
        promote(linear.name, version, "production", client=client, override_reason="test: same model")
    rollback(linear.name, reason="test", client=client)

    assert client.get_model_version(linear.name, "1").tags["lifecycle"] == "production"
    assert {p: p.read_bytes() for p in sorted(DEPLOYMENT_DIR.rglob("*")) if p.is_file()} == snapshot
    assert list(tmp_path.iterdir()) == []


def test_audit_reports_versions_trained_from_uncommitted_changes(trained_dirs, unique_names, tracking_uri):
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    client = client_for(tracking_uri)
    names = list(unique_names.values())
    for name in names:  # whatever the checkout running the tests was, start from clean versions
        client.set_model_version_tag(name, "1", "git_dirty", "false")
    assert audit(names, client).empty
    client.set_model_version_tag(unique_names["ridge"], "1", "git_dirty", "true")

    found = audit(names, client)
    assert found[["name", "version"]].values.tolist() == [[unique_names["ridge"], 1]]
    assert "git_dirty=true" in found["problems"].iloc[0]


@pytest.mark.parametrize("value", ["false", "unknown"])
def test_a_clean_or_unknown_checkout_is_no_audit_problem(trained_dirs, unique_names, tracking_uri, value):
    register_models(*trained_dirs, names=unique_names, tracking_uri=tracking_uri)
    client = client_for(tracking_uri)
    for name in unique_names.values():
        client.set_model_version_tag(name, "1", "git_dirty", value)
    assert audit(list(unique_names.values()), client).empty
