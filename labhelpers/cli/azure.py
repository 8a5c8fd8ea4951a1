"""``python -m labhelpers azure``: connect to an Azure ML workspace and submit the training pipeline."""

from __future__ import annotations

import argparse

from labhelpers.cli import options


def _add_workspace_options(parser: argparse.ArgumentParser) -> None:
    from labhelpers.azure.connect import CREDENTIALS

    parser.add_argument(
        "--credential",
        choices=CREDENTIALS,
        default="default",
        help="How to sign in: default (service principal variables, az login...; managed identity only "
        "on Azure compute), cli (`az login` only) or managed-identity (default: %(default)s).",
    )
    parser.add_argument(
        "--config",
        default=None,
        metavar="PATH",
        help="The workspace's config.json, or a folder to search upwards from (default: "
        "$AZURE_SUBSCRIPTION_ID, $AZURE_RESOURCE_GROUP and $AZUREML_WORKSPACE_NAME, else "
        ".azureml/config.json from the working folder upwards).",
    )
    options.add_timeout(
        parser, 10.0, "Seconds the sign-in and workspace lookup may take (default: %(default)g)."
    )


def _azure_connect(args: argparse.Namespace) -> int:
    from labhelpers.azure.connect import connect

    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    print(f"Azure ML workspace: {found.workspace}")
    print(f"Tracking URI: {found.tracking_uri}")
    return 0


def _azure_submit(args: argparse.Namespace) -> int:
    from labhelpers.azure.connect import connect
    from labhelpers.azure.pipeline import submit_pipeline

    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    submit_pipeline(
        found,
        pipeline=args.pipeline,
        compute=args.compute,
        data=args.data,
        experiment=args.experiment,
        owner=args.owner,
        create_environment=args.create_environment,
        stream=args.stream,
    )
    return 0


def _azure_endpoint(args: argparse.Namespace) -> int:
    from labhelpers.azure.deployment import deployment_commands
    from labhelpers.core.learner import namespace

    print(f"Your endpoint name: {namespace().endpoint}")
    print("\n".join(deployment_commands(args.deployment_dir)))
    return 0


def add_azure_commands(subparsers: options.Subcommands) -> None:
    """Add ``azure connect|submit|endpoint``.

    Args:
        subparsers: The top-level parser's subparsers object.
    """
    actions = options.add_group(
        subparsers,
        "azure",
        help="Connect to an Azure ML workspace or submit the training pipeline to it.",
        description="Use an Azure ML workspace instead of the local MLflow server (see docs/azure.md).",
    )
    text = "Find the workspace, sign in, and print its MLflow tracking URI."
    connect = actions.add_parser("connect", help=text, description=text)
    _add_workspace_options(connect)
    connect.set_defaults(handler=_azure_connect)
    _add_submit(actions)
    text = "Print your endpoint name and the az ml commands that create, invoke and delete it."
    endpoint = actions.add_parser("endpoint", help=text, description=text)
    options.add_deployment_dir(
        endpoint, "The deployment YAML folder (default: ML/deployment).", metavar="PATH"
    )
    endpoint.set_defaults(handler=_azure_endpoint)


def _add_submit(actions) -> None:
    text = "Submit ML/pipeline.yaml (train both steps, then register) and print its Studio address."
    submit = actions.add_parser("submit", help=text, description=text)
    _add_workspace_options(submit)
    submit.add_argument(
        "--pipeline",
        default=None,
        metavar="PATH",
        help="Pipeline YAML to submit (default: ML/pipeline.yaml).",
    )
    submit.add_argument(
        "--compute", default=None, help="Compute cluster to run on (default: the YAML's cpu-cluster)."
    )
    submit.add_argument(
        "--data",
        default=None,
        help="Trips to train on: azureml:NAME:VERSION, azureml:NAME@latest, an https URL or a local file "
        "(default: the shipped sample, uploaded).",
    )
    submit.add_argument(
        "--experiment", default=None, help="Experiment name (default: the YAML's taxi-model-registry)."
    )
    submit.add_argument(
        "--owner",
        default=None,
        help="Recorded as the registered versions' owner (default: $LAB_OWNER, else your login name).",
    )
    submit.add_argument(
        "--create-environment",
        action="store_true",
        help="Create or update the job environment taxi-ml-env from ML/environment first "
        "(needed once per workspace).",
    )
    submit.add_argument("--stream", action="store_true", help="Wait for the pipeline and stream its logs.")
    submit.set_defaults(handler=_azure_submit)
