"""``GuardedGrading``: the grade kept out of the notebook's reach, its time and memory bounded."""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

import nbformat
from otter.plugins import AbstractOtterPlugin

from graded_networks.exercise import DEFAULT_LIMITS, Limits, load

from .common import grading_process, lesson_code_importable

MAX_ERRORS_REPORTED = 5

NO_PDF_NOTICE = (
    "This submission came without the PDF of its written answers.\n"
    "The notebook's export cell makes it; the autograder does not render notebooks."
)


def keep_submitted_pdf(config, submission_dir: pathlib.Path) -> None:
    """Never let otter render a submitted notebook into the PDF it uploads for manual grading.

    With a PDF wanted (``pdf`` or a Gradescope ``token``) and none submitted, otter would render the
    notebook in Chromium, as root, beside the hidden tests: HTML in a notebook (an iframe on a local file)
    could show the grader's files in a PDF the student then sees. So the submitted PDF is always used,
    and a submission without one gets a page that says so.
    """
    if not (config.token or config.pdf):
        return
    config.use_submission_pdf = True
    if any(submission_dir.glob("*.pdf")):
        return
    from matplotlib.figure import Figure

    page = Figure(figsize=(8.5, 11))
    page.text(0.1, 0.9, NO_PDF_NOTICE, fontsize=12, va="top", wrap=True)
    page.savefig(submission_dir / "no-written-answers.pdf")


class GuardedGrading(AbstractOtterPlugin):
    """Keep the grade out of the notebook's reach, and bound its time and memory.

    Configuration (optional: the engine's ``DEFAULT_LIMITS`` otherwise)::

        - grading_engine.otter_plugins.GuardedGrading:
            limits: my_lesson.exercises.LIMITS  # a graded_networks.exercise.Limits, which the notebook states

    Before the kernel starts (``before_grading``), in the grading process:

    - a submitted ``.OTTER_LOG`` is deleted unread: otter would unpickle it;
    - the PDF for manual grading is the submitted one, never one otter renders (``keep_submitted_pdf``);
    - the plugins' settings (the held-out seeds) are removed from ``otter_config.json`` on disk,
      which the notebook could otherwise read from ``../source``; otter and the plugins have read it;
    - otter stops trusting its kernel (see ``grading_engine.safeguards``): the kernel's results pickle is
      ignored, its log records are decoded without unpickling objects, and the notebook runs under the
      time budget, a cell that outlasts it interrupted, a dead kernel survived;
    - the kernel gets its memory cap, and this process adopts any process the notebook orphans;
    - whatever happens next, Gradescope finds a ``results.json`` (``results.guard_results``).

    After the notebook has run (``after_grading``), leftover processes are killed, so nothing the
    notebook started can write the results file after otter has, and the results' general output
    lists what went wrong while the notebook ran (time limit, dead kernel, cells that raised).
    """

    def before_grading(self, config) -> None:
        from otter.check.notebook import OTTER_LOG_FILENAME

        from .. import otter_fit, processes, results, safeguards, sandbox

        autograder_dir = pathlib.Path(config.autograder_dir)
        if not config.otter_run:  # Gradescope's run_otter.py; `otter run` reports errors itself
            results.guard_results(autograder_dir / "results" / "results.json")
        # fail closed: never grade with a guard that no longer holds, nor with software the zip does not pin
        otter_fit.check_otter_fits(otter_fit.read_pins(autograder_dir / "source" / "environment.yml"))
        pathlib.Path(OTTER_LOG_FILENAME).unlink(missing_ok=True)
        lesson_code_importable(autograder_dir)
        keep_submitted_pdf(config, autograder_dir / "submission")
        limits = self.limits()
        self._redact_config(autograder_dir / "source" / "otter_config.json")
        hidden = sandbox.package_paths(sandbox.PACKAGED_DATA + tuple(limits.hidden))
        grading = safeguards.Grading(sandbox.prepare(autograder_dir, autograder_dir / "submission", hidden=hidden))
        safeguards.ignore_kernel_results()
        safeguards.decode_log_records_safely()
        # the whole grading's budget, counted from this process's start: the notebook's ends early enough for it
        grading_deadline = time.monotonic() + limits.grading_s - processes.process_age_s()
        safeguards.install_guarded_executor(float(limits.time_s), grading, grading_deadline)
        if not config.otter_run and grading_process():
            results_path = autograder_dir / "results" / "results.json"
            processes.start_watchdog(grading_deadline, lambda: _out_of_time(grading, results_path, limits.grading_s))
        processes.adopt_orphans()
        grading.sandbox.add_startup("10-memory-limit.py", processes.memory_limit_startup(limits.memory_mb))
        grading.sandbox.add_startup("20-private-memory.py", processes.private_memory_startup())

    def limits(self) -> Limits:
        """The assignment's limits: the object its config names, or the engine's defaults."""
        named = (self.plugin_config or {}).get("limits")
        limits = load(named) if named else DEFAULT_LIMITS
        if not isinstance(limits, Limits):
            raise TypeError(f"GuardedGrading's limits {named!r} is not a graded_networks.exercise.Limits")
        return limits

    @staticmethod
    def _redact_config(path: pathlib.Path) -> None:
        try:
            settings = json.loads(path.read_text())
        except (OSError, ValueError):
            return
        settings["plugins"] = [p if isinstance(p, str) else next(iter(p)) for p in settings.get("plugins", [])]
        path.write_text(json.dumps(settings))

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        from ..safeguards import number_cells

        if not isinstance(submission, str):
            number_cells(submission)
        return submission

    def after_grading(self, results) -> None:
        from ..processes import kill_descendants
        from ..safeguards import installed_grading

        grading = installed_grading()
        stopped = kill_descendants()
        grading.sandbox.end()  # as root: every process of the grading's uid, whatever outran the scan above
        tail = grading.sandbox.log_tail()
        if tail.strip() and grading.report.incidents:  # for the instructor's log: what the kernel printed when something went wrong
            print(f"[autograder] the kernel's own output ended with:\n{tail}", file=sys.stderr, flush=True)
        notes = list(grading.report.incidents)
        if stopped:
            notes.append(f"The notebook left {stopped} background process(es) running; the autograder stopped them.")
        notes.extend(_cell_errors(results.notebook))
        if notes:
            results.set_output("While your notebook ran in the autograder:\n- " + "\n- ".join(notes))


