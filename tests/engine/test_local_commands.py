"""The README's two ways to grade one file here: the engine's Gradescope layout and otter's own ``otter run``."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from graded_networks.exercise import DEFAULT_LIMITS
from grading_engine.safeguards import ASSESSMENT_S, EXPORT_GRACE_S

pytestmark = pytest.mark.slow

GRADESCOPE_TIMEOUT_S = 600
"""Gradescope's default autograder timeout: past it the student gets no results at all."""


def test_python_m_grading_engine_gradescope_grades_as_gradescope_does(engine_kit, tmp_path):
    run = subprocess.run([sys.executable, "-m", "grading_engine.gradescope", str(engine_kit.autograder_zip),
                          str(engine_kit.solutions_notebook)], capture_output=True, text=True, timeout=600, cwd=tmp_path)  # fmt: skip
    where = re.search(r"results: (\S+results\.json)", run.stdout)
    assert run.returncode == 0 and where, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads(open(where.group(1)).read())
    assert sum(t.get("score", 0) for t in results["tests"] if t["name"] == "q_line") == 5, results
    assert results["extra_data"]["questions"]["q_line"]["band"] == "just right"


def test_otter_run_grades_with_the_zip(engine_kit, tmp_path):
    run = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(engine_kit.autograder_zip), "-o", str(tmp_path),
                          str(engine_kit.solutions_notebook)], capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert sum(t.get("score", 0) for t in results["tests"] if t["name"] == "q_line") == 5, results


def test_the_notebooks_budget_ends_inside_gradescopes_timeout():
    """The notebook's budget, the last description's grace and the assessment fit in the whole grading's budget,
    which ends before Gradescope's timeout (leaving time for the kernel's start and the results)."""
    assert DEFAULT_LIMITS.time_s + EXPORT_GRACE_S + ASSESSMENT_S <= DEFAULT_LIMITS.grading_s < GRADESCOPE_TIMEOUT_S
