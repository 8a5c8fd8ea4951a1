"""The local server's process: MLflow's tracking server (its FastAPI app under uvicorn) in one process.

``mlflow server`` imports MLflow's whole command line (about 5 s of CPU here, before anything is served)
only to start a second process, ``python -m uvicorn ... mlflow.server.fastapi_app:app``, which imports the
server again. This module is that second process on its own: for the options the local server uses
(``--backend-store-uri sqlite:///... --artifacts-destination DIR --serve-artifacts --host H --port P
--workers N``) it does what ``mlflow server`` does, in the same order:

1. the environment the server's app reads is set before MLflow's server is imported (the app installs its
   security middleware, localhost-only by default, when it finds it);
2. the stores are opened as the command line opens them (a new database is migrated; one of another MLflow
   is refused, with MLflow's own message in the log and exit status 1);
3. uvicorn serves ``mlflow.server.fastapi_app:app`` with MLflow's own log configuration (one worker: the
   local server's; uvicorn then runs it in this very process).

The environment's names are MLflow's internal ones (``mlflow.server.constants``): ``tests/unit/local_server/
test_serve.py`` compares what this module sets with what MLflow's own ``mlflow server`` passes its uvicorn, so
an MLflow that changes them fails there, not in a learner's course. An MLflow without the FastAPI app (MLflow
2, which the registry tests also run against) is started with ``mlflow server`` instead
(:func:`labhelpers.local_server.control.start` chooses).

Run as ``python -m labhelpers.local_server.serve --backend-store-uri URI --artifacts-destination DIR
--host HOST --port PORT [--workers N]``. May import: the standard library, then MLflow and uvicorn (it is the
server's process; nothing else of labhelpers).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

#: What the local server serves: MLflow's tracking server (REST API, UI, artifact proxy) as a FastAPI app.
APP = "mlflow.server.fastapi_app:app"
#: Where ``mlflow server`` tells its uvicorn the artifacts of new runs go when it proxies them.
PROXIED_ARTIFACT_ROOT = "mlflow-artifacts:/"


def server_environment(backend_store_uri: str, artifacts_destination: str) -> dict[str, str]:
    """The variables ``mlflow server`` sets for its uvicorn process, for the local server's options."""
    return {
        "_MLFLOW_SERVER_FILE_STORE": backend_store_uri,
        "_MLFLOW_SERVER_REGISTRY_STORE": backend_store_uri,
        "_MLFLOW_SERVER_ARTIFACT_ROOT": PROXIED_ARTIFACT_ROOT,
        "_MLFLOW_SERVER_SERVE_ARTIFACTS": "true",
        "_MLFLOW_SERVER_ARTIFACT_DESTINATION": artifacts_destination,
        "_MLFLOW_SGI_NAME": "uvicorn",
        # the command line's defaults for its --secrets-cache-ttl and --secrets-cache-max-size
        "MLFLOW_SERVER_SECRETS_CACHE_TTL": "60",
        "MLFLOW_SERVER_SECRETS_CACHE_MAX_SIZE": "1000",
        # the command line's own setting, inherited by its uvicorn: no workspaces unless asked for
        "MLFLOW_ENABLE_WORKSPACES": os.environ.get("MLFLOW_ENABLE_WORKSPACES") or "false",
    }


def mlflow_server_folder() -> Path | None:
    """The installed MLflow's ``mlflow/server`` folder, found without importing MLflow (None: no MLflow)."""
    import importlib.util

    spec = importlib.util.find_spec("mlflow")
    return Path(spec.origin).parent / "server" if spec is not None and spec.origin is not None else None


def log_config() -> Path:
    """MLflow's uvicorn log configuration, as ``mlflow server`` passes it."""
    folder = mlflow_server_folder()
    if folder is None:
        raise SystemExit("MLflow is not installed in this Python: run `make venv`.")
    return folder / "uvicorn_log_config.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backend-store-uri", required=True)
    parser.add_argument("--artifacts-destination", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    os.environ.update(server_environment(args.backend_store_uri, args.artifacts_destination))
    import uvicorn
    from mlflow.server.handlers import initialize_backend_stores

    try:
        initialize_backend_stores(args.backend_store_uri, args.backend_store_uri, PROXIED_ARTIFACT_ROOT)
    except Exception as error:  # what `mlflow server` logs and exits with: control reads the log's tail
        logger = logging.getLogger("mlflow.server")
        logger.error("Error initializing backend store")
        logger.exception(error)
        return 1
    uvicorn.run(APP, host=args.host, port=args.port, workers=args.workers, log_config=str(log_config()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
