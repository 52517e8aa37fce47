"""The engine's first code in Gradescope's entry point, before otter is imported.

``grading_engine_startup.pth``, installed with the engine, imports this module when any Python of the grading
image starts; it acts only in otter's own ``run_otter.py`` (the zip's entry point), and there:

- from then on, whatever happens, Gradescope finds a ``results.json`` (:func:`results.guard_results`): otter reads
  the submitted notebook before it loads any plugin, so a file that is not a notebook would otherwise leave none;
- the submission is made into one notebook with the course's own code beside it (:func:`submission.tidy`): a zip of
  the whole handed-out folder would otherwise have the kernel import the student's copy of the lesson and engine;
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
    from .submission import tidy

    defer_imports("pandas")
    autograder_dir = script.resolve().parent.parent  # <autograder_dir>/source/run_otter.py
    guard_results(autograder_dir / "results" / "results.json")
    for note in tidy(autograder_dir):  # before otter copies the support files: the autograder's, never the student's
        print(f"[autograder] submission: {note}", file=sys.stderr, flush=True)


_start()
