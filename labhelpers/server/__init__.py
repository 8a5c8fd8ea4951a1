"""Server: the local MLflow server (start, stop, status, state files, process handling) and tracking setup.

May import ``labhelpers.core`` only; it knows nothing of data, training or the registry.
"""
