"""The Azure ML YAML under ML/ validates itself: each file loads with azure-ai-ml's own loaders, offline.

Also checked: the pipeline's wiring (registration waits for both training jobs), its code snapshot (what
``code: ..`` plus .amlignore upload is enough to run ``python register_models.py``), the job environment's
pins, and the deployments' model references (production pinned, staging may float).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from labhelpers.azure.ml.images import (
    DEPLOYMENT_IMAGE,
    DEPLOYMENT_PYTHON,
    is_pinned,
    is_supported_inference_image,
    unsupported_image_message,
)

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib is 3.11+; the dev extra installs tomli there
    import tomli as tomllib

pytestmark = [
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.RemovedInMarshmallow4Warning"),
    pytest.mark.filterwarnings("ignore::marshmallow.warnings.ChangedInMarshmallow4Warning"),
]

ROOT = Path(__file__).resolve().parents[3]
ML = ROOT / "ML"
SCHEMA = "https://azuremlschemas.azureedge.net/latest/"
LOADERS = {
    "pipelineJob": "load_job",
    "environment": "load_environment",
    "managedOnlineEndpoint": "load_online_endpoint",
    "managedOnlineDeployment": "load_online_deployment",
    "computeInstance": "load_compute",
}
#: YAML under ML/ that is not an Azure ML definition, and why.
NOT_AZURE_ML = {
    "environment/conda.yaml": "a conda specification, referenced by environment.yml",
    "deployment/production-models.yml": "the pins file labhelpers.registry.pinning writes",
    "deployment/environment/conda.yaml": "a conda specification, referenced by the deployments",
}
EXPECTED = (
    "pipeline.yaml",
    "environment/environment.yml",
    "environment/conda.yaml",
    "deployment/endpoint.yml",
    "deployment/production-deployment.yml",
    "deployment/staging-deployment.yml",
    "deployment/environment/conda.yaml",
    "deployment/scoring/score.py",
    "deployment/sample-request.json",
    "compute/instance.yml",
    "compute/learner-instance.yml",
)
TRAINING = ("supervised_learning", "unsupervised_learning")
LINEAR = "taxi-fare-linear-regression"


def azure_ml_yaml() -> list[Path]:
    files = [*ML.rglob("*.yml"), *ML.rglob("*.yaml")]
    return sorted(p for p in files if p.relative_to(ML).as_posix() not in NOT_AZURE_ML)


def load(path: Path):
    import azure.ai.ml

    kind = path.read_text().splitlines()[0].rsplit("/", 1)[-1].removesuffix(".schema.json")
    return getattr(azure.ai.ml, LOADERS[kind])(path)


@pytest.fixture(scope="module")
def pipeline():
    return load(ML / "pipeline.yaml")


def submitted(job, folder: Path) -> dict:
    """What azure-ai-ml would submit for ``job``, as its public ``dump`` writes it (YAML of the REST body)."""
    job.dump(folder / "submitted.yml")
    return yaml.safe_load((folder / "submitted.yml").read_text())


@pytest.fixture(scope="module")
def pipeline_dict(pipeline, tmp_path_factory):
    # What azure-ai-ml would submit: bindings as ${{parent...}} expressions, components expanded.
    return submitted(pipeline, tmp_path_factory.mktemp("pipeline"))


def test_the_azure_ml_files_exist():
    assert [name for name in EXPECTED if not (ML / name).is_file()] == []


@pytest.mark.parametrize("path", azure_ml_yaml(), ids=lambda p: p.relative_to(ML).as_posix())
def test_each_file_declares_its_schema_first_and_loads(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith(f"$schema: {SCHEMA}") and first.endswith(".schema.json")
    kind = first.rsplit("/", 1)[-1].removesuffix(".schema.json")
    assert kind in LOADERS, f"{path.name}: no loader known for {kind}"
    assert load(path) is not None


def test_registration_waits_for_both_training_jobs(pipeline, pipeline_dict):
    assert set(pipeline.jobs) == {*TRAINING, "register_models"}
    bound = {name: spec["path"] for name, spec in pipeline_dict["jobs"]["register_models"]["inputs"].items()}
    assert bound == {
        "supervised_dir": "${{parent.jobs.supervised_learning.outputs.output_dir}}",
        "unsupervised_dir": "${{parent.jobs.unsupervised_learning.outputs.output_dir}}",
    }
    for job in TRAINING:
        assert "output_dir" in pipeline.jobs[job].outputs
        assert pipeline_dict["jobs"][job]["inputs"]["data"]["path"] == "${{parent.inputs.data}}"


def test_the_commands_run_the_ml_scripts(pipeline):
    commands = {name: " ".join(job.command.split()) for name, job in pipeline.jobs.items()}
    assert commands["supervised_learning"] == (
        "python ML/train_supervised.py --data ${{inputs.data}} --output-dir ${{outputs.output_dir}}"
    )
    assert commands["unsupervised_learning"] == (
        "python ML/train_unsupervised.py --data ${{inputs.data}} --output-dir ${{outputs.output_dir}}"
    )
    assert commands["register_models"] == (
        "cd ML && python register_models.py --supervised-dir ${{inputs.supervised_dir}} "
        "--unsupervised-dir ${{inputs.unsupervised_dir}}"
    )


def test_the_data_input_is_a_typed_file_that_ships_with_the_repository(pipeline):
    raw = yaml.safe_load((ML / "pipeline.yaml").read_text())
    assert raw["inputs"]["data"]["type"] == "uri_file"
    assert (ML / pipeline.inputs["data"].path).resolve() == ROOT / "data" / "nyc_taxi_sample.csv"
    assert (ROOT / "data" / "nyc_taxi_sample.csv").is_file()


def test_every_step_uses_the_lab_environment_the_cluster_and_the_repository_snapshot(pipeline):
    assert pipeline.settings.default_compute == "cpu-cluster"
    for name, job in pipeline.jobs.items():
        assert job.component.environment == "taxi-ml-env@latest", name
        assert (ML / job.code).resolve() == ROOT, name
    environment = load(ML / "environment" / "environment.yml")
    assert environment.name == "taxi-ml-env"


def test_every_step_has_a_timeout(pipeline, pipeline_dict):
    # azure-ai-ml's loader reads `limits.timeout` (seconds) into each command node, and sends it
    timeouts = {name: job.limits.timeout if job.limits else None for name, job in pipeline.jobs.items()}
    assert all(isinstance(t, int) and 0 < t <= 4 * 3600 for t in timeouts.values()), timeouts
    assert {name: job["limits"]["timeout"] for name, job in pipeline_dict["jobs"].items()} == timeouts


# azure-ai-ml has no public way to ask which files a code upload keeps: its own .amlignore reader is the
# only seam that answers as the upload does (a copy of its rules would test the copy).
def _snapshot_files(names: tuple[str, ...]) -> list[Path]:
    from azure.ai.ml._utils._asset_utils import get_ignore_file  # noqa: PLC2701 - no public upload filter

    ignore = get_ignore_file(ROOT)
    assert ignore.path == ROOT / ".amlignore"
    return [
        path
        for name in names
        for path in (ROOT / name).rglob("*")
        if path.is_file() and not ignore.is_file_excluded(path.as_posix())
    ]


def test_amlignore_keeps_local_state_out_of_the_snapshot():
    from azure.ai.ml._utils._asset_utils import get_ignore_file  # noqa: PLC2701 - no public upload filter

    ignore = get_ignore_file(ROOT)
    patterns = {line.strip() for line in (ROOT / ".amlignore").read_text().splitlines()}
    gitignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    # .amlignore replaces .gitignore for uploads, so it must repeat it.
    assert sorted(gitignored - patterns - {""}) == []
    for heavy in (
        ".venv/lib/python3.11/site-packages/mlflow/__init__.py",
        ".mlflow/mlflow.db",
        ".cache/data/abc.parquet",
        "outputs/runs/20250101-000000/supervised/manifest.json",
        "mlruns/0/meta.yaml",
        "notebooks/.ipynb_checkpoints/01_train_models-checkpoint.ipynb",
        "notebooks/01_train_models.ipynb",
        "data/nyc_taxi_sample.csv",
        ".azureml/config.json",
        ".git/HEAD",
        "labhelpers/__pycache__/azure.cpython-311.pyc",
    ):
        assert ignore.is_file_excluded((ROOT / heavy).as_posix()), heavy
    for needed in (
        "ML/register_models.py",
        "ML/labhelpers_path.py",
        "labhelpers/registry/register.py",
        "labhelpers/azure/ml/pipeline.py",
    ):
        assert not ignore.is_file_excluded((ROOT / needed).as_posix()), needed


def test_register_models_runs_from_the_snapshot(tmp_path):
    # Rebuild what the register_models job receives (ML/ and labhelpers/ as .amlignore lets them through),
    # then, in ML/ and with no site-packages (the job's environment does not install labhelpers), check that
    # labhelpers_path finds labhelpers in the snapshot itself; finally run the job's script there.
    snapshot = tmp_path / "snapshot"
    for path in _snapshot_files(("ML", "labhelpers")):
        target = snapshot / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    run = subprocess.run(
        [sys.executable, "-S", "-c", "import labhelpers_path, labhelpers; print(labhelpers.__file__)"],
        cwd=snapshot / "ML",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert run.returncode == 0, run.stderr
    assert Path(run.stdout.strip()).resolve().is_relative_to(snapshot)
    helped = subprocess.run(
        [sys.executable, "register_models.py", "--help"],  # site-packages now: it imports pandas
        cwd=snapshot / "ML",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert helped.returncode == 0, helped.stderr
    assert "--supervised-dir" in helped.stdout


def _pins(lines) -> dict[str, str]:
    """Exact pins (``name==1.2``) by canonical name, read by packaging."""
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.utils import canonicalize_name

    found = {}
    for line in lines:
        try:
            requirement = Requirement(line.split("#", 1)[0].strip())
        except InvalidRequirement:
            continue
        [*specs] = requirement.specifier
        if len(specs) == 1 and specs[0].operator == "==":
            found[str(canonicalize_name(requirement.name))] = specs[0].version
    return found


def test_the_job_environment_pins_equal_the_runtime_pins_of_pyproject():
    runtime = _pins(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    conda = yaml.safe_load((ML / "environment" / "conda.yaml").read_text())
    [pip] = [entry["pip"] for entry in conda["dependencies"] if isinstance(entry, dict) and "pip" in entry]
    assert _pins(pip) == runtime
    assert conda["channels"] == ["conda-forge", "nodefaults"]
    learners = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = [d for d in learners["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == [d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python")]
    # The Azure ML environment must use this conda file: read the reference from environment.yml itself...
    environment_yml = ML / "environment" / "environment.yml"
    referenced = yaml.safe_load(environment_yml.read_text())["conda_file"]
    assert (environment_yml.parent / referenced).resolve() == ML / "environment" / "conda.yaml"
    # ...and what azure-ai-ml would upload carries exactly the runtime pins.
    [uploaded] = [e["pip"] for e in load(environment_yml).conda_file["dependencies"] if isinstance(e, dict)]
    assert _pins(uploaded) == runtime


def test_production_pins_a_version_and_never_uses_latest():
    raw = yaml.safe_load((ML / "deployment" / "production-deployment.yml").read_text())
    assert re.fullmatch(rf"azureml:{LINEAR}:\d+", raw["model"]), raw["model"]
    assert "@" not in raw["model"]
    assert load(ML / "deployment" / "production-deployment.yml").model == raw["model"].removeprefix(
        "azureml:"
    )


def test_pinning_rewrites_production_and_it_still_loads(tmp_path):
    from labhelpers.registry.pinning import DEPLOYMENT_FILE, pin_production

    before = (ML / "deployment" / DEPLOYMENT_FILE).read_text().splitlines()
    model_line = next(line for line in before if line.startswith("model:"))
    version = int(model_line.rsplit(":", 1)[1]) + 1  # a version other than the one pinned now
    tmp_path = Path(shutil.copytree(ML / "deployment", tmp_path / "deployment"))  # script and environment too
    assert pin_production(LINEAR, version, tmp_path) == f"azureml:{LINEAR}:{version}"
    after = (tmp_path / DEPLOYMENT_FILE).read_text().splitlines()
    assert after[0].startswith("$schema:")
    # only the model line changed: comments, order and everything else as the author wrote them
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert changed == [(model_line, f"model: azureml:{LINEAR}:{version}")]
    assert load(tmp_path / DEPLOYMENT_FILE).model == f"{LINEAR}:{version}"


def test_staging_follows_latest_on_the_same_endpoint():
    endpoint = load(ML / "deployment" / "endpoint.yml")
    staging = load(ML / "deployment" / "staging-deployment.yml")
    production = load(ML / "deployment" / "production-deployment.yml")
    assert (endpoint.name, endpoint.auth_mode) == ("taxi-fare-endpoint", "key")
    assert staging.model == f"{LINEAR}@latest"
    assert staging.endpoint_name == production.endpoint_name == endpoint.name
    assert staging.name != production.name


def test_every_pipeline_submission_reruns_its_steps(tmp_path):
    # Inline steps are deterministic anonymous components: unforced, an unchanged register_models step is
    # reused and registers nothing (docs/azure.md, section 7).
    from labhelpers.azure.ml.pipeline import load_pipeline

    job = load_pipeline()
    assert job.settings.force_rerun is True
    assert submitted(job, tmp_path)["settings"]["force_rerun"] is True


@pytest.mark.parametrize("name", ["production-deployment.yml", "staging-deployment.yml"])
def test_the_deployments_run_our_scoring_script_in_the_pinned_serving_environment(name):
    deployment = load(ML / "deployment" / name)
    code = ML / "deployment" / deployment.code_configuration.code  # relative to the YAML file
    assert (
        code / deployment.code_configuration.scoring_script
    ).resolve() == ML / "deployment" / "scoring" / "score.py"
    conda = yaml.safe_load((ML / "deployment" / "environment" / "conda.yaml").read_text())
    assert deployment.environment.conda_file == conda
    # a base image Azure ML supports (its list lives in labhelpers.azure.ml.images), pinned by digest, with
    # its Python (3.12) pinned in the conda file built on top of it
    assert is_supported_inference_image(deployment.environment.image), unsupported_image_message(
        deployment.environment.image, name
    )
    assert deployment.environment.image == DEPLOYMENT_IMAGE and is_pinned(DEPLOYMENT_IMAGE)
    assert "minimal-py312-inference@sha256:" in DEPLOYMENT_IMAGE and DEPLOYMENT_PYTHON == "3.12"
    python = [d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert python == [f"python={DEPLOYMENT_PYTHON}"]


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("mcr.microsoft.com/azureml/minimal-py312-inference:latest", False),
        ("mcr.microsoft.com/azureml/minimal-py312-inference", False),
        ("mcr.microsoft.com/azureml/minimal-py312-inference:20250101.v1", True),
        ("mcr.microsoft.com/azureml/minimal-py312-inference@sha256:" + "ab" * 32, True),
        ("mcr.microsoft.com/azureml/minimal-py312-inference@sha256:abc", False),
    ],
)
def test_an_image_is_pinned_by_a_digest_or_a_tag_other_than_latest(image, pinned):
    assert is_pinned(image) is pinned


@pytest.mark.parametrize("name", ["instance.yml", "learner-instance.yml"])
def test_compute_instances_shut_down_when_idle_through_their_yaml(name):
    # the ml extension's `az ml compute create` and `update` have no idle-shutdown flag: the YAML carries it
    instance = load(ML / "compute" / name)
    assert type(instance).__name__ == "ComputeInstance"
    assert instance.idle_time_before_shutdown_minutes == 60
    rest = instance._to_rest_object()  # noqa: SLF001 - the body azure-ai-ml sends; no public accessor
    assert rest.properties.properties.idle_time_before_shutdown == "PT60M"


def test_the_learner_s_instance_is_created_on_their_behalf_with_the_ids_given_on_the_command_line():
    from azure.ai.ml import load_compute

    # `--name ci-alice --set create_on_behalf_of.user_object_id=... create_on_behalf_of.user_tenant_id=...`
    # gives azure-ai-ml (the CLI's --set becomes params_override)
    overrides = [
        {"name": "ci-alice"},
        {"create_on_behalf_of.user_object_id": "11111111-2222-3333-4444-555555555555"},
        {"create_on_behalf_of.user_tenant_id": "66666666-7777-8888-9999-000000000000"},
    ]
    instance = load_compute(ML / "compute" / "learner-instance.yml", params_override=overrides)
    rest = instance._to_rest_object()  # noqa: SLF001 - the body azure-ai-ml sends; no public accessor
    # the REST body's properties are a compute instance's (typed as any compute's)
    settings = rest.properties.properties.personal_compute_instance_settings  # type: ignore[union-attr]
    assigned = settings.assigned_user
    assert (instance.name, assigned.object_id, assigned.tenant_id) == (
        "ci-alice",
        "11111111-2222-3333-4444-555555555555",
        "66666666-7777-8888-9999-000000000000",
    )


@pytest.mark.parametrize(
    ("image", "supported"),
    [
        ("mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference:latest", True),
        ("mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cuda11.8-gpu-inference:20250101.v1", True),
        ("mcr.microsoft.com/azureml/minimal-py312-inference@sha256:" + "0" * 64, True),
        ("mcr.microsoft.com/azureml/minimal-ubuntu22.04-py310-cpu-inference:latest", False),
        ("mcr.microsoft.com/azureml/minimal-ubuntu20.04-py38-cpu-inference:latest", False),
        ("example.azurecr.io/azureml/minimal-py312-inference:latest", False),
    ],
)
def test_the_supported_inference_images_are_azure_ml_s_list_with_any_tag(image, supported):
    assert is_supported_inference_image(image) is supported


def test_the_serving_environment_pins_what_a_served_model_needs_as_constraints_do():
    from labhelpers.training.outputs import pip_requirements

    conda = yaml.safe_load((ML / "deployment" / "environment" / "conda.yaml").read_text())
    [pip] = [entry["pip"] for entry in conda["dependencies"] if isinstance(entry, dict) and "pip" in entry]
    pins = _pins(pip)
    constraints = _pins((ROOT / "constraints.txt").read_text().splitlines())
    assert {name: constraints.get(name) for name in pins} == pins
    needed = set(_pins(pip_requirements()))
    assert needed | {"azureml-inference-server-http"} == set(pins)
    assert conda["channels"] == ["conda-forge", "nodefaults"]
