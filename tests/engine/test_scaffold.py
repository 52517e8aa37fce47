"""`make new`: a scaffolded assignment builds and grades to full marks through the engine, touching no engine file."""

from __future__ import annotations

import hashlib
import pathlib

import pytest

from conftest import Grader
from instructor.assign import REPO, build
from instructor.new import scaffold

pytestmark = pytest.mark.slow


def _engine_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted((REPO / "engine").rglob("*.py")):
        digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def test_a_scaffolded_assignment_grades_its_solutions_to_full_marks(tmp_path: pathlib.Path, tmp_path_factory):
    before = _engine_digest()
    folder = scaffold("scaffolded", tmp_path / "assignments")
    kit = build("scaffolded", out_root=tmp_path / "out", self_check=False, source=folder)
    solutions = Grader(kit.autograder_zip, tmp_path_factory)(kit.solutions_notebook)
    assert solutions.score("q_line") == 5, solutions.log[-3000:]
    assert "Band: just right" in solutions.output("q_line")
    assert solutions.results["extra_data"]["questions"]["q_line"]["band"] == "just right"
    # the held-out verdict is published with the grades (show_hidden), never shown before
    assert solutions.test("q_line")["visibility"] == "after_published"
    shown_before = [t.get("output", "") for t in solutions.results["tests"] if t.get("visibility") == "visible"]
    assert not [text for text in [solutions.results.get("output", ""), *shown_before] if "Band:" in text]
    assert kit.autograder_zip.parent.stat().st_mode & 0o077 == 0, "the zip (its held-out seeds) readable by others"
    assert "line_model = ...  # your network" in (kit.student_dir / "scaffolded.ipynb").read_text()  # students get the prompt
    handed_out = {p.name for p in kit.student_dir.iterdir()}
    assert handed_out == {"scaffolded.ipynb", "scaffolded_lesson", "graded_networks", "tests", "README.md", "student-requirements.txt"}
    assert _engine_digest() == before  # the engine serves the new assignment as it is
