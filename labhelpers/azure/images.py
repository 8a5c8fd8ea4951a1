"""The inference base images Azure ML supports for online deployments: the one list the lab checks against.

Azure ML keeps the list on its page "Prebuilt Docker images for inference" (:data:`SOURCE`), table
"Inference minimal base images"; an image not on it is not supported there. The page also says a tag from
``latest`` back to six months older is supported, so any tag of a listed image counts. The deployments'
YAML (``ML/deployment/*-deployment.yml``), the docs and their tests all check against
:data:`SUPPORTED_INFERENCE_IMAGES`; change the list here, with the page, and nowhere else.

The image only supplies the operating system and the inference server's runtime: the deployment's
``conda_file`` (``ML/deployment/environment/conda.yaml``) builds its own environment on top of it, with the
Python version the model needs pinned there, so the image's own Python (3.9 in the CPU image) does not
decide the model's.
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
#: The image both of the lab's deployments use (CPU; the conda file pins Python 3.10 on top of it).
DEPLOYMENT_IMAGE = f"{SUPPORTED_INFERENCE_IMAGES[0]}:latest"


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
