"""Classroom: one shared registry for a cohort, with accounts, learner namespaces, progress and reset.

``roster`` reads the learner list and keeps the generated passwords; ``tls`` supplies the certificate;
``postgres`` runs the PostgreSQL server that holds the registry; ``stack`` starts PostgreSQL plus an MLflow
server with the classroom's app over TLS (``auth_app``: MLflow's ``basic-auth`` plus the learner rules of
``policy``, which keep learners apart: docs/security.md); ``accounts`` creates the learners' accounts and
their namespaces on it; ``progress`` and ``reset`` read and clean the registry (classroom, local or Azure ML).

May import ``labhelpers.registry`` and every room below it (``tracking``, ``processes``, ``files``,
``foundation``...); not ``azure.ml``, ``serving`` or ``course``.
"""
