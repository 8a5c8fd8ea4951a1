"""Azure ML, all of it, in two rooms at two levels of the stack (pyproject.toml's import contracts).

- ``azure.ml``: the workspace through azure-ai-ml and ``az ml``: connection with explicit credentials,
  the pipeline job and its environment, the deployment of what notebook 04 pinned, the inference image, and
  the cleanup after class. Above the registry it deploys from.
- ``azure.mlflow_api``: Azure ML's MLflow API as a client meets it: the sign-in for ``azureml://`` tracking
  URIs that never waits on a prompt, and the loopback stand-in that refuses what Azure ML refuses. Below the
  tracking setup, which signs in through it.

This ``__init__`` imports nothing. Nothing here contacts Azure on import: credentials and clients are built on
first use.
"""
