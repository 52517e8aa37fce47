"""The generated kit: fresh, free of answers and secrets, and laid out as Gradescope and students need."""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import zipfile

import nbformat
import pytest
import yaml

from conftest import ASSIGNMENT, GRADED_NAMES, HELDOUT_PLUGIN, answer_cell_of, files_under
from fcnn_lesson.grading import VALIDATION_SEEDS
from graded_networks.seeding import SEED
from grading_engine.otter_plugins import SEEDS_FILE
from instructor.assign import REPO

STUDENT_DIR = REPO / "student" / ASSIGNMENT
DEMO_MARKERS = ("50_000", "30_000", "FuncAnimation", "10_000, 1000")


def test_committed_student_files_are_not_stale(kit):
    committed, rebuilt = files_under(STUDENT_DIR), files_under(kit.student_dir)
    assert sorted(committed) == sorted(rebuilt), "student/ has different files than a rebuild: run `make assign`"
    stale = [str(path) for path in rebuilt if committed[path] != rebuilt[path]]
    assert not stale, f"stale generated files (run `make assign` and commit): {stale}"


def solution_lines(master) -> list[str]:
    """Every line of the master's answers that appears nowhere else in it: the code between ``# BEGIN SOLUTION`` and
    ``# END SOLUTION`` in code cells, and the written model answers (Markdown cells between the raw cells
    ``# BEGIN SOLUTION`` / ``# END SOLUTION``)."""
    inside_lines, outside_lines = [], set()
    in_code, in_cells = False, False
    for cell in master.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN SOLUTION"):
            in_cells = True
            continue
        if cell.cell_type == "raw" and text.startswith("# END SOLUTION"):
            in_cells = False
            continue
        for line in cell.source.splitlines():
            stripped = line.strip().removeprefix("**SOLUTION:**").strip()
            if cell.cell_type == "code" and stripped.startswith("# BEGIN SOLUTION"):
                in_code = True
            elif cell.cell_type == "code" and stripped.startswith("# END SOLUTION"):
                in_code = False
            elif (cell.cell_type == "code" and in_code) or (cell.cell_type == "markdown" and in_cells):
                inside_lines.append(stripped)
            else:
                outside_lines.add(stripped)
    return [line for line in inside_lines if len(line) > 3 and line not in outside_lines]


def handed_out_text(path) -> list[str]:
    """The lines a student reads in a handed-out file: each cell's source of a notebook (parsed, so quotes are
    quotes), or the file's lines."""
    if path.suffix == ".ipynb":
        return [line.strip() for cell in nbformat.read(path, as_version=4).cells for line in cell.source.splitlines()]
    return [line.strip() for line in path.read_text().splitlines()]


HIDDEN_TEST_MARKS = ("test_regressor_heldout", "test_classifier_heldout", "hidden: true", "hidden=True")
"""Text that only a hidden test holds (its names, otter's marks for hidden cases)."""


