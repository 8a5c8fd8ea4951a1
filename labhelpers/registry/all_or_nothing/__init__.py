"""All or nothing: a registration batch lands whole, or leaves nothing behind that a reader would take for it.

- ``candidates`` (with ``model_folder``): nothing is sent unless all three trained model folders are present,
  match their checksums, hold the expected kind of model and complete metrics;
- ``upload`` (with ``run_record``): one model's version, from the run that trained it or a registration run;
- ``lease``: the tags that say whether a batch is finished and whether its process is alive (a heartbeat);
- ``undo``: what a failed batch created is removed, or left to repair once its lease has run out;
- ``repair``: batches a stopped process left pending are completed or removed;
- ``fallbacks``: the registry requests of batches and repair, each with a fallback every registry serves.

May import ``labhelpers.registry.capabilities``, ``throttling`` and ``client`` below it in the registry, and
``labhelpers.training``, ``labhelpers.tracking``, ``labhelpers.files`` and ``labhelpers.foundation``.
"""
