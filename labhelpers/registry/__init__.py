"""Registry: all-or-nothing registration batches and their repair, version references, promotion gates, pins
and the catalog.

May import ``labhelpers.training``, ``labhelpers.data``, ``labhelpers.server`` and ``labhelpers.core``.
"""
