"""Azure ML's MLflow API as a client meets it: sign-in for ``azureml://`` URIs, and a stand-in of its
refusals.

- ``signin``: a non-interactive credential with a deadline, installed where the azureml-mlflow plugin would
  otherwise build its own prompting chain;
- ``rules``: a loopback proxy before a real MLflow server that refuses what Azure ML's MLflow API refuses,
  for tests and for rehearsing the course (``python -m labhelpers server azure-rules``).

May import ``labhelpers.foundation`` only: it sits below the tracking setup that signs in through it.
"""
