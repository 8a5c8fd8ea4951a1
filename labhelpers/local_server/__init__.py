"""Local server: the learner's own MLflow tracking server on 127.0.0.1 (SQLite and an artifact folder).

``control`` starts, stops and reports it (``make server``, ``python -m labhelpers server ...``); ``state``
keeps its files (pid, port, log) in its state folder, under a lock.

May import ``labhelpers.processes`` and ``labhelpers.foundation``; it knows nothing of data, training, the
registry or which server a client uses (that is :mod:`labhelpers.tracking`).
"""
