"""Serving: the pinned production version served locally (Azure's inference server, MLflow's) and called.

May import ``labhelpers.registry`` and every room below it; not ``azure.ml``, ``classroom`` or
``course``.
"""