def _out_of_time(grading, results_path: pathlib.Path, grading_s: int) -> None:
    """The whole grading's budget is spent: stop every process of the grading, write the results, and exit, before
    Gradescope's own timeout leaves the student with none."""
    from .. import results
    from ..processes import kill_descendants

    kill_descendants()
    grading.sandbox.end()
    results.write_fallback(
        results_path,
        f"The autograder ran out of time ({grading_s} s for the whole grading) while {grading.report.doing}. Nothing was graded. "
        "Make sure the notebook runs top to bottom well within the time limit the notebook states, and that "
        "evaluating your graded networks is quick.",
    )
    os._exit(1)


def _cell_errors(notebook: nbformat.NotebookNode | None) -> list[str]:
    """``cell N (`line`) raised NameError: ...`` for the first few submitted cells that raised."""
    from ..safeguards import CELL_KEY, cell_label

    found = []
    for cell in (notebook.cells if notebook is not None else []):
        if CELL_KEY not in cell.get("metadata", {}):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error" and out.get("ename") not in ("TimeLimitExceeded", "KeyboardInterrupt"):
                found.append(f"{cell_label(cell)} raised {out['ename']}: {out.get('evalue', '')[:200]}")
    if len(found) > MAX_ERRORS_REPORTED:
        found = found[:MAX_ERRORS_REPORTED] + [f"... and {len(found) - MAX_ERRORS_REPORTED} more cells raised errors."]
    return [line[0].upper() + line[1:] for line in found]


