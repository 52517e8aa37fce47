"""The grading engine's otter-grader plugins, enabled in a master notebook's ``ASSIGNMENT CONFIG``::

    generate:
      plugins:
        - grading_engine.otter_plugins.GuardedGrading: {limits: my_lesson.exercises.LIMITS}
        - grading_engine.otter_plugins.SeedTorch: {seed: 42}
        - grading_engine.otter_plugins.LeanKernel
        - grading_engine.otter_plugins.HeldOutGrading: {questions: {q1: my_lesson.exercises.EXERCISE}}

``GuardedGrading`` comes first: it numbers the notebook's cells before the others add to them.
Students see nothing of them: they only run in the autograder. The lesson's own code is found by the dotted
names in this config; in the autograder it lives in the zip's ``files/`` (see :func:`lesson_code_importable`).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import secrets
import sys
import time
from dataclasses import replace

import nbformat
from otter.plugins import AbstractOtterPlugin

from graded_networks.exercise import DEFAULT_LIMITS, GradedExercise, Limits, load

from . import lazy_imports
from .startup import ENTRY_POINT

DEFAULT_SEED = 42


class SeedTorch(AbstractOtterPlugin):
    """Prepend ``torch.manual_seed(seed)`` to every code cell, as otter's ``seed`` does for numpy and random.

    Otter's own seeding leaves torch alone, but the lesson's networks draw their initial weights from
    torch: without this a regrade could differ. Seeding every cell (not only the first) keeps each
    cell's draws independent of the cells before it, so the demo cells skipped at grading time do not
    change what the exercise cells draw.
    """

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        seed = int((self.plugin_config or {}).get("seed", DEFAULT_SEED))
        line = f"import torch as _torch_seeding; _torch_seeding.manual_seed({seed})\n"
        if isinstance(submission, str):  # a .py submission
            return line + submission
        for cell in submission.cells:
            # cell magics (%%time, ...) must stay on the first line
            if cell.cell_type == "code" and not cell.source.startswith("%%"):
                cell.source = line + cell.source
        return submission


# Runs in the grading kernel before any cell, in a function so that the notebook's namespace stays
# clean. jsonschema (imported by otter through nbformat) imports rfc3987_syntax when it is installed,
# and that module builds an Earley parser for IRIs at import: 3.6 s of every grading, for a format
# check that grading never uses. pandas and nbconvert come in with otter, which uses them in the
# kernel only to export (a student's PDF, not graded here): deferred, the kernel peaks at 366 MB
# instead of 399. torch's compiler comes in with a network's first optimizer, which needs two of its
# names only while nothing compiles (lazy_imports.defer_torch_compiler): 1.9 s of every grading.
_LEAN_STARTUP = """\
def _lean_kernel():  # see grading_engine/otter_plugins.py: LeanKernel
    import sys
    sys.modules.setdefault("rfc3987_syntax", None)
    lazy_imports = {{"__name__": "grading_engine.lazy_imports"}}
    exec({lazy_imports_source!r}, lazy_imports)
    lazy_imports["defer_imports"]("pandas", "nbconvert")
    lazy_imports["defer_torch_compiler"]()
