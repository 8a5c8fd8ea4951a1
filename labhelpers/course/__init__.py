"""Course: everything around the notebooks, and the top room below the command line (may import every other).

- ``run``: execute notebooks 01-05 with papermill, parameters by name, a run's own deployment folder;
- ``session``: what the notebooks call between lessons (one-line errors, run folders, the retraining month);
- ``exercises``: the "Your turn" tasks' checks, ``check("02-1")``;
- ``outputs``: the sanitized outputs stored in the committed notebooks, from a run on a throwaway server;
- ``screenshots``: Debian's chromium under Playwright, notebook 03's click path and pictures;
- ``summary`` and ``plots``: the registry after the course, and the charts the notebooks show.
"""
