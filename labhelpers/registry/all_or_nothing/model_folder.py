"""Check an MLflow model folder from a training output without running any code it contains.

Registration uploads the folder the training step wrote, as it is, and never loads the model: it imports
neither scikit-learn nor skops and unpickles nothing. It reads only what can be read without executing
anything: the ``MLmodel`` file (YAML, through ``yaml.safe_load``) and the structure of the model file. A skops
file is a zip archive whose ``schema.json`` names the estimator's class; a pickle (MLflow 2 has no skops
format) is walked opcode by opcode with :mod:`pickletools`, which reads the names a pickle would import
without importing or calling any of them.

What the SHA-256 in ``manifest.json`` protects against, precisely: a file changed, cut short or swapped *by
accident* between training and registration (a partial copy, two runs written to one folder, a sync
conflict). It proves nothing against someone who can write the folder, since they can rewrite the manifest
in the same folder. The class check below is likewise a check for damage, not a security boundary. Safety
comes from not executing: whatever the files hold is stored in the registry, not run here. Whoever later
loads a version runs its format's loader: skops refuses types it does not trust; a pickle runs code by
design, so load only versions whose origin you trust.
"""

from __future__ import annotations

import io
import json
import pickletools
import zipfile
from dataclasses import dataclass
from pathlib import Path

from labhelpers.foundation.errors import RegistryError
from labhelpers.training.outputs import MLMODEL

#: Opcodes that push a string a later STACK_GLOBAL may take as module or name.
_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "SHORT_BINSTRING", "BINSTRING"}


@dataclass(frozen=True)
class ModelFolder:
    """What registration needs from a checked model folder."""

    path: Path
    model_file: str  # relative to ``path``
    serialization_format: str
    model_class: str
    input_schema: list[dict]  # the signature's input columns (MLflow colspec)


def _read_mlmodel(path: Path) -> dict:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text())  # safe_load builds plain data only, never objects
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise RegistryError(f"{path} cannot be read ({error}); re-run the training step.") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("flavors"), dict):
        raise RegistryError(f"{path} is not an MLflow model description; re-run the training step.")
    return loaded


def _pickled_class(data: bytes) -> tuple[str, str]:
    """The first (module, name) a pickle imports: the class of the object it holds. Nothing is imported."""
    memo: list = []
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
        name = opcode.name
        if name in _STRINGS:
            strings.append(str(arg))
        elif name == "MEMOIZE":
            memo.append(strings[-1] if strings else None)
        elif name in ("BINGET", "LONG_BINGET", "GET") and int(str(arg)) < len(memo):
            strings.append(memo[int(str(arg))])
        elif name == "GLOBAL":
            module, _, attribute = str(arg).partition(" ")
            return module, attribute
        elif name == "STACK_GLOBAL" and len(strings) >= 2:
            return strings[-2], strings[-1]
    raise ValueError("it imports no class")


def _stored_class(path: Path, serialization_format: str) -> tuple[str, str]:
    """``(module, class)`` of the estimator in a model file, read without executing it."""
    if serialization_format == "skops":
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
        if not isinstance(schema, dict):
            raise ValueError("its schema.json holds no object")
        return str(schema.get("__module__", "")), str(schema.get("__class__", ""))
    if serialization_format in ("cloudpickle", "pickle"):
        data = path.read_bytes()
        module, name = _pickled_class(data)
        list(pickletools.genops(io.BytesIO(data)))  # the whole stream, to the STOP opcode: not cut short
        return module, name
    raise ValueError(f"its serialization format {serialization_format!r} is not one MLflow writes")


def check_model_folder(folder: Path, model_type: str) -> ModelFolder:
    """Check that ``folder`` is an MLflow scikit-learn model folder holding a ``model_type`` estimator.

    Args:
        folder: The model's folder in a training output (its files' checksums are verified by the caller).
        model_type: The estimator class expected, e.g. ``"Ridge"``.

    Raises:
        RegistryError: The folder, its MLmodel or its model file is missing, unreadable, or holds another
            kind of model. Nothing in the folder is executed to find out.
    """
    mlmodel_path = folder / MLMODEL
    if not mlmodel_path.is_file():
        raise RegistryError(
            f"{mlmodel_path} is missing; re-run the training step that writes {folder.parent}."
        )
    mlmodel = _read_mlmodel(mlmodel_path)
    sklearn = mlmodel["flavors"].get("sklearn")
    if not isinstance(sklearn, dict) or "python_function" not in mlmodel["flavors"]:
        raise RegistryError(f"{mlmodel_path} describes no scikit-learn model; re-run the training step.")
    model_file = str(sklearn.get("pickled_model", ""))
    path = folder / model_file
    if not model_file or not path.is_file():
        raise RegistryError(f"{path} is missing; re-run the training step that writes {folder.parent}.")
    fmt = str(sklearn.get("serialization_format", "cloudpickle"))
    # What a damaged file raises: not a zip, no schema.json in it (KeyError), bad JSON or pickle opcodes
    # (ValueError), a stream cut short (EOFError), an unreadable file (OSError). A bug is raised as it is.
    try:
        module, name = _stored_class(path, fmt)
    except (zipfile.BadZipFile, KeyError, ValueError, EOFError, OSError) as error:
        raise RegistryError(
            f"{path} cannot be read as a {fmt} model file ({type(error).__name__}: {error}); "
            "re-run the training step."
        ) from None
    if name != model_type or not module.startswith("sklearn."):
        raise RegistryError(f"{path} holds a {module}.{name}, expected a scikit-learn {model_type}.")
    inputs = (mlmodel.get("signature") or {}).get("inputs")
    schema = json.loads(inputs) if isinstance(inputs, str) else []
    return ModelFolder(folder, model_file, fmt, name, schema)
