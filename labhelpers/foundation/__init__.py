"""Foundation: what every room shares: the errors, the configuration (paths, model names, ports, defaults),
learner namespaces and provenance (the commit and owner recorded with every run and version).

- ``errors``: :class:`~labhelpers.foundation.errors.LabError` and its kinds, each with its exit status;
- ``config``: the project's paths, the seed's model names, the local server's port and folder, defaults;
- ``learner``: a learner's namespace on a shared registry (names, experiment, tag);
- ``provenance``: the git commit (and whether it is dirty) and the owner a run or version records.

The bottom room: it imports only the standard library (provenance runs ``git``) and no other ``labhelpers``
room, so every room may import it.
"""