def leaks(folder: pathlib.Path, answers: list[str], seeds: list[str]) -> list[str]:
    """What a handed-out folder gives away: held-out seeds, hidden tests, solution or model-answer lines."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        text = path.read_text()
        found += [f"held-out seed {seed} in {path}" for seed in seeds if seed in text]
        found += [f"hidden test ({mark!r}) in {path}" for mark in HIDDEN_TEST_MARKS if mark in text]
        lines = set(handed_out_text(path))
        found += [f"answer line {line!r} in {path}" for line in answers if line in lines]
    return found


def test_student_files_hold_no_solution_written_answer_hidden_test_or_heldout_seed(kit, master_notebook, heldout_seeds):
    # the public validation sets must not be the held-out sets
    assert not set(heldout_seeds) & {str(seed) for seed in VALIDATION_SEEDS.values()}
    assert len(heldout_seeds) == 2, "expected one held-out seed per exercise in the autograder's tests"
    answers = solution_lines(master_notebook)
    assert any('"' in line for line in answers), "no solution line with a quote: the check would not prove quotes are handled"
    assert any(line.startswith("A linear function of a linear function") for line in answers), "written answers not collected"
    for folder in (STUDENT_DIR, kit.student_dir):  # what is committed, and what a build hands out
        assert not leaks(folder, answers, heldout_seeds)


def test_the_leak_check_finds_each_kind_of_leak_planted_in_a_copy_of_the_handout(master_notebook, heldout_seeds, tmp_path):
    """The scan above can fail: a copy of the student folder with one leak of each kind planted, each reported.
    (Shown failing: with the answer-line comparison removed from ``leaks``, the two planted lines are not reported.)"""
    answers = solution_lines(master_notebook)
    quoted = next(line for line in answers if '"' in line)
    written = next(line for line in answers if line.startswith("A linear function of a linear function"))
    copy = tmp_path / "student"
    shutil.copytree(STUDENT_DIR, copy)
    assert not leaks(copy, answers, heldout_seeds)
    path = copy / f"{ASSIGNMENT}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(f"    {quoted}\nrng = {heldout_seeds[0]}"))  # indented, as in a function
    nb.cells.append(nbformat.v4.new_markdown_cell(written))
    nbformat.write(nb, path)
    (copy / "tests.py").write_text("# hidden: true\ndef test_classifier_heldout(): ...\n")
    found = "\n".join(leaks(copy, answers, heldout_seeds))
    for planted in (repr(quoted), repr(written), f"held-out seed {heldout_seeds[0]}", "'hidden: true'", "'test_classifier_heldout'"):
        assert planted in found, f"{planted} not reported:\n{found}"


def test_demo_cells_are_skipped_at_grading_and_exercise_cells_are_not():
    nb = nbformat.read(STUDENT_DIR / f"{ASSIGNMENT}.ipynb", as_version=4)
    skipped = [c for c in nb.cells if "otter_ignore" in c.metadata.get("tags", [])]
    graded = [c for c in nb.cells if c.cell_type == "code" and c not in skipped]
    for marker in DEMO_MARKERS:
        assert any(marker in c.source for c in skipped), f"no skipped demo cell contains {marker!r}"
        assert not any(marker in c.source for c in graded), f"a graded cell runs the demo {marker!r}"
    for name in GRADED_NAMES.values():
        assert [c for c in graded if answer_cell_of(c, name)], f"the exercise cell binding {name} would be skipped"
    # everything the exercises use is defined in cells that run at grading time
    for needed in ("lesson_data()", "def train_and_test_regression_model", "def train_and_test_classification_model"):
        assert any(needed in c.source for c in graded), f"{needed} is only defined in a skipped cell"


def test_export_cell_builds_the_zip_without_latex():
    nb = nbformat.read(STUDENT_DIR / f"{ASSIGNMENT}.ipynb", as_version=4)
    (export,) = [c for c in nb.cells if "grader.export(" in c.source]
    assert "pdf=False" in export.source


@pytest.fixture(scope="module")
def zip_contents(kit):
    with zipfile.ZipFile(kit.autograder_zip) as zf:
        return {name: zf.read(name).decode() for name in zf.namelist()}


def test_autograder_zip_pins_a_cpu_only_python_311_environment(zip_contents):
    env = zip_contents["environment.yml"]
    assert "python=3.11" in env
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in env
    assert "torch==2.13.0+cpu" in env
    (pip,) = [dep["pip"] for dep in yaml.safe_load(env)["dependencies"] if isinstance(dep, dict)]
    engine = "/autograder/source/files/engine"  # the engine itself, installed from the zip
    unpinned = [req for req in pip if not req.startswith("--") and "==" not in req and req != engine]
    assert not unpinned, f"unpinned pip packages in the grading environment: {unpinned}"


def test_autograder_zip_seeds_torch_and_installs_the_engine(zip_contents):
    config = json.loads(zip_contents["otter_config.json"])
    assert "grading_engine.otter_plugins.SeedTorch" in config["plugins"]
    assert "grading_engine.otter_plugins.LeanKernel" in config["plugins"]
    assert config["seed"] == SEED  # otter's own numpy / random seeding: the course's seed
    # Gradescope's image pip-installs the engine from the zip, so otter can load its plugins by name
    assert "files/engine/pyproject.toml" in zip_contents and "files/engine/grading_engine/otter_plugins/held_out_grading.py" in zip_contents
    (pip,) = [dep["pip"] for dep in yaml.safe_load(zip_contents["environment.yml"])["dependencies"] if isinstance(dep, dict)]
    assert "/autograder/source/files/engine" in pip
    # the student's kernel imports the lesson and the engine's kernel side from beside the notebook
    assert {"files/fcnn_lesson/grading.py", "files/graded_networks/networks.py"} <= set(zip_contents)
    assert {"tests/q_regression.py", "tests/q_classification.py"} <= set(zip_contents)
    assert not [name for name in zip_contents if "__pycache__" in name or ".egg-info" in name]


def test_students_receive_what_their_kernel_imports_and_how_to_set_it_up(kit):
    """The lesson's package, the engine's kernel side, a README and pinned requirements; none of the grader's code."""
    shipped = {p.relative_to(kit.student_dir).parts[0] for p in kit.student_dir.rglob("*") if p.is_file()}
    assert shipped == {f"{ASSIGNMENT}.ipynb", "fcnn_lesson", "graded_networks", "tests", "README.md", "student-requirements.txt"}