_lean_kernel()
del _lean_kernel
"""

def _add_kernel_startup(name: str, source: str) -> None:
    """Have the grading kernel run ``source`` at start-up, before any cell (an IPython startup file).

    The startup folder is in the kernel's own home folder (``sandbox.current()``), one per grading.
    """
    from .sandbox import current

    ipython_dir = current().home / ".ipython"
    os.environ["IPYTHONDIR"] = str(ipython_dir)  # an unsandboxed kernel inherits it; kernel_launch.py sets the same
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / name).write_text(source)


class LeanKernel(AbstractOtterPlugin):
    """Start the grading kernel lean: one torch thread, figures not rendered, no IRI grammar, pandas,
    nbconvert and torch's compiler only if used.

    Grading budgets are small (Gradescope's default is half a vCPU): the lesson's networks are tiny,
    so a second torch thread only fights the first for the core, and rendering figures nobody sees
    costs seconds. The kernel inherits these settings from the grading process's environment.
    """

    def before_grading(self, config) -> None:
        # the kernel may not find the engine before the notebook's first cell, so it gets the source
        source = pathlib.Path(lazy_imports.__file__).read_text()
        _add_kernel_startup("00-lean-kernel.py", _LEAN_STARTUP.format(lazy_imports_source=source))
        os.environ.update(
            {
                "OMP_NUM_THREADS": "1",  # torch's intra-op threads
                "MKL_NUM_THREADS": "1",
                "MPLBACKEND": "agg",  # draw nothing to the notebook's outputs
                "MALLOC_ARENA_MAX": "2",  # glibc reserves 64 MB of address space per thread otherwise; the kernel is capped
            }
        )


def lesson_code_importable(autograder_dir: pathlib.Path) -> None:
    """Let this process import the lesson's code (the dotted names in the config) from the zip's ``files/``.

    Otter copies ``files/`` next to the notebook for the kernel; the grading process imports the root-only
    copy in ``source/files``, never the one in the submission folder, which the notebook can rewrite.
    """
    files = str(autograder_dir / "source" / "files")
    if files not in sys.path:
        sys.path.insert(0, files)


MAX_ERRORS_REPORTED = 5
MAX_DESCRIPTIONS_BYTES = 128 * 2**20
"""Graded networks' descriptions larger than this are not read (weights in base64: an 8x1024 network in float32
takes about 40 MB, a 128x128x128 one 0.3 MB)."""
MAX_DESCRIPTION_VALUES = 200_000
"""Descriptions with more JSON values than this are not parsed (see ``graded_networks.networks.MAX_NODES``)."""


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

        from . import results, safeguards, sandbox

        autograder_dir = pathlib.Path(config.autograder_dir)
        if not config.otter_run:  # Gradescope's run_otter.py; `otter run` reports errors itself
            results.guard_results(autograder_dir / "results" / "results.json")
        # fail closed: never grade with a guard that no longer holds, nor with software the zip does not pin
        safeguards.check_otter_fits(safeguards.read_pins(autograder_dir / "source" / "environment.yml"))
        pathlib.Path(OTTER_LOG_FILENAME).unlink(missing_ok=True)
        lesson_code_importable(autograder_dir)
        keep_submitted_pdf(config, autograder_dir / "submission")
        limits = self.limits()
        self._redact_config(autograder_dir / "source" / "otter_config.json")
        hidden = sandbox.package_paths(sandbox.PACKAGED_DATA + tuple(limits.hidden))
        sandbox.prepare(autograder_dir, autograder_dir / "submission", hidden=hidden)
        safeguards.REPORT.incidents.clear()
        safeguards.ignore_kernel_results()
        safeguards.decode_log_records_safely()
        # the whole grading's budget, counted from this process's start: the notebook's ends early enough for it
        grading_deadline = time.monotonic() + limits.grading_s - safeguards.process_age_s()
        safeguards.install_guarded_executor(float(limits.time_s), grading_deadline)
        if not config.otter_run and _grading_process():
            results_path = autograder_dir / "results" / "results.json"
            safeguards.start_watchdog(grading_deadline, lambda: _out_of_time(results_path, limits.grading_s))
        safeguards.adopt_orphans()
        _add_kernel_startup("10-memory-limit.py", safeguards.memory_limit_startup(limits.memory_mb))
        _add_kernel_startup("20-private-memory.py", safeguards.private_memory_startup())

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
        from .safeguards import number_cells

        if not isinstance(submission, str):
            number_cells(submission)
        return submission

    def after_grading(self, results) -> None:
        from .safeguards import REPORT, kill_descendants
        from .sandbox import current

        stopped = kill_descendants()
        current().end()  # as root: every process of the grading's uid, whatever outran the scan above
        tail = current().log_tail()
        if tail.strip() and REPORT.incidents:  # for the instructor's log: what the kernel printed when something went wrong
            print(f"[autograder] the kernel's own output ended with:\n{tail}", file=sys.stderr, flush=True)
        notes = list(REPORT.incidents)
        if stopped:
            notes.append(f"The notebook left {stopped} background process(es) running; the autograder stopped them.")
        notes.extend(_cell_errors(results.notebook))
        if notes:
            results.set_output("While your notebook ran in the autograder:\n- " + "\n- ".join(notes))


def _grading_process() -> bool:
    """Whether this process is Gradescope's entry point (the zip's ``run_otter.py``), which grades one submission and
    exits: only there may the engine bound the whole process (``otter assign`` grades the solutions in its own)."""
    return pathlib.Path(sys.argv[0] if sys.argv else "").name == ENTRY_POINT


def _out_of_time(results_path: pathlib.Path, grading_s: int) -> None:
    """The whole grading's budget is spent: stop every process of the grading, write the results, and exit, before
    Gradescope's own timeout leaves the student with none."""
    from . import results
    from .safeguards import REPORT, kill_descendants
    from .sandbox import current

    kill_descendants()
    current().end()
    results.write_fallback(
        results_path,
        f"The autograder ran out of time ({grading_s} s for the whole grading) while {REPORT.doing}. Nothing was graded. "
        "Make sure the notebook runs top to bottom well within the time limit the notebook states, and that "
        "evaluating your graded networks is quick.",
    )
    os._exit(1)


