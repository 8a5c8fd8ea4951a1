"""Registry: all-or-nothing registration batches, version references, promotion gates, pins and the catalog.

May import ``labhelpers.training``, ``labhelpers.data``, ``labhelpers.server`` and ``labhelpers.core``.
"""
