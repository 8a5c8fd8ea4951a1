"""``python -m labhelpers azure``: connect to an Azure ML workspace and submit the training pipeline."""

from __future__ import annotations

import argparse

from labhelpers.cli import options


def _add_workspace_options(parser: argparse.ArgumentParser) -> None:
    from labhelpers.azure.ml.connect import CREDENTIALS

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
    from labhelpers.azure.ml.connect import connect

    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    print(f"Azure ML workspace: {found.workspace}")
    print(f"Tracking URI: {found.tracking_uri}")
    return 0


def _azure_submit(args: argparse.Namespace) -> int:
    from labhelpers.azure.ml.connect import connect
    from labhelpers.azure.ml.pipeline import submit_pipeline
    from labhelpers.foundation.learner import current_learner

    current_learner(args.learner)  # an invalid learner name fails before signing in
    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    submit_pipeline(
        found,
        pipeline=args.pipeline,
        compute=args.compute,
        data=args.data,
        experiment=args.experiment,
        owner=args.owner,
        learner=args.learner,
        create_environment=args.create_environment,
        stream=args.stream,
    )
    return 0


def _azure_endpoint(args: argparse.Namespace) -> int:
    from labhelpers.azure.ml.deployment import RUN_DEPLOYMENT_DIR, check_deployment_dir, deployment_steps
    from labhelpers.foundation.learner import namespace

    names = namespace(args.learner)
    folder = args.deployment_dir or RUN_DEPLOYMENT_DIR
    pinned = check_deployment_dir(folder, names)
    print(f"Your endpoint name: {names.endpoint}")
    print(f"Deployment files: {folder} (production pinned at {pinned} by notebook 04)")
    for step in deployment_steps(folder, names.endpoint):
        print(f"\n# {step.when}")
        print("\n".join(step.commands))
    return 0


def _azure_cleanup(args: argparse.Namespace) -> int:
    from labhelpers.azure.ml.cleanup import plan_cleanup, run_cleanup
    from labhelpers.azure.ml.connect import connect
    from labhelpers.foundation.learner import check_learner

    learner = check_learner(args.learner)  # before signing in
    found = connect("azure", credential=args.credential, config_path=args.config, timeout=args.timeout)
    plan = plan_cleanup(found.ml_client, learner, args.instance)
    print(plan.describe(args.delete_compute))
    if args.dry_run or plan.empty:
        print("Nothing changed" + (" (--dry-run)." if args.dry_run else ": nothing to clean up."))
        return 0
    if not args.yes and input("Type yes to do this: ").strip().lower() != "yes":
        print("Nothing changed.")
        return 1
    run_cleanup(found.ml_client, plan, delete_compute=args.delete_compute)
    return 0


def _add_cleanup(actions: options.Subcommands) -> None:
    text = (
        "After class: list, then delete the learner's endpoint (with its deployments), stop (or delete) "
        "their compute instance and archive their model versions."
    )
    cleanup = actions.add_parser("cleanup", help=text, description=text)
    _add_workspace_options(cleanup)
    options.add_learner(cleanup, required="The learner to clean up after (required).")
    cleanup.add_argument(
        "--instance",
        default=None,
        metavar="NAME",
        help="The learner's compute instance (default: ci-NAME, as docs/azure.md creates it).",
    )
    cleanup.add_argument(
        "--delete-compute", action="store_true", help="Delete the compute instance instead of stopping it."
    )
    options.add_dry_run(cleanup, "Only list what would be done; change nothing.")
    options.add_yes(cleanup)
    cleanup.set_defaults(handler=_azure_cleanup)


def add_azure_commands(subparsers: options.Subcommands) -> None:
    """Add ``azure connect|submit|endpoint|cleanup``.

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
    text = (
        "Print your endpoint name and the az ml commands that deploy what notebook 04 pinned, update, "
        "invoke, debug and delete it."
    )
    endpoint = actions.add_parser("endpoint", help=text, description=text)
    options.add_deployment_dir(
        endpoint,
        "The folder notebook 04 pinned production in (default: outputs/course/deployment); never the "
        "tracked templates in ML/deployment.",
        metavar="PATH",
    )
    options.add_learner(endpoint)
    endpoint.set_defaults(handler=_azure_endpoint)
    _add_cleanup(actions)


def _add_submit(actions: options.Subcommands) -> None:
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
    options.add_learner(submit)
    submit.add_argument("--stream", action="store_true", help="Wait for the pipeline and stream its logs.")
    submit.set_defaults(handler=_azure_submit)