def _cell_errors(notebook: nbformat.NotebookNode | None) -> list[str]:
    """``cell N (`line`) raised NameError: ...`` for the first few submitted cells that raised."""
    from .safeguards import CELL_KEY, cell_label

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


def _check_points(question: str, exercise: GradedExercise, test_file) -> None:
    """Fail closed when the master's test configs give other points than the exercise: otter needs them in the
    master, the rules the notebook prints state the exercise's, and the two must not drift apart."""
    from graded_networks.marks import BANDS

    public = [case.points for case in test_file.test_cases if not case.hidden]
    hidden = [case.points for case in test_file.test_cases if case.hidden]
    if public != [exercise.public_points] or hidden != [exercise.case_points] * (len(BANDS) - 1):
        raise RuntimeError(
            f"{question}'s test cases give {public} public and {hidden} hidden points; its exercise says "
            f"{exercise.public_points} public and {exercise.case_points} per band above {BANDS[0]!r}: fix the master"
        )


def _fingerprint(folders: list[pathlib.Path]) -> str:
    """SHA-256 over the Python files under ``folders``: the grader's code, as this process imports it.

    Each file counts once: graded locally, the engine is imported from inside the zip's ``files/``.
    """
    import hashlib

    digest = hashlib.sha256()
    for path in sorted({path.resolve() for folder in folders for path in folder.rglob("*.py")}):
        digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


GRADED: dict[str, dict] = {}
"""Per question, what ``HeldOutGrading`` measured, as data: its band, the advice's regime and the held-out metrics,
or the error that kept it from grading. ``results.guard_results`` adds it to ``results.json`` (``extra_data``), so
a batch report never reads numbers back out of the students' messages."""

SEEDS_FILE = "heldout-seeds.json"
"""Beside the master notebook (git-ignored): the held-out seeds, drawn once from the operating system's randomness
when the autograder is first generated, so that rebuilds and regrades stay identical. An instructor may write it."""


