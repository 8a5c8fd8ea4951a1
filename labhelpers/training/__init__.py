"""Training: feature matrices, the three scikit-learn models and the two pipeline steps with their outputs
(each model saved as an MLflow model folder, see ``training.outputs``).

May import ``labhelpers.data`` and ``labhelpers.core``.
"""
