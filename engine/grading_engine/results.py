"""Whatever happens in the grading process, Gradescope finds a ``results.json`` with a score and an explanation.

Otter's ``run_otter.py`` writes one for the errors it expects (two notebooks, no notebook, ...), but any other
exception (a corrupt notebook file, a guard that fails closed, a bug) leaves none, and Gradescope would show the
student only "The autograder failed to execute correctly". The engine's startup hook (``startup.py``) calls
:func:`guard_results` before otter is even imported, so the zip's entry point can stay otter's own (what
``otter assign`` writes); ``GuardedGrading`` calls it too, in case the image was installed without the hook.
"""

from __future__ import annotations

import atexit
import json
import pathlib
import sys
import traceback

GRADED_DATA = "graded-questions.json"
"""Beside ``results.json``: what ``HeldOutGrading`` measured per question, as data, for ``extra_data``."""


def fallback_results(error: BaseException | None) -> dict:
    """A zero score whose message says why the submission could not be graded."""
    from .otter_fit import SafeguardError
    from .sandbox import SandboxError

    if isinstance(error, (SafeguardError, SandboxError)):  # the autograder's fault, not the submission's
        return {
            "score": 0,
            "output": f"The autograder could not grade any submission safely: {error}\n\nYour work is kept; "
            "it will be graded once your instructor has fixed the autograder.",
            "tests": [],
        }
    reason = f"{type(error).__name__}: {error}" if error is not None else "grading stopped before it wrote its results"
    return {
        "score": 0,
        "output": (
            f"The autograder could not grade this submission: {reason}\n\n"
            "Check that you submitted the assignment's notebook (a single .ipynb file that opens in "
            "JupyterLab), saved after running it, then submit again. If this persists, tell your instructor."
        ),
        "tests": [],
    }


def guard_results(results: pathlib.Path) -> None:
    """From now until this process exits, make sure ``results`` ends up written.

    A stale file is removed (nothing but this run's grader writes what Gradescope reads). At exit: if otter wrote
    the results, the held-out measurements are added as data (``extra_data``, which Gradescope keeps and does not
    show to students); if it did not, a zero with the reason is written. Tracebacks still go to the log, which
    Gradescope shows to instructors only.
    """
    if getattr(sys.excepthook, "guards", None) == results:  # the startup hook guards it already
        return
    results.unlink(missing_ok=True)
    results.with_name(GRADED_DATA).unlink(missing_ok=True)
    raised: list[BaseException] = []
    previous = sys.excepthook

    def remember(kind, error, tb) -> None:
        raised.append(error)
        previous(kind, error, tb)

    remember.guards = results  # the hook itself says what it guards: no module state
    sys.excepthook = remember
    atexit.register(_finish, results, raised)


def _finish(results: pathlib.Path, raised: list[BaseException]) -> None:
    try:
        if results.exists():
            _add_graded_data(results)
        elif results.parent.is_dir():
            results.write_text(json.dumps(fallback_results(raised[-1] if raised else None), indent=4))
    except Exception:  # at exit nothing else can report it
        traceback.print_exc()


def write_fallback(results: pathlib.Path, message: str) -> None:
    """Write a zero with ``message`` as Gradescope's results, unless results are written already."""
    if results.parent.is_dir() and not results.exists():
        results.write_text(json.dumps({"score": 0, "output": message, "tests": []}, indent=4))


def _add_graded_data(results: pathlib.Path) -> None:
    graded = results.with_name(GRADED_DATA)
    if graded.is_file():
        content = json.loads(results.read_text())
        content.setdefault("extra_data", {})["questions"] = json.loads(graded.read_text())
        results.write_text(json.dumps(content, indent=4))
