"""Training: feature matrices, the three scikit-learn models and the two pipeline steps with their outputs
(each model saved as an MLflow model folder, see ``training.outputs``), the one held-out set every fare model
is scored on (``training.held_out``), a step logged as an MLflow run (``training.tracking``) and notebook
01's sweep of tracked runs (``training.sweep``); the options the ``ML/`` training scripts share
(``training.script_options``).

May import ``labhelpers.data``, ``labhelpers.files`` and ``labhelpers.foundation``.
"""
