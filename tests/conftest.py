"""Fixtures shared by the tests: the kit built afresh, submissions made from it, and real grading.

Grading goes through the real ``otter run`` command with the freshly built autograder zip; nothing
of otter, torch or Jupyter is mocked.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
from dataclasses import dataclass

import nbformat
import pytest

from fcnn_kit.grading import CLASSIFIER_NAME, REGRESSOR_NAME
from instructor.assign import REPO, BuildOutputs, build

ASSIGNMENT = "fcnn"
SUBMISSIONS = pathlib.Path(__file__).parent / "submissions"
GRADED_NAMES = {"q_regression": REGRESSOR_NAME, "q_classification": CLASSIFIER_NAME}


@pytest.fixture(scope="session")
def kit(tmp_path_factory: pytest.TempPathFactory) -> BuildOutputs:
    """The kit built from the master notebook into a temporary folder; the repository is left alone."""
    return build(ASSIGNMENT, out_root=tmp_path_factory.mktemp("kit"), self_check=False)


@pytest.fixture(scope="session")
def master_notebook() -> nbformat.NotebookNode:
    return nbformat.read(REPO / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


@dataclass
class Graded:
    """What Gradescope would read (``results.json``) and what ``otter run`` printed."""

    results: dict
    log: str

    def test(self, question: str) -> dict:
        (entry,) = [t for t in self.results["tests"] if t["name"] == question]
        return entry

    def score(self, question: str) -> float:
        return self.test(question)["score"]

    def output(self, question: str) -> str:
        return self.test(question)["output"]


@pytest.fixture(scope="session")
def grade(kit: BuildOutputs, tmp_path_factory: pytest.TempPathFactory):
    """Grade a submission file with ``otter run`` and the built zip; return its results (once per file)."""
    graded: dict[pathlib.Path, Graded] = {}

    def _grade(submission: pathlib.Path) -> Graded:
        if submission not in graded:
            graded[submission] = _run_otter(submission)
        return graded[submission]

    def _run_otter(submission: pathlib.Path) -> Graded:
        out = tmp_path_factory.mktemp("graded")
        proc = subprocess.run(
            [sys.executable, "-m", "otter", "run", "-a", str(kit.autograder_zip), "-o", str(out), str(submission)],
            capture_output=True,
            text=True,
            timeout=900,
        )
        results = out / "results.json"
        assert results.exists(), f"otter run wrote no results.json (exit {proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        return Graded(json.loads(results.read_text()), proc.stdout + proc.stderr)

    return _grade


@pytest.fixture(scope="session")
def make_submission(kit: BuildOutputs, tmp_path_factory: pytest.TempPathFactory):
    """The student notebook with its exercise cells answered by snippets from ``tests/submissions/``.

    ``make_submission(q_regression="linear_regressor")`` answers the regression exercise with
    ``tests/submissions/linear_regressor.py`` and leaves the other exercise untouched, as a student would.
    """

    made: dict[tuple, pathlib.Path] = {}

    def _make(**answers: str) -> pathlib.Path:
        key = tuple(sorted(answers.items()))
        if key not in made:
            made[key] = _write(answers)
        return made[key]

    def _write(answers: dict[str, str]) -> pathlib.Path:
        nb = nbformat.read(kit.student_dir / f"{ASSIGNMENT}.ipynb", as_version=4)
        for question, snippet in answers.items():
            (cell,) = [c for c in nb.cells if answer_cell_of(c, GRADED_NAMES[question])]
            cell.source = (SUBMISSIONS / f"{snippet}.py").read_text()
        path = tmp_path_factory.mktemp("submission") / f"{ASSIGNMENT}.ipynb"
        nbformat.write(nb, path)
        return path

    return _make


def answer_cell_of(cell: nbformat.NotebookNode, graded_name: str) -> bool:
    """Whether ``cell`` is the student notebook's answer cell that binds ``graded_name``."""
    return (
        cell.cell_type == "code"
        and "otter_answer_cell" in cell.metadata.get("tags", [])
        and f"{graded_name} = " in cell.source
    )