def test_no_committed_file_holds_a_heldout_seed(master_notebook, heldout_seeds):
    import subprocess

    config = yaml.safe_load(master_notebook.cells[0].source.partition("\n")[2])
    (settings,) = [p[HELDOUT_PLUGIN] for p in config["generate"]["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
    assert "heldout_seeds" not in settings, "a seed in the master"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode()
    paths = [REPO / p for p in tracked.split("\0") if p and (REPO / p).is_file()]
    assert len(paths) > 20
    seeds = list(heldout_seeds)
    local = REPO / "assignments" / ASSIGNMENT / SEEDS_FILE  # this checkout's own seeds, if it was built
    if local.exists():
        seeds += [str(s) for s in json.loads(local.read_text()).values()]
    for path in paths:
        data = path.read_bytes()
        found = [seed for seed in seeds if re.search(rb"(?<![0-9])" + seed.encode() + rb"(?![0-9])", data)]
        assert not found, f"held-out seed(s) {found} in committed {path.relative_to(REPO)}"


def test_seeds_are_drawn_once_from_the_os_and_kept_for_rebuilds(tmp_path):
    """Otter asks HeldOutGrading for them while it writes the zip (``during_generate``), from a file beside the
    master: the zip's configuration gets them, the master never (plain otter assign keeps them: see below)."""
    from types import SimpleNamespace

    from grading_engine.otter_plugins import HeldOutGrading

    questions = {"q_regression": "fcnn_lesson.exercises.REGRESSION", "q_classification": "fcnn_lesson.exercises.CLASSIFICATION"}
    plugin = HeldOutGrading("", {}, {"questions": questions})

    def generate() -> dict:
        config = {"plugins": ["a.Plugin", {HELDOUT_PLUGIN: {"questions": dict(questions)}}]}
        plugin.during_generate(config, SimpleNamespace(master=tmp_path / f"{ASSIGNMENT}.ipynb"))
        return config["plugins"][1][HELDOUT_PLUGIN]["heldout_seeds"]

    first, second = generate(), generate()
    seeds_file = tmp_path / SEEDS_FILE
    assert first == second == json.loads(seeds_file.read_text()) and set(first) == set(questions)
    assert len(set(first.values())) == 2 and oct(seeds_file.stat().st_mode)[-3:] == "600"
    seeds_file.unlink()
    assert generate() != first  # a fresh checkout draws new ones


@pytest.mark.slow
def test_make_assign_stops_when_the_solutions_do_not_score_full_marks(tmp_path):
    """`make assign`'s self-check: otter assign grades the solutions with the new zip and fails below 100 %."""
    import shutil

    from instructor.assign import build

    source = shutil.copytree(REPO / "assignments" / ASSIGNMENT, tmp_path / "assignments" / ASSIGNMENT)
    master = source / f"{ASSIGNMENT}.ipynb"
    text = master.read_text()
    broken = 'train_and_test_regression_model(just_right_regressor, num_epochs=1, '
    assert text.count("train_and_test_regression_model(just_right_regressor, num_epochs=1000, ") == 1
    master.write_text(text.replace("train_and_test_regression_model(just_right_regressor, num_epochs=1000, ", broken))
    environment = dict(os.environ)
    with pytest.raises(RuntimeError, match="autograder tests failed"):
        build(ASSIGNMENT, out_root=tmp_path / "out", self_check=True, source=source)
    assert not (tmp_path / "out" / "student" / ASSIGNMENT).exists()  # nothing half-built is left to hand out
    # the self-check graded in this process: the kernel's settings (MPLBACKEND=agg, ...) did not stay behind
    assert dict(os.environ) == environment


def test_the_notebook_states_the_rules_the_autograder_grades_with(master_notebook):
    """The exercises print their rules from the grader's own settings; the tests' points are those settings."""
    from fcnn_lesson import grading
    from fcnn_lesson.exercises import CLASSIFICATION, LIMITS, REGRESSION
    from graded_networks.marks import marks_text

    for task, exercise in (("regression", REGRESSION), ("classification", CLASSIFICATION)):
        assert any(f'show_rules("{task}")' in c.source for c in master_notebook.cells if c.cell_type == "code")
        text = grading.rules(task)
        for value in (f"{exercise.max_epochs:,}", f"{LIMITS.time_s} s", f"{LIMITS.memory_mb / 1024:g} GB", "# Demo:"):
            assert value in text, (task, value)
        assert marks_text(exercise.marks, exercise.metrics, exercise.points()) in text
    configs = [
        yaml.safe_load(c.source.split('"""')[1].replace("# BEGIN TEST CONFIG", "").replace("# END TEST CONFIG", ""))
        for c in master_notebook.cells
        if c.cell_type == "code" and "# BEGIN TEST CONFIG" in c.source
    ]
    assert [c["points"] for c in configs if not c.get("hidden")] == [REGRESSION.public_points, CLASSIFICATION.public_points]
    assert [c["points"] for c in configs if c.get("hidden")] == [REGRESSION.case_points] * 2 + [CLASSIFICATION.case_points] * 2
    # the autograder enforces the very limits the notebook states
    assert "limits: fcnn_lesson.exercises.LIMITS" in master_notebook.cells[0].source


@pytest.mark.slow
def test_plain_otter_assign_builds_the_kit_make_assign_builds(kit):
    """An instructor's `otter assign` (no make), from the repo root and from the assignment's folder: the same student
    folder, and the very zip the other tests grade (the solutions to full marks, the untouched notebook to 0)."""
    import subprocess
    import sys

    from instructor.assign import is_junk

    otter = pathlib.Path(sys.executable).with_name("otter")
    folder = REPO / "assignments" / ASSIGNMENT
    for cwd, master in ((REPO, folder.relative_to(REPO) / f"{ASSIGNMENT}.ipynb"), (folder, f"{ASSIGNMENT}.ipynb")):
        dist = kit.student_dir.parent.parent / f"otter-assign-from-{cwd.name}"
        subprocess.run([str(otter), "assign", "--no-run-tests", "--no-pdfs", str(master), str(dist)], cwd=cwd, check=True, capture_output=True)
        (otter_zip,) = (dist / "autograder").glob("*.zip")
        with zipfile.ZipFile(otter_zip) as plain, zipfile.ZipFile(kit.autograder_zip) as made:
            assert {n for n in plain.namelist() if not is_junk(n)} == set(made.namelist())
            # byte for byte: the same seeds (kept beside the master) and otter's own run_otter.py in both
            assert [n for n in made.namelist() if plain.read(n) != made.read(n)] == []
        student = {p.relative_to(dist / "student") for p in (dist / "student").rglob("*") if p.is_file() and not is_junk(str(p))}
        assert student == {p.relative_to(kit.student_dir) for p in kit.student_dir.rglob("*") if p.is_file()}


def test_the_tests_know_the_lessons_graded_names():
    """tests/conftest.py names fcnn's graded networks without importing the lesson (the engine's tests stand alone)."""
    from conftest import GRADED_NAMES
    from fcnn_lesson.exercises import CLASSIFICATION, REGRESSION

    assert GRADED_NAMES == {"q_regression": REGRESSION.network, "q_classification": CLASSIFICATION.network}
