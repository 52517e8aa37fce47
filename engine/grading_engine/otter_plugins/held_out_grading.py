"""``HeldOutGrading``: each exercise graded in the grading process, on held-out data, never in the student's kernel."""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import secrets
import sys
from dataclasses import replace

import nbformat
from otter.plugins import AbstractOtterPlugin

from graded_networks.exercise import GradedExercise, load

from ..results import GRADED_DATA
from ..safeguards import installed_grading
from .common import grading_process, lesson_code_importable

MAX_DESCRIPTIONS_BYTES = 128 * 2**20
"""Graded networks' descriptions larger than this are not read (weights in base64: an 8x1024 network in float32
takes about 40 MB, a 128x128x128 one 0.3 MB)."""
MAX_DESCRIPTION_VALUES = 200_000
"""Descriptions with more JSON values than this are not parsed (see ``graded_networks.networks.MAX_NODES``)."""


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
    digest = hashlib.sha256()
    for path in sorted({path.resolve() for folder in folders for path in folder.rglob("*.py")}):
        digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


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
        name = f"{__package__}.{type(self).__name__}"  # as the master names it: grading_engine.otter_plugins.HeldOutGrading
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
        self._code = [pathlib.Path(__file__).parents[1], pathlib.Path(graded_networks.__file__).parent, files]
        self._graded_data = pathlib.Path(config.autograder_dir) / "results" / GRADED_DATA
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
        from ..safeguards import EXPORT_KEY, LAST_EXPORT
        from ..sandbox import kernel_writable_file

        self._export_path = str(kernel_writable_file(installed_grading().sandbox, "graded-networks-"))
        exercises = self._exercises.values()
        names = [e.network for e in exercises]
        models = ", ".join(f"{e.network!r}: globals().get({e.network!r})" for e in exercises)
        inputs = ", ".join(f"{e.network!r}: _grading_load({e.example_input!r})()" for e in exercises)
        source = (
            "# added by the autograder: describe the graded networks for grading\n"
            "from graded_networks.exercise import load as _grading_load\n"
            "from graded_networks.networks import write_descriptions as _grading_write\n"
            f"_grading_write({{{models}}}, {{{inputs}}}, {self._export_path!r})\n"
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
        import torch
        from otter.test_files.abstract_test import TestCaseResult

        from graded_networks.marks import alerts
        from graded_networks.verdict import BANDS, SubmissionError, assess, graded_network

        from ..processes import cap_own_memory

        torch.set_num_threads(1)  # as the kernel's: the networks are small, a second thread costs memory and CPU only

        if _fingerprint(self._code) != self._fingerprint:
            raise RuntimeError("the autograder's own files changed while the notebook ran: not graded")
        if grading_process():  # the kernel has ended: what is left of the container is the grading's own to bound
            cap_own_memory()
        descriptions, unread = self._read_descriptions()
        graded: dict[str, dict] = {}
        seeds = (self.plugin_config or {}).get("heldout_seeds", {})
        data = (self.plugin_config or {}).get("heldout_data", {})
        for question, exercise in self._exercises.items():
            test_file, name = self._test_files[question], exercise.network
            installed_grading().report.doing = f"measuring `{name}` on held-out data"
            try:
                network = graded_network(name, {"error": unread} if unread else descriptions.get(name))
            except SubmissionError as e:
                graded[question] = {"band": None, "error": str(e)}
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
                graded[question] = {"band": assessment.band, "regime": assessment.regime, "metrics": assessment.metrics,
                                    "alerts": alerts(assessment.metrics, exercise.alerts)}  # for the instructor only
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
        if self._graded_data.parent.is_dir():
            self._graded_data.write_text(json.dumps(graded))

    def _questions(self) -> dict:
        return (self.plugin_config or {}).get("questions", {})

    def _read_descriptions(self) -> tuple[dict, str | None]:
        """The graded networks' descriptions, and why none can be read when they are too large to read safely."""
        from ..sandbox import read_kernel_file

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
