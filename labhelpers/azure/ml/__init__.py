"""Azure ML workspace: connection with explicit credentials, the pipeline job and its environment, the ``az
ml`` commands that deploy what notebook 04 pinned, the inference image, and the cleanup after class.

May import ``labhelpers.registry`` and every room below it; not ``serving``, ``classroom`` or ``course``.
Inside it, ``pipeline`` imports ``connect``, which imports ``workspace``, never the reverse.
"""
