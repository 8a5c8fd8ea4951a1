"""Processes: starting, finding and stopping a process group (the servers the lab starts).

``groups`` is shared by the local MLflow server (:mod:`labhelpers.local_server`), the served models
(:mod:`labhelpers.serving`) and the classroom stack (:mod:`labhelpers.classroom`): a group is known by its
id and its leader's start time, so a recycled pid is never taken for a server.

May import ``labhelpers.foundation`` only.
"""
