"""The papermill engine of a course run: nbclient's, writing the executed notebook once, not at every cell.

papermill's own engine writes the whole notebook (validated, then serialised) when each cell starts and again
when it ends: about 4 s of a course run, spent between cells while the kernel and the server wait. This engine
runs the same nbclient execution without those writes. papermill still writes the executed notebook at the
end, and on a failing cell before it raises; when the run stops otherwise (a cell timed out, the kernel
died), this engine writes what ran so far before the error goes on, so the executed notebook is kept for
reading as before.

:data:`ENGINE` is the name :func:`labhelpers.course.run.run_notebook` passes papermill; importing this module
registers it. May import: papermill (it is papermill's extension), nothing of labhelpers.
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, papermill_engines
from papermill.iorw import write_ipynb

#: The engine's name for ``papermill.execute_notebook(engine_name=...)``.
ENGINE = "labhelpers-write-once"


class WriteOnceEngine(NBClientEngine):
    """nbclient through papermill, the executed notebook written once (by papermill, or here on a stop)."""

    @classmethod
    def execute_notebook(
        cls, nb: Any, kernel_name: str, output_path: str | None = None, **kwargs: Any
    ) -> Any:
        try:
            return super().execute_notebook(nb, kernel_name, output_path=None, **kwargs)
        except BaseException:
            if output_path:  # nbclient filled ``nb`` in place: its cells as far as they ran
                write_ipynb(nb, output_path)
            raise


papermill_engines.register(ENGINE, WriteOnceEngine)
