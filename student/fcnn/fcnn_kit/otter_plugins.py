"""The kit's otter-grader plugins, enabled in the master notebook's ``ASSIGNMENT CONFIG``::

    generate:
      plugins:
        - fcnn_kit.otter_plugins.SeedTorch:
            seed: 42
        - fcnn_kit.otter_plugins.LeanKernel

Students see nothing of them: they only run in the autograder.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile

import nbformat
from otter.plugins import AbstractOtterPlugin

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


# Runs in the grading kernel before any cell. jsonschema (imported by otter through nbformat) imports
# rfc3987_syntax when it is installed, and that module builds an Earley parser for IRIs at import:
# 3.6 s of every grading, for a format check that grading never uses.
_KERNEL_STARTUP = """\
import sys
sys.modules.setdefault("rfc3987_syntax", None)  # see fcnn_kit/otter_plugins.py: LeanKernel
"""


class LeanKernel(AbstractOtterPlugin):
    """Start the grading kernel lean: one torch thread, figures not rendered, no IRI grammar import.

    Grading budgets are small (Gradescope's default is half a vCPU): the lesson's networks are tiny,
    so a second torch thread only fights the first for the core, and rendering figures nobody sees
    costs seconds. The kernel inherits these settings from the grading process's environment.
    """

    def before_grading(self, config) -> None:
        ipython_dir = pathlib.Path(tempfile.mkdtemp(prefix="fcnn-grading-ipython-"))
        startup = ipython_dir / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-lean-kernel.py").write_text(_KERNEL_STARTUP)
        os.environ.update(
            {
                "OMP_NUM_THREADS": "1",  # torch's intra-op threads
                "MKL_NUM_THREADS": "1",
                "MPLBACKEND": "agg",  # draw nothing to the notebook's outputs
                "IPYTHONDIR": str(ipython_dir),  # the kernel runs startup/00-lean-kernel.py first
            }
        )


class HeldOutGrading(AbstractOtterPlugin):
    """Grade each exercise's hidden test on held-out data, in the grading process, not the student's kernel.

    Configuration (the seeds live only here, in the autograder zip's ``otter_config.json``)::

        - fcnn_kit.otter_plugins.HeldOutGrading:
            questions:
              q_regression: {network: just_right_regressor, task: regression, heldout_seed: <a secret integer>}

    ``before_execution`` appends one last cell to the notebook that describes each graded network as
    JSON (layer types, sizes, weights; see ``fcnn_kit.networks``). ``after_grading`` rebuilds the
    networks from an allow-list of layers, measures them with ``fcnn_kit.grading.assess_*`` and writes
    the outcome into each question's hidden test case: pass or fail, with the held-out numbers and
    advice either way. The hidden test cases in the notebook are placeholders that fail unless this
    plugin replaces their result, so a misconfigured autograder gives 0 with a message, never free points.
    """

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        fd, self._export_path = tempfile.mkstemp(prefix="fcnn-networks-", suffix=".json")
        os.close(fd)
        questions = self._questions()
        models = ", ".join(f"{q['network']!r}: globals().get({q['network']!r})" for q in questions.values())
        inputs = ", ".join(
            f"{q['network']!r}: _fcnn_data.{'x_reg' if q['task'] == 'regression' else 'x_clf'}" for q in questions.values()
        )
        source = (
            "# added by the autograder: describe the graded networks for held-out grading\n"
            "from fcnn_kit.data import lesson_data as _fcnn_lesson_data\n"
            "from fcnn_kit.networks import export as _fcnn_export\n"
            "_fcnn_data = _fcnn_lesson_data()\n"
            f"_fcnn_export({{{models}}}, {{{inputs}}}, {self._export_path!r})\n"
        )
        if isinstance(submission, str):
            return submission + "\n" + source
        submission.cells.append(nbformat.v4.new_code_cell(source))
        return submission

    def after_grading(self, results) -> None:
        from dataclasses import replace

        from otter.test_files.abstract_test import TestCaseResult

        from .grading import assess

        descriptions = self._read_descriptions()
        for question, spec in self._questions().items():
            test_file = results.results.get(question)
            if test_file is None:
                continue
            assessment = assess(spec["task"], spec["network"], descriptions.get(spec["network"]), int(spec["heldout_seed"]))
            for i, tcr in enumerate(test_file.test_case_results):
                if tcr.test_case.hidden:
                    shown = replace(
                        tcr.test_case,
                        success_message=assessment.message if assessment.passed else None,
                        failure_message=None,
                    )
                    verdict = "✅ Test case passed" if assessment.passed else "❌ Test case failed\n" + assessment.message
                    test_file.test_case_results[i] = TestCaseResult(shown, verdict, assessment.passed)

    def _questions(self) -> dict:
        return (self.plugin_config or {}).get("questions", {})

    def _read_descriptions(self) -> dict:
        path = getattr(self, "_export_path", None)
        try:
            return json.loads(pathlib.Path(path).read_text()) if path else {}
        except (OSError, ValueError):
            return {}  # the notebook never reached its last cell: each network reads as missing
