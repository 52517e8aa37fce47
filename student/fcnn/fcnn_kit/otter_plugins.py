"""The kit's otter-grader plugins, enabled in the master notebook's ``ASSIGNMENT CONFIG``::

    generate:
      plugins:
        - fcnn_kit.otter_plugins.GuardedGrading
        - fcnn_kit.otter_plugins.SeedTorch: {seed: 42}
        - fcnn_kit.otter_plugins.LeanKernel
        - fcnn_kit.otter_plugins.HeldOutGrading: {questions: ...}

``GuardedGrading`` comes first: it numbers the notebook's cells before the others add to them.
Students see nothing of them: they only run in the autograder.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from dataclasses import replace

import nbformat
from otter.plugins import AbstractOtterPlugin

from . import lazy_imports, limits

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
# instead of 399.
_LEAN_STARTUP = """\
def _lean_kernel():  # see fcnn_kit/otter_plugins.py: LeanKernel
    import sys
    sys.modules.setdefault("rfc3987_syntax", None)
    lazy_imports = {{"__name__": "fcnn_kit.lazy_imports"}}
    exec({lazy_imports_source!r}, lazy_imports)
    lazy_imports["defer_imports"]("pandas", "nbconvert")
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
    """Start the grading kernel lean: one torch thread, figures not rendered, no IRI grammar, pandas
    and nbconvert only if used.

    Grading budgets are small (Gradescope's default is half a vCPU): the lesson's networks are tiny,
    so a second torch thread only fights the first for the core, and rendering figures nobody sees
    costs seconds. The kernel inherits these settings from the grading process's environment.
    """

    def before_grading(self, config) -> None:
        # the kernel may not find fcnn_kit before the notebook's first cell, so it gets the source
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


DEFAULT_TIME_LIMIT_S = limits.TIME_LIMIT_S
DEFAULT_MEMORY_LIMIT_MB = limits.MEMORY_LIMIT_MB
MAX_ERRORS_REPORTED = 5
MAX_DESCRIPTIONS_BYTES = 64 * 2**20
"""Graded networks' descriptions larger than this are not read (a 128x128x128 network takes about 1 MB)."""


class GuardedGrading(AbstractOtterPlugin):
    """Keep the grade out of the notebook's reach, and bound its time and memory.

    Configuration (both optional; the defaults are ``fcnn_kit/limits.py``, which the notebook states to students)::

        - fcnn_kit.otter_plugins.GuardedGrading:
            time_limit_s: 480      # the whole notebook
            memory_limit_mb: 1536  # the kernel's address space

    Before the kernel starts (``before_grading``), in the grading process:

    - a submitted ``.OTTER_LOG`` is deleted unread: otter would unpickle it;
    - the plugins' settings (the held-out seeds) are removed from ``otter_config.json`` on disk,
      which the notebook could otherwise read from ``../source``; otter and the plugins have read it;
    - otter stops trusting its kernel (see ``fcnn_kit.safeguards``): the kernel's results pickle is
      ignored, its log records are decoded without unpickling objects, and the notebook runs under the
      time budget, a cell that outlasts it interrupted, a dead kernel survived;
    - the kernel gets its memory cap, and this process adopts any process the notebook orphans.

    After the notebook has run (``after_grading``), leftover processes are killed, so nothing the
    notebook started can write the results file after otter has, and the results' general output
    lists what went wrong while the notebook ran (time limit, dead kernel, cells that raised).
    """

    def before_grading(self, config) -> None:
        from . import safeguards, sandbox

        safeguards.check_otter_fits()  # fail closed: never grade with a guard that no longer holds
        settings = self.plugin_config or {}
        from otter.check.notebook import OTTER_LOG_FILENAME

        pathlib.Path(OTTER_LOG_FILENAME).unlink(missing_ok=True)
        autograder_dir = pathlib.Path(config.autograder_dir)
        self._redact_config(autograder_dir / "source" / "otter_config.json")
        sandbox.prepare(autograder_dir, autograder_dir / "submission")
        safeguards.REPORT.incidents.clear()
        safeguards.ignore_kernel_results()
        safeguards.decode_log_records_safely()
        safeguards.install_guarded_executor(float(settings.get("time_limit_s", DEFAULT_TIME_LIMIT_S)))
        safeguards.adopt_orphans()
        limit_mb = int(settings.get("memory_limit_mb", DEFAULT_MEMORY_LIMIT_MB))
        _add_kernel_startup("10-memory-limit.py", safeguards.memory_limit_startup(limit_mb))

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

        stopped = kill_descendants()
        notes = list(REPORT.incidents)
        if stopped:
            notes.append(f"The notebook left {stopped} background process(es) running; the autograder stopped them.")
        notes.extend(_cell_errors(results.notebook))
        if notes:
            results.set_output("While your notebook ran in the autograder:\n- " + "\n- ".join(notes))


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


