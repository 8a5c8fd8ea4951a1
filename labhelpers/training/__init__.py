"""Training: feature matrices, the three scikit-learn models and the two pipeline steps with their outputs.

May import ``labhelpers.data`` and ``labhelpers.core``.
"""
