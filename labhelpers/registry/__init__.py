"""Registry: the lessons a notebook opens (``register_models``, ``promote``), the catalog, pins and
references, and the all-or-nothing machinery behind them.

- ``register``: verify the training outputs, then register the three models as one batch (the lesson's
  steps, top-down); ``promotion``: candidate -> validated -> production through gates, rollback, history;
- ``catalog``, ``references``, ``pinning``, ``moves``, ``validation``: what a notebook reads and shows;
- ``all_or_nothing``: a registration lands whole or not at all: candidates checked before anything is sent,
  a lease while a batch works, undo on failure, repair of what a stopped process left;
- ``capabilities``, ``throttling``, ``client``: what the registry can do (learned from its answers), Azure
  ML's throttling, and the typed ``MlflowClient`` protocol every ``client`` parameter uses.

May import ``labhelpers.training``, ``labhelpers.data``, ``labhelpers.tracking``, ``labhelpers.files`` and
``labhelpers.foundation``. Its own modules are layered in that order (pyproject.toml).
"""
