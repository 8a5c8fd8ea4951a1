"""Tracking: which MLflow tracking server this process talks to, chosen explicitly and checked.

``connection`` resolves the URI (argument, ``$MLFLOW_TRACKING_URI``, else the local server), sets the MLflow
client's fail-fast timeouts, checks that the server answers, and signs in to an ``azureml://`` workspace
without prompts. Any server: the local one, the classroom's, an Azure ML workspace.

May import ``labhelpers.azure.mlflow_api`` (the Azure sign-in) and ``labhelpers.foundation``.
"""