def _package_fingerprint() -> str:
    """SHA-256 over this package's Python files, as the grading process would import them."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(pathlib.Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


GRADED: dict[str, dict] = {}
"""Per question, what ``HeldOutGrading`` measured, as data: its band, the advice's regime and the held-out metrics,
or the error that kept it from grading. The zip's ``run_otter.py`` adds it to ``results.json`` (``extra_data``),
so a batch report never reads numbers back out of the students' messages."""


class HeldOutGrading(AbstractOtterPlugin):
    """Grade each exercise in the grading process, never in the student's kernel.

    Configuration (the seeds live only here, in the autograder zip's ``otter_config.json``)::

        - fcnn_kit.otter_plugins.HeldOutGrading:
            questions:
              q_regression: {network: just_right_regressor, task: regression, heldout_seed: <a secret integer>}

    ``before_grading`` reads each question's test file before the notebook runs (so the notebook
    cannot rewrite it). ``before_execution`` adds a cell after every cell that mentions a graded
    network, and one at the end, that describes the graded networks as JSON (layer types, sizes,
    weights; see ``fcnn_kit.networks``): if the notebook dies or runs out of time, the last description
    still counts. ``after_grading`` rebuilds each network from an allow-list of layers, runs the
    question's public test on it with otter's own test runner, and measures it on held-out data for
    the hidden test (``fcnn_kit.grading``). The hidden test cases in the notebook are placeholders that
    fail, so a misconfigured autograder gives 0 with a message, never free points.
    """

    def before_grading(self, config) -> None:
        from otter.test_files.exception_test import ExceptionTestFile

        self._test_files = {q: ExceptionTestFile.from_file(f"tests/{q}.py") for q in self._questions()}
        # The grading code (and torch) is imported only after the notebook has run: importing it now would
        # hold ~110 MB in this process beside the kernel's peak. Its files are fingerprinted instead, so that
        # a notebook that rewrites them gets no grade from them.
        self._fingerprint = _package_fingerprint()

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        from .safeguards import EXPORT_KEY
        from .sandbox import kernel_writable_file

        self._export_path = str(kernel_writable_file("kit-networks-"))
        questions = self._questions()
        names = [q["network"] for q in questions.values()]
        models = ", ".join(f"{name!r}: globals().get({name!r})" for name in names)
        inputs = ", ".join(
            f"{q['network']!r}: _fcnn_data.{'x_reg' if q['task'] == 'regression' else 'x_clf'}" for q in questions.values()
        )
        source = (
            "# added by the autograder: describe the graded networks for grading\n"
            "from fcnn_kit.data import lesson_data as _fcnn_lesson_data\n"
            "from fcnn_kit.networks import export as _fcnn_export\n"
            "_fcnn_data = _fcnn_lesson_data()\n"
            f"_fcnn_export({{{models}}}, {{{inputs}}}, {self._export_path!r})\n"
        )
        if isinstance(submission, str):
            return submission + "\n" + source
        mentions = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")

        def export_cell() -> nbformat.NotebookNode:
            return nbformat.v4.new_code_cell(source, metadata={EXPORT_KEY: True})

        cells = []
        for cell in submission.cells:
            cells.append(cell)
            if cell.cell_type == "code" and mentions.search(cell.source):
                cells.append(export_cell())
        submission.cells = cells + [export_cell()]
        return submission

    def after_grading(self, results) -> None:
        from otter.test_files.abstract_test import TestCaseResult

        from .grading import BANDS, SubmissionError, assess_network, graded_network

        if _package_fingerprint() != self._fingerprint:
            raise RuntimeError("the autograder's own files (fcnn_kit/) changed while the notebook ran: not graded")
        descriptions = self._read_descriptions()
        for question, spec in self._questions().items():
            test_file, name = self._test_files[question], spec["network"]
            try:
                network = graded_network(name, descriptions.get(name))
            except SubmissionError as e:
                GRADED[question] = {"band": None, "error": str(e)}
                test_file.test_case_results = [  # the reason once, under the first case
                    TestCaseResult(tc, "❌ Test case failed\n" + (str(e) if i == 0 else "(see the first case)"), False)
                    for i, tc in enumerate(test_file.test_cases)
                ]
            else:
                test_file.run({name: network})  # the public test, by otter, on the rebuilt network
                if "heldout_seed" not in spec:  # fail closed: a zip built without its secret grades nothing
                    raise RuntimeError(f"{question} has no held-out seed: build the autograder with `make assign`")
                assessment = assess_network(spec["task"], network, int(spec["heldout_seed"]))
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

    def _read_descriptions(self) -> dict:
        from .sandbox import read_kernel_file

        path = getattr(self, "_export_path", None)
        written = read_kernel_file(pathlib.Path(path), MAX_DESCRIPTIONS_BYTES) if path else None
        try:
            descriptions = json.loads(written) if written else {}
        except (ValueError, RecursionError):
            return {}  # no description cell finished (or a forged one): each network reads as missing
        return descriptions if isinstance(descriptions, dict) else {}
