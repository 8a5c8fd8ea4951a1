"""Course: everything around the notebooks, and the top room below the command line (may import every other).

- ``run``: execute notebooks 01-06 with papermill, in order, each in a kernel started ahead;
- ``notebooks``: which notebooks, in what order, the parameters each declares, a run's own deployment folder;
- ``kernels``: this venv's Jupyter kernel, started ahead of its notebook (``AheadKernel``);
- ``session``: what the notebooks call between lessons (one-line errors, run folders, the retraining month);
- ``exercises``: the "Your turn" tasks' checks, ``check("02-1")``;
- ``summary`` and ``plots``: the registry after the course, and the charts the notebooks show.

The maintainer's tools that store the notebooks' outputs and take the MLflow UI screenshots live outside the
package, in ``tools/`` (``tools/store_outputs.py``, ``tools/screenshots.py``).
"""
