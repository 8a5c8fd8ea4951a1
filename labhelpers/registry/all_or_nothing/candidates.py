"""What one registration batch holds: the three trained models, checked before anything is registered.

Nothing reaches the registry unless all three model folders are present, every file in them matches the
SHA-256 their training step recorded, each holds the expected kind of scikit-learn model, and their metrics
are complete and finite. Every failure names the file and what to do. Nothing here loads a model or runs
code from the training output (see :mod:`labhelpers.registry.all_or_nothing.model_folder` for what the
checksums do and do not protect against).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from labhelpers.files.artifacts import MANIFEST, finite_number, read_manifest, sha256_file
from labhelpers.foundation.config import KMEANS_MODEL_NAME, LINEAR_MODEL_NAME, RIDGE_MODEL_NAME
from labhelpers.foundation.errors import RegistryError, TrainingError
from labhelpers.registry.all_or_nothing.model_folder import ModelFolder, check_model_folder
from labhelpers.training.outputs import SUPERVISED_METRICS, UNSUPERVISED_METRICS

# Azure ML model names: letters, digits, '-', '_' and '.'; MLflow accepts those too. ':' '@' '/' would
# break the version references (azureml:NAME:3, NAME@latest, models:/NAME/3).
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class Spec:
    """How one registered model is found in the training output and described in the registry."""

    key: str  # sub-folder and metrics key in the training output
    step: str  # "supervised" or "unsupervised"
    task_type: str
    model_type: str
    metric_keys: tuple[str, ...]
    purpose: str


SPECS = {
    "linear": Spec(
        "linear_regression",
        "supervised",
        "regression",
        "LinearRegression",
        ("rmse", "mae", "r2"),
        "predicts the fare amount of a NYC taxi trip",
    ),
    "ridge": Spec(
        "ridge_regression",
        "supervised",
        "regression",
        "Ridge",
        ("rmse", "mae", "r2"),
        "predicts the fare amount of a NYC taxi trip",
    ),
    "kmeans": Spec(
        "kmeans",
        "unsupervised",
        "clustering",
        "KMeans",
        ("n_clusters", "inertia", "silhouette", "sample_size_used"),
        "assigns NYC taxi trips to zone clusters from pickup/dropoff coordinates",
    ),
}
DEFAULT_NAMES = {"linear": LINEAR_MODEL_NAME, "ridge": RIDGE_MODEL_NAME, "kmeans": KMEANS_MODEL_NAME}
METRICS_FILES = {"supervised": SUPERVISED_METRICS, "unsupervised": UNSUPERVISED_METRICS}
REQUIRED_KEYS = ("features_used", "data_version", "parameters")


@dataclass
class Candidate:
    """One trained model, verified and ready to register: its MLflow model folder is uploaded as it is."""

    name: str
    spec: Spec
    folder: Path  # the training output folder
    model: ModelFolder
    metrics: dict[str, float]
    payload: dict
    lineage: dict[str, str] = field(default_factory=dict)

    @property
    def model_dir(self) -> Path:
        return self.folder / self.spec.key

    @property
    def metrics_path(self) -> Path:
        return self.folder / METRICS_FILES[self.spec.step]

    @property
    def data_version(self) -> str:
        return self.payload["data_version"]

    @property
    def features(self) -> list[str]:
        return list(self.payload["features_used"])

    @property
    def training_run(self) -> str | None:
        """The MLflow run training logged this model in (its id), or None for a step trained offline."""
        run_id = self.payload.get("training_run")
        return run_id if isinstance(run_id, str) and run_id else None


def check_name(name: str, option: str = "model name") -> str:
    """Return ``name`` if it is a valid registered-model name, else raise a RegistryError saying why."""
    if not isinstance(name, str) or not MODEL_NAME.match(name):
        raise RegistryError(
            f"Invalid {option} {name!r}: use 1-255 letters, digits, '-', '_' or '.', starting with a letter "
            "or digit (':', '@', '/' and spaces would break version references such as NAME:3)."
        )
    return name


def _check_folder(folder: Path, option: str, script: str) -> None:
    if not folder.exists():
        raise RegistryError(f"{option} {folder} does not exist; point it at the output folder of {script}.")
    if not folder.is_dir():
        raise RegistryError(f"{option} {folder} is a file; point it at the output folder of {script}.")


def _load_payload(folder: Path, step: str) -> dict:
    path = folder / METRICS_FILES[step]
    if not path.is_file():
        raise RegistryError(f"{path} is missing: is {folder} the output of the {step} training step?")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise RegistryError(f"{path} is not valid JSON ({error}); re-run the training step.") from None


def _check_metrics(payload: dict, spec: Spec, path: Path) -> dict[str, float]:
    missing = [key for key in REQUIRED_KEYS if key not in payload]
    block = payload.get(spec.key, {}) if spec.step == "supervised" else payload
    if not isinstance(block, dict):
        block = {}
    missing += [
        f"{spec.key}.{k}" if spec.step == "supervised" else k for k in spec.metric_keys if k not in block
    ]
    if missing:
        raise RegistryError(f"{path} lacks {', '.join(missing)}; re-run the training step to rewrite it.")
    bad = {k: block[k] for k in spec.metric_keys if not finite_number(block[k])}
    if bad:
        raise RegistryError(
            f"{path}: metric(s) {bad} are not finite numbers; the model cannot be registered."
        )
    return {key: float(block[key]) for key in spec.metric_keys}


def _verify_checksums(folder: Path, wanted: list[str], model_dir: str) -> dict:
    """Check ``wanted`` files and every file in and listed under ``model_dir`` against the manifest.

    The model folder is uploaded as a whole, so a file in it that the manifest does not list is refused too.
    """
    try:
        manifest = read_manifest(folder)
    except TrainingError as error:
        raise RegistryError(str(error)) from None
    recorded = manifest.get("artifacts", {})
    present = [p.relative_to(folder).as_posix() for p in (folder / model_dir).rglob("*") if p.is_file()]
    listed = [relative for relative in recorded if relative.startswith(f"{model_dir}/")]
    for relative in dict.fromkeys([*wanted, *listed, *sorted(present)]):
        path = folder / relative
        if not path.is_file():
            raise RegistryError(f"{path} is missing; re-run the training step that writes {folder}.")
        if relative not in recorded:
            raise RegistryError(f"{path} is not listed in {folder / MANIFEST}; re-run the training step.")
        if sha256_file(path) != recorded[relative]:
            raise RegistryError(
                f"{path} does not match the SHA-256 recorded in {folder / MANIFEST} when it was trained: "
                "the file changed since. Re-run the training step; never register a model you cannot trace."
            )
    return manifest


def collect(
    supervised_dir: str | Path, unsupervised_dir: str | Path, names: dict[str, str] | None = None
) -> list[Candidate]:
    """Check both training outputs and return the three models to register, or raise before any is.

    Args:
        supervised_dir: Output folder of ``ML/train_supervised.py``.
        unsupervised_dir: Output folder of ``ML/train_unsupervised.py``.
        names: Registered names keyed ``linear``, ``ridge``, ``kmeans`` (defaults for missing keys).

    Returns:
        Three verified candidates: linear, ridge, kmeans.

    Raises:
        RegistryError: Any check failed; the message names the file or option.
    """
    names = {**DEFAULT_NAMES, **(names or {})}
    for key, name in names.items():
        check_name(name, f"--{key}-model-name" if key != "kmeans" else "--unsupervised-model-name")
    if len(set(names.values())) != len(names):
        raise RegistryError(f"The three registered names must differ, got {names}.")
    folders = {"supervised": Path(supervised_dir).resolve(), "unsupervised": Path(unsupervised_dir).resolve()}
    for step, folder in folders.items():
        _check_folder(folder, f"--{step}-dir", f"ML/train_{step}.py")
    payloads = {step: _load_payload(folder, step) for step, folder in folders.items()}
    candidates = []
    for key, spec in SPECS.items():
        folder = folders[spec.step]
        metrics = _check_metrics(payloads[spec.step], spec, folder / METRICS_FILES[spec.step])
        manifest = _verify_checksums(folder, [METRICS_FILES[spec.step]], spec.key)
        model = check_model_folder(folder / spec.key, spec.model_type)
        lineage = manifest.get("lineage", {})
        candidates.append(Candidate(names[key], spec, folder, model, metrics, payloads[spec.step], lineage))
    return candidates