class HeldOutGrading(AbstractOtterPlugin):
    """Grade each exercise in the grading process, never in the student's kernel.

    Configuration: each question's :class:`graded_networks.exercise.GradedExercise`, by dotted name::

        - grading_engine.otter_plugins.HeldOutGrading:
            questions:
              q_regression: my_lesson.exercises.REGRESSION

    ``during_generate`` (otter assign or generate) adds each question's secret held-out seed to the zip's
    configuration only, from ``heldout-seeds.json`` beside the master. ``before_grading`` reads each question's
    test file before the notebook runs (so the notebook cannot rewrite it). ``before_execution`` adds a cell
    after every cell that mentions a graded network, and one at the end, that describes the graded networks as
    JSON (see ``graded_networks.networks``): if the notebook dies or runs out of time, the last description
    still counts. ``after_grading`` rebuilds each network from an allow-list of operations, runs the question's
    public test on it with otter's own test runner, and measures it with the lesson's assessment on held-out data
    for the hidden test. The hidden test cases in the notebook are placeholders that fail, so a misconfigured
    autograder gives 0 with a message, never free points.
    """

    def during_generate(self, otter_config: dict, assignment) -> None:
        if assignment is None:
            raise RuntimeError("HeldOutGrading keeps its seeds beside the master notebook: generate the zip with otter assign")
        seeds_file = pathlib.Path(assignment.master).resolve().parent / SEEDS_FILE
        seeds = json.loads(seeds_file.read_text()) if seeds_file.exists() else {}
        for question in self._questions():
            seeds.setdefault(question, secrets.randbelow(2**31))
        seeds_file.write_text(json.dumps(seeds, indent=2))
        seeds_file.chmod(0o600)
        name = f"{__name__}.{type(self).__name__}"
        (settings,) = [p[name] for p in otter_config.get("plugins", []) if isinstance(p, dict) and name in p]
        settings["heldout_seeds"] = {question: seeds[question] for question in self._questions()}
        # a test split the student never receives: made here, from the instructor's copy, into the zip alone
        sys.path.insert(0, str(seeds_file.parent))  # the lesson's package, beside the master
        try:
            exercises = self._load_exercises()
        finally:
            sys.path.remove(str(seeds_file.parent))
        data = {q: load(e.heldout_data)() for q, e in exercises.items() if e.heldout_data}
        if data:
            settings["heldout_data"] = data

    def before_grading(self, config) -> None:
        from otter.test_files.exception_test import ExceptionTestFile

        self._test_files = {q: ExceptionTestFile.from_file(f"tests/{q}.py") for q in self._questions()}
        lesson_code_importable(pathlib.Path(config.autograder_dir))
        self._exercises = self._load_exercises()
        for question, exercise in self._exercises.items():
            _check_points(question, exercise, self._test_files[question])
        # The assessments (and torch) are imported only after the notebook has run: importing them now would
        # hold ~110 MB in this process beside the kernel's peak. The grader's files are fingerprinted instead,
        # so that a notebook that rewrites them gets no grade from them.
        import graded_networks

        files = pathlib.Path(config.autograder_dir) / "source" / "files"
        self._code = [pathlib.Path(__file__).parent, pathlib.Path(graded_networks.__file__).parent, files]
        self._fingerprint = _fingerprint(self._code)

    def _load_exercises(self) -> dict[str, GradedExercise]:
        exercises = {}
        for question, dotted in self._questions().items():
            exercise = load(dotted)
            if not isinstance(exercise, GradedExercise):
                raise TypeError(f"HeldOutGrading: {question}'s {dotted!r} is not a graded_networks.exercise.GradedExercise")
            exercises[question] = exercise
        return exercises

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        from .safeguards import EXPORT_KEY, LAST_EXPORT
        from .sandbox import kernel_writable_file

        self._export_path = str(kernel_writable_file("graded-networks-"))
        exercises = self._exercises.values()
        names = [e.network for e in exercises]
        models = ", ".join(f"{e.network!r}: globals().get({e.network!r})" for e in exercises)
        inputs = ", ".join(f"{e.network!r}: _grading_load({e.example_input!r})()" for e in exercises)
        source = (
            "# added by the autograder: describe the graded networks for grading\n"
            "from graded_networks.exercise import load as _grading_load\n"
            "from graded_networks.networks import export as _grading_export\n"
            f"_grading_export({{{models}}}, {{{inputs}}}, {self._export_path!r})\n"
        )
        if isinstance(submission, str):
            return submission + "\n" + source
        mentions = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")

        def export_cell(last: bool = False) -> nbformat.NotebookNode:
            return nbformat.v4.new_code_cell(source, metadata={EXPORT_KEY: LAST_EXPORT if last else True})

        cells = []
        for cell in submission.cells:
            cells.append(cell)
            if cell.cell_type == "code" and mentions.search(cell.source):
                cells.append(export_cell())
        submission.cells = cells + [export_cell(last=True)]
        return submission

    def after_grading(self, results) -> None:
        from otter.test_files.abstract_test import TestCaseResult

        from graded_networks.verdict import BANDS, SubmissionError, assess, graded_network

        from .safeguards import REPORT, cap_own_memory

        if _fingerprint(self._code) != self._fingerprint:
            raise RuntimeError("the autograder's own files changed while the notebook ran: not graded")
        if _grading_process():  # the kernel has ended: what is left of the container is the grading's own to bound
            cap_own_memory()
        descriptions, unread = self._read_descriptions()
        seeds = (self.plugin_config or {}).get("heldout_seeds", {})
        data = (self.plugin_config or {}).get("heldout_data", {})
        for question, exercise in self._exercises.items():
            test_file, name = self._test_files[question], exercise.network
            REPORT.doing = f"measuring `{name}` on held-out data"
            try:
                network = graded_network(name, {"error": unread} if unread else descriptions.get(name))
            except SubmissionError as e:
                GRADED[question] = {"band": None, "error": str(e)}
                test_file.test_case_results = [  # the reason once, under the first case
                    TestCaseResult(tc, "❌ Test case failed\n" + (str(e) if i == 0 else "(see the first case)"), False)
                    for i, tc in enumerate(test_file.test_cases)
                ]
            else:
                test_file.run({name: network})  # the public test, by otter, on the rebuilt network
                if question not in seeds or (exercise.heldout_data and question not in data):
                    # fail closed: a zip built without its secret grades nothing
                    raise RuntimeError(f"{question} has no held-out seed or data: build the autograder with otter assign")
                held_out = (data[question],) if exercise.heldout_data else ()
                assessment = assess(exercise, network, int(seeds[question]), *held_out)
                GRADED[question] = {"band": assessment.band, "regime": assessment.regime, "metrics": assessment.metrics}
                # The hidden cases, in order, stand for the bands above "off": a band passes as many of
                # them as its rank in BANDS ("close" the first, "just right" both), so it earns their points.
                hidden = [i for i, tcr in enumerate(test_file.test_case_results) if tcr.test_case.hidden]
                # The message (held-out numbers, band, advice) is shown once, under the last hidden case.
                for level, i in enumerate(hidden, start=1):
                    passed = BANDS.index(assessment.band) >= level
                    message = assessment.message if level == len(hidden) else None
                    shown = replace(  # otter shows a passing case's success_message, a failing case's result
                        test_file.test_case_results[i].test_case,
                        success_message=message if passed else None,
                        failure_message=None,
                    )
                    failed = "❌ Test case failed\n" + (message or f"Band {BANDS[level]!r} not reached (see below).")
                    verdict = "✅ Test case passed" if passed else failed
                    test_file.test_case_results[i] = TestCaseResult(shown, verdict, passed)
            results.results[question] = test_file

    def _questions(self) -> dict:
        return (self.plugin_config or {}).get("questions", {})

    def _read_descriptions(self) -> tuple[dict, str | None]:
        """The graded networks' descriptions, and why none can be read when they are too large to read safely."""
        from .sandbox import read_kernel_file

        path = getattr(self, "_export_path", None)
        written = read_kernel_file(pathlib.Path(path), MAX_DESCRIPTIONS_BYTES) if path else None
        # what parsing costs grows with the number of JSON values, which the commas count (weights are base64
        # strings, so an honest description has a few per operation): counted before anything is parsed
        if written and written.count(b",") > MAX_DESCRIPTION_VALUES:
            return {}, (
                "The graded networks' description is larger than the autograder reads (more than "
                f"{MAX_DESCRIPTION_VALUES:,} values): the exercise's networks need far fewer operations."
            )
        try:
            descriptions = json.loads(written) if written else {}
        except MemoryError:
            return {}, "The graded networks' description needs more memory to read than the autograder has."
        except (ValueError, RecursionError):
            return {}, None  # no description cell finished (or a forged one): each network reads as missing
        return (descriptions if isinstance(descriptions, dict) else {}), None
