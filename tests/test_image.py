"""``make test-image``: the grading image built from the zip's own environment, and grading with it alone.

Gradescope builds each assignment's image from the zip (its ``environment.yml``: otter, the assignment's pins, the
engine from ``source/files/engine``). Here a fresh virtual environment gets exactly that pip section, with the system's
Python 3.11 and no conda (``jupyter_server``, the one conda package otter adds, is not used by grading). PyTorch's CPU
index is out of these machines' reach, so ``torch==2.13.0+cpu`` becomes the repository's ``torch==2.13.0`` (a CPU build
is what these machines install). Then the solutions and the untouched notebook of every assignment are graded through
the zip's own ``run_otter.py`` with that environment's Python: nothing from this repository's ``.venv`` is used.
Not in ``make test``: installing the image takes minutes.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import zipfile

import pytest

from conftest import DOCKER_CAPABILITIES, built_kit, grade_here
from instructor.assign import assignment_names

pytestmark = [pytest.mark.image, pytest.mark.slow]


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> pathlib.Path:
    """A fresh environment with what the first assignment's zip installs (every assignment pins the same versions)."""
    folder = tmp_path_factory.mktemp("image")
    kit = built_kit(tmp_path_factory, assignment_names()[0])
    with zipfile.ZipFile(kit.autograder_zip) as z:
        z.extractall(folder / "source")
        environment = z.read("environment.yml").decode()
    pip_section = environment.split("  - pip:\n", 1)[1]
    requirements = []
    for line in pip_section.splitlines():
        entry = line.strip().removeprefix("- ").strip()
        if not entry or entry.startswith("--extra-index-url"):
            continue  # PyTorch's own index is out of reach here
        entry = entry.replace("+cpu", "")
        if entry == "/autograder/source/files/engine":
            entry = str(folder / "source" / "files" / "engine")
        requirements.append(entry)
    (folder / "requirements.txt").write_text("\n".join(requirements) + "\n")
    python = pathlib.Path(sys.base_prefix) / "bin" / "python3.11"  # the system's Python, not this .venv
    subprocess.run([str(python), "-m", "venv", str(folder / "venv")], check=True)
    pip = [str(folder / "venv" / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run = subprocess.run([*pip, "-r", str(folder / "requirements.txt")], capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stderr[-4000:]
    return folder / "venv"


def test_the_image_has_the_engine_and_its_startup_hook(image):
    python = image / "bin" / "python"
    found = subprocess.run([str(python), "-c", "import grading_engine, graded_networks, site, sys; print(sys.prefix)"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert found.stdout.strip() == str(image)
    assert list(image.glob("lib/python3.11/site-packages/grading_engine_startup.pth"))
    check = "from grading_engine.otter_fit import check_otter_fits; check_otter_fits(); print('fits')"
    assert subprocess.run([str(python), "-c", check], capture_output=True, text=True, check=True).stdout.strip() == "fits"


def _scores(results: dict) -> dict[str, tuple[float, float]]:
    return {t["name"]: (t.get("score"), t.get("max_score")) for t in results.get("tests", []) if "max_score" in t}


@pytest.mark.parametrize("assignment", assignment_names())
def test_the_image_grades_each_assignment_as_the_tests_do(assignment, image, tmp_path_factory):
    kit = built_kit(tmp_path_factory, assignment)
    solutions = grade_here(kit.autograder_zip, kit.solutions_notebook, python=image / "bin" / "python")
    untouched = grade_here(kit.autograder_zip, kit.student_dir / f"{assignment}.ipynb", python=image / "bin" / "python")
    full = {name: maximum for name, (_, maximum) in _scores(solutions).items()}
    assert full and {name: score for name, (score, _) in _scores(solutions).items()} == full, solutions["log"][-3000:]
    assert _scores(untouched) and all(score == 0 for score, _ in _scores(untouched).values()), untouched["log"][-3000:]


def test_the_image_grades_as_root_with_dockers_capabilities_and_no_box(image, tmp_path_factory):
    """Gradescope's own case: root without CAP_SYS_ADMIN, and (its seccomp profile refusing user namespaces) no box:
    the kernel runs as a uid of its own, swept at the end; the image holds no package data to hide."""
    kit = built_kit(tmp_path_factory, "fcnn")
    results = grade_here(kit.autograder_zip, kit.solutions_notebook, DOCKER_CAPABILITIES, bwrap=False, python=image / "bin" / "python")
    assert {name: score for name, (score, _) in _scores(results).items()} == {"q_regression": 5, "q_classification": 5}, results["log"][-3000:]
    assert "the kernel runs as a uid of its own" in results["log"]
