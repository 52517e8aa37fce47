"""The engine's startup hook: installed with the engine, it acts in Gradescope's entry point only."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_installing_the_engine_installs_its_startup_hook(tmp_path):
    """What Gradescope's image gets from requirements.txt: a real (not editable) pip install of the engine."""
    import shutil

    target, engine = tmp_path / "site", tmp_path / "engine"  # built from a copy: the build leaves folders behind
    shutil.copytree(REPO / "engine", engine, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target)]
    subprocess.run([*pip, str(engine)], check=True, capture_output=True)
    assert (target / "grading_engine_startup.pth").read_text().startswith("import grading_engine.startup")
    assert (target / "grading_engine" / "otter_plugins" / "held_out_grading.py").exists() and (target / "graded_networks" / "networks.py").exists()


def _run(script: pathlib.Path, engine_site: pathlib.Path) -> subprocess.CompletedProcess:
    """``script`` run with ``engine_site`` installed, the way local grading runs the zip's ``run_otter.py``."""
    from grading_engine.gradescope import RUN_INSTALLED

    return subprocess.run([sys.executable, "-c", RUN_INSTALLED, str(script), str(engine_site)], capture_output=True, text=True)


def test_the_hook_writes_results_whatever_happens_in_the_entry_point_and_nothing_elsewhere(tmp_path):
    for folder in ("autograder/source", "elsewhere"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "run_otter.py").write_text("1 / 0\n")
    (tmp_path / "autograder" / "results").mkdir()
    (tmp_path / "results").mkdir()
    # what an earlier run (or anything else) left where Gradescope reads: never taken for this run's results
    (tmp_path / "autograder" / "results" / "results.json").write_text('{"score": 100, "tests": []}')
    (tmp_path / "autograder" / "results" / "graded-questions.json").write_text('{"q": {"band": "just right"}}')
    graded = _run(tmp_path / "autograder" / "source" / "run_otter.py", REPO / "engine")
    results = json.loads((tmp_path / "autograder" / "results" / "results.json").read_text())
    assert results["score"] == 0 and "ZeroDivisionError" in results["output"], graded.stderr
    assert "extra_data" not in results and not (tmp_path / "autograder" / "results" / "graded-questions.json").exists()
    assert "ZeroDivisionError" in graded.stderr  # the traceback still goes to the log, for the instructor
    _run(tmp_path / "elsewhere" / "run_otter.py", REPO / "engine")  # not Gradescope's layout: the hook does nothing
    assert not (tmp_path / "results" / "results.json").exists()
