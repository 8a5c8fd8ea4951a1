"""Azure ML: workspace connection with explicit credentials, the pipeline job and its environment, the
``az ml`` commands that deploy what notebook 04 pinned, the inference image, and the cleanup after class.

May import ``labhelpers.registry`` and every room below it; not ``serving`` or ``course``. Nothing here
contacts Azure on import: credentials and clients are built on first use.
"""
