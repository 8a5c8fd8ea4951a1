"""labhelpers.azure.ml.connect and the Azure side of the registry helpers, offline.

Nothing here reaches Azure or any network: the ``offline`` fixture refuses (and records) every connection
and name lookup, credentials are built but never asked for a token, and the happy paths run against fake
``MLClient``/``MlflowClient`` objects. No test hands an ``azureml://`` URI to MLflow.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException, RestException
from mlflow.protos import databricks_pb2 as pb

from labhelpers.azure.ml import connect as lab_azure
from labhelpers.azure.ml import pipeline as azure_pipeline
from labhelpers.azure.ml.connect import AzureError, Connection
from labhelpers.foundation import config
from labhelpers.foundation.errors import RegistryError
from labhelpers.tracking import connection as tracking
from tests.unit.fakes import FakeRegistry, Version

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]

WORKSPACE = {"subscription_id": "00000000-0000-0000-0000-000000000001", "resource_group": "rg-lab"}
AZURE_URI = (
    "azureml://westeurope.api.azureml.ms/mlflow/v1.0/subscriptions/00000000-0000-0000-0000-000000000001"
    "/resourceGroups/rg-lab/providers/Microsoft.MachineLearningServices/workspaces/{name}"
)


@pytest.fixture
def offline(monkeypatch):
    """Refuse every outgoing connection and name lookup; return the list of what was attempted."""
    attempts: list = []

    def refuse(target):
        attempts.append(target)
        raise OSError(f"network blocked in tests: {target}")

    monkeypatch.setattr(socket.socket, "connect", lambda self, address: refuse(address))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, address: refuse(address))
    monkeypatch.setattr(socket, "create_connection", lambda address, *a, **k: refuse(address))
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: refuse(host))
    return attempts


def _imds(attempts: list) -> list:
    return [a for a in attempts if "169.254.169.254" in str(a)]


@pytest.fixture
def bare_machine(monkeypatch, tmp_path):
    """A machine with no Azure configuration: no variables, no az/pwsh/azd on PATH, an empty home.

    Returns the (empty) working directory the test runs in.
    """
    for name in list(os.environ):
        if name.startswith(("AZURE", "MSI_", "IDENTITY_", "IMDS_")):
            monkeypatch.delenv(name)
    for name in (tracking.TRACKING_URI_ENV, lab_azure.TOKEN_CREDENTIALS_ENV):  # connect() sets these:
        monkeypatch.setenv(name, "")  # recorded, so monkeypatch restores them (or their absence) after
        monkeypatch.delenv(name)
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(lab_azure, "EXPORTED_CHOICE", [])
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


def write_config(folder, name: str = "ws-lab"):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps({**WORKSPACE, "workspace_name": name}))
    return path


class FakeCredential:
    """A TokenCredential that must never be asked for a token in these tests."""

    def get_token(self, *scopes, **kwargs):
        raise AssertionError("a test asked for a real token")


class FakeWorkspaces:
    def __init__(self, uri: str | None = None, error: Exception | None = None, hang: bool = False):
        self.uri, self.error, self.hang = uri, error, hang
        self.asked: list[str] = []
        self.release, self.answered = threading.Event(), threading.Event()

    def get(self, name: str):
        self.asked.append(name)
        if self.hang:
            self.release.wait(60)
        self.answered.set()
        if self.error is not None:
            raise self.error
        return SimpleNamespace(name=name, mlflow_tracking_uri=self.uri or AZURE_URI.format(name=name))


class FakeMLClient:
    """Stands in for azure.ai.ml.MLClient: same constructor and from_config, a fake ``workspaces``."""

    workspaces_factory = FakeWorkspaces

    def __init__(self, credential, subscription_id=None, resource_group_name=None, workspace_name=None):
        self.credential = credential
        self.subscription_id = subscription_id
        self.resource_group_name = resource_group_name
        self.workspace_name = workspace_name
        self.workspaces = type(self).workspaces_factory()

    @classmethod
    def from_config(cls, credential, *, path=None, **kwargs):
        found = json.loads(open(path).read())  # noqa: SIM115 - tiny file
        return cls(credential, found["subscription_id"], found["resource_group"], found["workspace_name"])


@pytest.fixture
def fake_azure(monkeypatch):
    """azure.ai.ml.MLClient replaced by FakeMLClient; use_tracking records instead of touching MLflow."""
    import azure.ai.ml as azure_ml

    used: list[str] = []
    monkeypatch.setattr(azure_ml, "MLClient", FakeMLClient)
    monkeypatch.setattr(tracking, "use_tracking", lambda uri=None: used.append(uri) or uri)
    monkeypatch.setattr(FakeMLClient, "workspaces_factory", FakeWorkspaces)
    # the MLflow check and the plugin's credential are covered in test_no_prompt.py
    monkeypatch.setattr(
        lab_azure, "check_mlflow_answers", lambda uri, *args, **kwargs: used.append(f"check {uri}")
    )
    monkeypatch.setattr(lab_azure.signin, "install", lambda uri, credential: True)
    return used


# --- config.json discovery and environment variables ---------------------------------------------------


def test_config_json_in_dot_azureml_is_found(bare_machine, offline):
    from azure.ai.ml import MLClient

    write_config(bare_machine / ".azureml", "ws-dot-azureml")
    client = lab_azure.workspace_client(FakeCredential())
    assert isinstance(client, MLClient)
    assert (client.workspace_name, client.resource_group_name) == ("ws-dot-azureml", "rg-lab")
    assert client.subscription_id == WORKSPACE["subscription_id"]
    assert offline == []


def test_config_json_in_a_parent_folder_is_found(bare_machine, monkeypatch, offline):
    write_config(bare_machine, "ws-parent")
    inner = bare_machine / "notebooks" / "deeper"
    inner.mkdir(parents=True)
    monkeypatch.chdir(inner)
    assert lab_azure.find_config() == bare_machine / "config.json"
    assert lab_azure.workspace_client(FakeCredential()).workspace_name == "ws-parent"
    assert offline == []


def test_discovery_follows_azure_ai_ml_order(bare_machine, monkeypatch):
    # azure-ai-ml tries .azureml/ in every folder upwards before a plain config.json next to you.
    from azure.ai.ml import MLClient

    write_config(bare_machine / ".azureml", "ws-above")
    inner = bare_machine / "sub"
    write_config(inner, "ws-here")
    monkeypatch.chdir(inner)
    found = lab_azure.find_config()
    assert found == bare_machine / ".azureml" / "config.json"
    assert MLClient.from_config(FakeCredential()).workspace_name == "ws-above"
    assert lab_azure.workspace_client(FakeCredential()).workspace_name == "ws-above"


def test_config_path_argument_wins(bare_machine, tmp_path):
    write_config(bare_machine / ".azureml", "ws-discovered")
    chosen = write_config(tmp_path / "elsewhere", "ws-chosen")
    assert lab_azure.workspace_client(FakeCredential(), chosen).workspace_name == "ws-chosen"
    assert lab_azure.workspace_client(FakeCredential(), chosen.parent).workspace_name == "ws-chosen"


def test_missing_config_path_is_named(bare_machine, tmp_path):
    with pytest.raises(AzureError, match="does-not-exist"):
        lab_azure.workspace_client(FakeCredential(), tmp_path / "does-not-exist" / "config.json")


def test_unreadable_config_json_is_named(bare_machine):
    (bare_machine / ".azureml").mkdir()
    (bare_machine / ".azureml" / "config.json").write_text('{"workspace_name": "only-this"}')
    with pytest.raises(AzureError, match="subscription_id"):
        lab_azure.workspace_client(FakeCredential())


def test_environment_variables_configure_the_workspace(bare_machine, monkeypatch, offline):
    write_config(bare_machine / ".azureml", "ws-from-file")
    monkeypatch.setenv(lab_azure.SUBSCRIPTION_ENV, "00000000-0000-0000-0000-000000000002")
    monkeypatch.setenv(lab_azure.RESOURCE_GROUP_ENV, "rg-env")
    monkeypatch.setenv(lab_azure.WORKSPACE_ENV, "ws-env")
    client = lab_azure.workspace_client(FakeCredential())
    assert (client.subscription_id, client.resource_group_name, client.workspace_name) == (
        "00000000-0000-0000-0000-000000000002",
        "rg-env",
        "ws-env",
    )
    assert offline == []


def test_partial_environment_variables_are_named_as_missing(bare_machine, monkeypatch):
    monkeypatch.setenv(lab_azure.WORKSPACE_ENV, "ws-env")
    with pytest.raises(AzureError) as caught:
        lab_azure.workspace_client(FakeCredential())
    assert f"missing: {lab_azure.SUBSCRIPTION_ENV}, {lab_azure.RESOURCE_GROUP_ENV})" in str(caught.value)


# --- the fast failure -------------------------------------------------------------------------------------


def test_no_config_and_no_credentials_fails_fast_saying_what_to_provide(bare_machine, offline):
    # fast: nothing is waited for, neither the network (``offline`` records every attempt) nor a sign-in
    with pytest.raises(AzureError) as caught:
        lab_azure.connect("azure")
    message = str(caught.value)
    for needed in (
        ".azureml/config.json",
        str(bare_machine),
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_RESOURCE_GROUP",
        "AZUREML_WORKSPACE_NAME",
        "az login",
        "credential='cli'",
        "managed-identity",
    ):
        assert needed in message
    assert offline == []


def test_config_without_any_credential_fails_fast_without_imds(bare_machine, offline):
    write_config(bare_machine / ".azureml")
    with pytest.raises(AzureError) as caught:
        lab_azure.connect("azure", timeout=10)  # a sign-in that timed out would say "within 10 s"
    assert "Could not sign in" in str(caught.value)
    assert "az login" in str(caught.value)
    assert _imds(offline) == []
    assert offline == []  # no credential in the chain even tried the network


# --- credential selection (built, never asked for a token) ------------------------------------------------


def _members(credential) -> list[str]:
    return [type(member).__name__ for member in credential.credentials]


def test_default_credential_has_no_prompt_and_no_managed_identity_off_azure(bare_machine, offline):
    from azure.identity import DefaultAzureCredential

    credential = lab_azure.make_credential("default")
    assert isinstance(credential, DefaultAzureCredential)
    members = _members(credential)
    assert "AzureCliCredential" in members and "EnvironmentCredential" in members
    for absent in ("ManagedIdentityCredential", "InteractiveBrowserCredential", "BrokerCredential"):
        assert absent not in members
    assert offline == []


@pytest.mark.parametrize("variable", lab_azure.MANAGED_IDENTITY_ENVS)
def test_default_credential_keeps_managed_identity_where_the_environment_declares_one(
    bare_machine, monkeypatch, offline, variable
):
    monkeypatch.setenv(variable, "http://127.0.0.1:9/msi/token")
    monkeypatch.setenv("MSI_SECRET", "not-a-secret")
    assert lab_azure.on_managed_identity()
    assert "ManagedIdentityCredential" in _members(lab_azure.make_credential("default"))
    assert offline == []


def test_cli_credential_is_az_login_only(bare_machine, offline):
    from azure.identity import AzureCliCredential

    assert isinstance(lab_azure.make_credential("cli"), AzureCliCredential)
    assert offline == []


def test_managed_identity_only_when_chosen(bare_machine, offline):
    from azure.identity import ManagedIdentityCredential

    assert not lab_azure.on_managed_identity()
    assert isinstance(lab_azure.make_credential("managed-identity"), ManagedIdentityCredential)
    assert offline == []  # built, not asked: IMDS is contacted only when a token is requested


def test_a_credential_object_is_used_as_given_and_unknown_names_are_refused():
    mine = FakeCredential()
    assert lab_azure.make_credential(mine) is mine
    with pytest.raises(AzureError, match="default, cli, managed-identity"):
        lab_azure.make_credential("browser")


# --- connect ----------------------------------------------------------------------------------------------


def test_connect_takes_the_tracking_uri_from_the_workspace(bare_machine, fake_azure, offline):
    write_config(bare_machine / ".azureml", "ws-happy")
    mine = FakeCredential()
    found = lab_azure.connect("azure", credential=mine)
    assert found.backend == "azure" and found.workspace == "ws-happy"
    assert found.tracking_uri == AZURE_URI.format(name="ws-happy")
    assert found.ml_client.workspaces.asked == ["ws-happy"]
    assert (
        found.ml_client.credential.inner is mine
    )  # wrapped in a deadline (labhelpers.azure.mlflow_api.signin)
    assert fake_azure == [found.tracking_uri, f"check {found.tracking_uri}"]
    assert os.environ[tracking.TRACKING_URI_ENV] == found.tracking_uri
    assert "00000000" not in found.describe() and "ws-happy" in found.describe()
    assert offline == []


def test_a_preset_tracking_uri_of_the_same_workspace_needs_no_request(bare_machine, fake_azure, monkeypatch):
    write_config(bare_machine / ".azureml", "ws-ci")
    preset = AZURE_URI.format(name="ws-ci")
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, preset)
    found = lab_azure.connect("azure", credential=FakeCredential())
    assert found.tracking_uri == preset
    assert found.ml_client.workspaces.asked == []


def test_a_preset_tracking_uri_of_another_workspace_is_not_trusted(bare_machine, fake_azure, monkeypatch):
    write_config(bare_machine / ".azureml", "ws-mine")
    monkeypatch.setenv(tracking.TRACKING_URI_ENV, AZURE_URI.format(name="ws-other"))
    found = lab_azure.connect("azure", credential=FakeCredential())
    assert found.tracking_uri == AZURE_URI.format(name="ws-mine")
    assert found.ml_client.workspaces.asked == ["ws-mine"]


def _failing(error: Exception):
    return lambda: FakeWorkspaces(error=error)


def test_sign_in_failure_becomes_a_lab_error(bare_machine, fake_azure, monkeypatch):
    from azure.core.exceptions import ClientAuthenticationError

    write_config(bare_machine / ".azureml")
    monkeypatch.setattr(FakeMLClient, "workspaces_factory", _failing(ClientAuthenticationError("no token")))
    with pytest.raises(AzureError, match="az login"):
        lab_azure.connect("azure", credential=FakeCredential())
    assert tracking.TRACKING_URI_ENV not in os.environ and fake_azure == []


def test_a_forbidden_workspace_names_the_missing_role(bare_machine, fake_azure, monkeypatch):
    from azure.core.exceptions import HttpResponseError

    forbidden = HttpResponseError(message="Forbidden")
    forbidden.status_code = 403
    write_config(bare_machine / ".azureml")
    monkeypatch.setattr(FakeMLClient, "workspaces_factory", _failing(forbidden))
    with pytest.raises(AzureError, match="AzureML Data Scientist"):
        lab_azure.connect("azure", credential=FakeCredential())


def test_a_silent_workspace_times_out(bare_machine, fake_azure, monkeypatch):
    hanging = FakeWorkspaces(hang=True)
    write_config(bare_machine / ".azureml")
    monkeypatch.setattr(FakeMLClient, "workspaces_factory", lambda: hanging)
    with pytest.raises(AzureError, match="within 0.3 s"):
        lab_azure.connect("azure", credential=FakeCredential(), timeout=0.3)
    assert len(hanging.asked) == 1 and not hanging.answered.is_set()  # gave up while the call still hung
    hanging.release.set()


def test_choosing_cli_makes_mlflow_sign_in_the_same_way(bare_machine, fake_azure):
    write_config(bare_machine / ".azureml")
    lab_azure.connect("azure", credential="cli")
    assert os.environ[lab_azure.TOKEN_CREDENTIALS_ENV] == "AzureCliCredential"
    lab_azure.connect("azure", credential="default")
    assert lab_azure.TOKEN_CREDENTIALS_ENV not in os.environ


def test_connect_local_and_any_uri(bare_machine, fake_azure):
    local = lab_azure.connect("local")
    assert local == Connection("local", config.local_tracking_uri())
    other = lab_azure.connect("http://127.0.0.1:5999")
    assert other.backend == "uri" and other.ml_client is None
    assert fake_azure == [config.local_tracking_uri(), "http://127.0.0.1:5999"]
    assert os.environ[tracking.TRACKING_URI_ENV] == "http://127.0.0.1:5999"


# --- azureml: references (pure parsing) -------------------------------------------------------------------


def test_azureml_references_parse_without_a_registry():
    from labhelpers.registry.pinning import pinned_reference
    from labhelpers.registry.references import parse_reference

    latest = parse_reference("azureml:taxi-fare-linear-regression@latest")
    assert (latest.name, latest.version, latest.label) == ("taxi-fare-linear-regression", None, "latest")
    pinned = parse_reference("azureml:taxi-fare-linear-regression:3")
    assert (pinned.version, pinned.label) == ("3", None)
    assert pinned.azureml() == "azureml:taxi-fare-linear-regression:3" == pinned_reference(pinned.name, 3)
    assert latest.azureml() == "azureml:taxi-fare-linear-regression@latest"


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("azureml:taxi-trip-kmeans@3", "azureml:taxi-trip-kmeans:3"),
        ("azureml:taxi-trip-kmeans@production", "azureml:taxi-trip-kmeans@latest"),
    ],
)
def test_azureml_labels_other_than_latest_are_refused_with_the_right_form(text, hint):
    from labhelpers.registry.references import parse_reference

    with pytest.raises(RegistryError, match=hint):
        parse_reference(text)


# --- registry helpers against an Azure-like MLflow client -------------------------------------------------


def _version(name: str, number: int, **tags: str) -> Version:
    return FakeRegistry.version(name, number, **tags)


AZURE_REFUSALS = {"aliases", "ordering", "model_search", "run_filters"}


@pytest.fixture
def azure_like(fake_registry):
    """A fake registry that answers as Azure ML's MLflow API is documented: no aliases, no ordering, no
    attribute filters on runs, no model search. Behaviour is learned from these answers
    (labhelpers.registry.capabilities), so each refused request may be made once per client, never twice.
    """

    def make(versions):
        return fake_registry(versions, tracking_uri=AZURE_URI.format(name="ws"), refuses=AZURE_REFUSALS)

    return make


def test_latest_is_the_highest_version_computed_client_side(azure_like):
    from labhelpers.registry.references import resolve

    client = azure_like([_version("m", n) for n in (2, 10, 9)])
    assert resolve("azureml:m@latest", client).version == "10"
    assert resolve("models:/m/latest", client).version == "10"
    assert (
        client.calls.count("search_model_versions+order") == 1
    )  # refused once, then computed client-side without asking


def test_aliases_are_read_from_the_lifecycle_tag(azure_like):
    from labhelpers.registry.references import resolve

    client = azure_like([_version("m", 1, lifecycle="archived"), _version("m", 2, lifecycle="production")])
    assert resolve("models:/m@production", client).version == "2"
    assert resolve("m@production", client).version == "2"
    assert client.calls.count("get_model_version_by_alias") == 1


def test_an_unknown_name_is_reported_even_when_models_cannot_be_listed(azure_like):
    from labhelpers.registry.references import resolve

    with pytest.raises(RegistryError, match="No registered model named 'nothing'"):
        resolve("azureml:nothing@latest", azure_like([]))


def test_the_audit_fetches_runs_one_by_one_where_attribute_filters_are_refused(azure_like, fake_registry):
    from labhelpers.registry.catalog import audit

    client = azure_like([_version("m", n, **fake_registry.REPRODUCIBLE_TAGS) for n in (1, 2, 3)])
    # run-1 complete, run-2 without its features, run-3 gone
    client.add_run("run-1", {"random_seed": "42", "features": "trip_distance"})
    client.add_run("run-2", {"random_seed": "42"})

    table = audit(["m"], client)

    assert client.calls.count("search_runs") == 1  # the batched search was tried once, refused, not repeated
    assert client.calls.count("get_run") == 3  # then every run on its own (the first found the experiment)
    assert table.to_dict("records") == [
        {"name": "m", "version": 2, "problems": "parameter features missing"},
        {"name": "m", "version": 3, "problems": "training run missing"},
    ]


# --- pipeline submission (fake workspace) -----------------------------------------------------------------


class FakeJobs:
    def __init__(self, error: Exception | None = None):
        self.created: list = []
        self.error = error

    def create_or_update(self, job, **kwargs):
        if self.error:
            raise self.error
        self.created.append((job, kwargs))
        return SimpleNamespace(
            name="taxi-job-1", studio_url="https://ml.lab_azure.com/runs/taxi-job-1", status="Queued"
        )


class FakeEnvironments:
    def __init__(self):
        self.created: list = []

    def create_or_update(self, environment):
        self.created.append(environment)
        return SimpleNamespace(name=environment.name, version="1")


def _workspace_connection(jobs=None):
    client = SimpleNamespace(jobs=jobs or FakeJobs(), environments=FakeEnvironments(), workspace_name="ws")
    return Connection("azure", AZURE_URI.format(name="ws"), "ws", client)


def test_submit_pipeline_sends_the_loaded_pipeline_and_prints_its_studio_url(monkeypatch, capsys, offline):
    import labhelpers.foundation.provenance

    monkeypatch.setattr(
        labhelpers.foundation.provenance, "git_info", lambda: {"git_commit": "abc123", "git_dirty": "false"}
    )
    monkeypatch.setenv("LAB_OWNER", "ada")
    connection = _workspace_connection()
    created = azure_pipeline.submit_pipeline(
        connection,
        compute="azureml:gpu-cluster",
        data="azureml:nyc-taxi-trips:2",
        experiment="taxi-tests",
        create_environment=True,
    )
    assert created.studio_url in capsys.readouterr().out
    [(job, kwargs)] = connection.ml_client.jobs.created
    assert kwargs == {"experiment_name": "taxi-tests"}
    assert job.settings.default_compute == "gpu-cluster"
    assert job.inputs["data"].path == "azureml:nyc-taxi-trips:2"
    assert {n: node.environment_variables["LAB_GIT_COMMIT"] for n, node in job.jobs.items()} == dict.fromkeys(
        ("supervised_learning", "unsupervised_learning", "register_models"), "abc123"
    )
    # the versions' owner is the submitting user, not the job container's login name
    assert {n: node.environment_variables["LAB_OWNER"] for n, node in job.jobs.items()} == dict.fromkeys(
        ("supervised_learning", "unsupervised_learning", "register_models"), "ada"
    )
    assert [e.name for e in connection.ml_client.environments.created] == ["taxi-ml-env"]
    assert offline == []


def test_without_lab_owner_the_submitting_login_name_is_passed_and_an_explicit_owner_wins(monkeypatch):
    import getpass

    monkeypatch.delenv("LAB_OWNER", raising=False)
    monkeypatch.setattr(getpass, "getuser", lambda: "grace")
    job = azure_pipeline.load_pipeline()
    assert {node.environment_variables["LAB_OWNER"] for node in job.jobs.values()} == {"grace"}
    job = azure_pipeline.load_pipeline(owner="ada")
    assert {node.environment_variables["LAB_OWNER"] for node in job.jobs.values()} == {"ada"}


def test_submit_pipeline_refuses_bad_data_references_and_a_local_backend(tmp_path):
    with pytest.raises(AzureError, match="azureml:nyc-taxi-trips:2"):
        azure_pipeline.submit_pipeline(_workspace_connection(), data="azureml:nyc-taxi-trips@2")
    with pytest.raises(AzureError, match="no such file"):
        azure_pipeline.submit_pipeline(_workspace_connection(), data=str(tmp_path / "missing.csv"))
    with pytest.raises(AzureError, match="connect\\('azure'\\)"):
        azure_pipeline.submit_pipeline(Connection("local", "http://127.0.0.1:5000"))


def test_a_refused_submission_becomes_a_lab_error():
    from azure.core.exceptions import HttpResponseError

    with pytest.raises(AzureError, match="not submitted"):
        azure_pipeline.submit_pipeline(
            _workspace_connection(FakeJobs(HttpResponseError(message="compute not found")))
        )


# --- command line -----------------------------------------------------------------------------------------


def test_every_azure_option_has_help(added_options):
    from labhelpers.cli import build_parser

    build_parser()
    azure = [(prog, action) for prog, action in added_options if " azure " in f"{prog} "]
    assert len(azure) > 3 and [(prog, action.dest) for prog, action in azure if not action.help] == []


def test_cli_connect_prints_the_workspace_and_fails_with_the_message(monkeypatch, capsys):
    from labhelpers.cli import main

    seen: dict[str, object] = {}

    def fake_connect(backend, **kwargs):
        seen.update(kwargs, backend=backend)
        return Connection("azure", AZURE_URI.format(name="ws-cli"), "ws-cli")

    monkeypatch.setattr(lab_azure, "connect", fake_connect)
    assert main(["azure", "connect", "--credential", "cli", "--config", "cfg.json", "--timeout", "5"]) == 0
    assert seen == {"backend": "azure", "credential": "cli", "config_path": "cfg.json", "timeout": 5.0}
    assert "ws-cli" in capsys.readouterr().out

    def refuse(backend, **kwargs):
        raise AzureError("No Azure ML workspace configured.")

    monkeypatch.setattr(lab_azure, "connect", refuse)
    assert main(["azure", "submit"]) == 2
    assert "No Azure ML workspace configured." in capsys.readouterr().err


# --- a bug is not an Azure answer ---------------------------------------------------------------------------


def test_a_bug_while_reading_config_json_is_raised_as_itself(bare_machine, fake_azure, monkeypatch):
    def from_config(*args, **kwargs):
        raise TypeError("from_config() got an unexpected keyword argument 'path'")

    write_config(bare_machine / ".azureml")
    monkeypatch.setattr(FakeMLClient, "from_config", from_config)
    with pytest.raises(TypeError, match="unexpected keyword"):
        lab_azure.workspace_client(FakeCredential())


def test_a_bug_in_the_workspace_lookup_is_raised_as_itself(bare_machine, fake_azure, monkeypatch):
    write_config(bare_machine / ".azureml")
    bug = AttributeError("'NoneType' object has no attribute 'mlflow_tracking_uri'")
    monkeypatch.setattr(FakeMLClient, "workspaces_factory", _failing(bug))
    with pytest.raises(AttributeError, match="mlflow_tracking_uri"):
        lab_azure.connect("azure", credential=FakeCredential())


def _mlflow_api_raising(monkeypatch, error: Exception) -> None:
    import mlflow

    class Client:
        def __init__(self, *args):
            pass

        def search_experiments(self, **kwargs):
            raise error

    monkeypatch.setattr(mlflow, "MlflowClient", Client)


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (MlflowException("Permission denied", error_code=pb.PERMISSION_DENIED), "AzureML Data Scientist"),
        (
            RestException({"Error": {"Code": "AuthorizationFailed"}, "statusCode": 403}),
            "AzureML Data Scientist",
        ),
        # a 403 in the words of another answer is not one
        (
            MlflowException("Experiment 'exp-403' does not exist", pb.RESOURCE_DOES_NOT_EXIST),
            "API at .* failed",
        ),
    ],
    ids=["permission-denied", "azure-403", "404-naming-403"],
)
def test_the_mlflow_check_tells_a_403_by_its_code_not_its_words(monkeypatch, error, said):
    _mlflow_api_raising(monkeypatch, error)
    with pytest.raises(AzureError, match=said):
        lab_azure.check_mlflow_answers(
            AZURE_URI.format(name="ws"), SimpleNamespace(workspace_name="ws"), "cli"
        )


def test_a_bug_behind_the_mlflow_check_is_raised_as_itself(monkeypatch):
    _mlflow_api_raising(monkeypatch, AttributeError("'NoneType' object has no attribute 'token'"))
    with pytest.raises(AttributeError, match="token"):
        lab_azure.check_mlflow_answers(
            AZURE_URI.format(name="ws"), SimpleNamespace(workspace_name="ws"), "cli"
        )


def test_a_bug_while_submitting_is_raised_as_itself_not_as_a_refused_submission():
    with pytest.raises(TypeError, match="experiment_name"):
        azure_pipeline.submit_pipeline(
            _workspace_connection(
                FakeJobs(TypeError("create_or_update() got an unexpected 'experiment_name'"))
            )
        )
