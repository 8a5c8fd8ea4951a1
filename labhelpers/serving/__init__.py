"""Serving: the pinned production version served locally and called over REST.

May import ``labhelpers.registry`` and every room below it; not ``azure`` or ``course``.
"""
