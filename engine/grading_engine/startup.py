"""The engine's first code in Gradescope's entry point, before otter is imported.

``grading_engine_startup.pth``, installed with the engine, imports this module when any Python of the grading
image starts; it acts only in otter's own ``run_otter.py`` (the zip's entry point), and there:

- from then on, whatever happens, Gradescope finds a ``results.json`` (:func:`results.guard_results`): otter reads
  the submitted notebook before it loads any plugin, so a file that is not a notebook would otherwise leave none;
- the grading process stays lean: jsonschema (imported by otter through nbformat) would import ``rfc3987_syntax``,
  which builds an IRI grammar at import (3.6 s of every grading) for a format check grading never makes; and
  pandas, which otter uses only for its summary table once grading is done, loads on first use (37 MB less
  while the notebook runs).
"""

import pathlib
import sys

ENTRY_POINT = "run_otter.py"


def _start() -> None:
    script = pathlib.Path(sys.argv[0]) if getattr(sys, "argv", None) and sys.argv[0] else None
    if script is None or script.name != ENTRY_POINT or script.resolve().parent.name != "source":
        return
    sys.modules.setdefault("rfc3987_syntax", None)
    from .lazy_imports import defer_imports
    from .results import guard_results

    defer_imports("pandas")
    guard_results(script.resolve().parent.parent / "results" / "results.json")  # <autograder_dir>/source/run_otter.py


_start()
