"""The inference base images Azure ML supports for online deployments: the one list the lab checks against.

Azure ML keeps the list on its page "Prebuilt Docker images for inference" (:data:`SOURCE`), table
"Inference minimal base images"; an image not on it is not supported there. The page also says a tag from
``latest`` back to six months older is supported, so any tag of a listed image counts. The deployments'
YAML (``ML/deployment/*-deployment.yml``), the docs and their tests all check against
:data:`SUPPORTED_INFERENCE_IMAGES`; change the list here, with the page, and nowhere else.

The lab's deployments use ``minimal-py312-inference`` (Python 3.12, the image Azure's samples moved to from
``minimal-ubuntu22.04-py39-cpu-inference``, whose Python 3.9 is past its end of life), pinned by digest
(:data:`DEPLOYMENT_IMAGE`): a tag such as ``latest`` moves under you, and a digest names exactly one image.
Where the digest comes from: Azure ML's samples (Azure/azureml-examples) and the page above name this image
only as ``:latest``; the digest is the one Microsoft's own repository microsoft/physical-ai-toolchain pins
for it (:data:`DIGEST_SOURCE`), read there, not resolved here (no network: checked offline only for its
form). Resolve the current one yourself before class with ``docker buildx imagetools inspect
mcr.microsoft.com/azureml/minimal-py312-inference:latest`` (or ``crane digest``) and change it here.

The deployment's ``conda_file`` (``ML/deployment/environment/conda.yaml``) builds the model's environment on
top of the image with the same Python, 3.12, pinned there.
"""

from __future__ import annotations

#: Where Azure ML lists the inference images it supports.
SOURCE = "https://learn.microsoft.com/azure/machine-learning/concept-prebuilt-docker-images-inference"
#: The supported inference base images (repository without tag): CPU, its CUDA twin, and the Python 3.12 one.
SUPPORTED_INFERENCE_IMAGES = (
    "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cpu-inference",
    "mcr.microsoft.com/azureml/minimal-ubuntu22.04-py39-cuda11.8-gpu-inference",
    "mcr.microsoft.com/azureml/minimal-py312-inference",
)
#: The image both of the lab's deployments use (Python 3.12; the conda file pins the same Python on top).
DEPLOYMENT_IMAGE = (
    f"{SUPPORTED_INFERENCE_IMAGES[2]}@sha256:cfb7101d17e0d397f9369639b9873282c9ea386c709c434bb0100745f647c6c0"
)
#: Where the digest of :data:`DEPLOYMENT_IMAGE` was read (repository, path, commit).
DIGEST_SOURCE = (
    "microsoft/physical-ai-toolchain, scripts/security/generate-vex.sh (DEFAULT_IMAGE), "
    "commit b2a772575654e4e1eab4659dcfa7c736b0e09cc2"
)
#: The Python of :data:`DEPLOYMENT_IMAGE`, which the deployments' conda file pins too.
DEPLOYMENT_PYTHON = "3.12"


def is_pinned(image: str) -> bool:
    """Whether ``image`` names one image: a ``@sha256:`` digest (64 hex digits), or a tag but ``latest``."""
    import re

    if "@" in image:
        return re.fullmatch(r"sha256:[0-9a-f]{64}", image.split("@", 1)[1]) is not None
    tag = image.rsplit("/", 1)[-1].partition(":")[2]
    return bool(tag) and tag != "latest"


def image_repository(image: str) -> str:
    """``image`` without its tag or digest (``REPO:TAG`` or ``REPO@sha256:...``)."""
    name = image.strip().split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return name[: len(name) - len(last)] + last.split(":", 1)[0]


def is_supported_inference_image(image: str) -> bool:
    """Whether ``image`` is one of Azure ML's supported inference images (any tag)."""
    return image_repository(image) in SUPPORTED_INFERENCE_IMAGES


def unsupported_image_message(image: str, where: str) -> str:
    """The message for an image that is not on the list: which file, which image, and what to use instead."""
    return (
        f"{where}: inference image {image} is not on Azure ML's supported list ({SOURCE}); "
        f"use one of {', '.join(SUPPORTED_INFERENCE_IMAGES)} (e.g. {DEPLOYMENT_IMAGE}), and keep the Python "
        "version the model needs pinned in the conda file."
    )
