"""The generated kit: fresh, free of answers and secrets, and laid out as Gradescope and students need."""

from __future__ import annotations

import json
import re
import zipfile

import nbformat
import pytest
import yaml
from conftest import ASSIGNMENT, GRADED_NAMES, answer_cell_of

from fcnn_kit.grading import VALIDATION_SEEDS
from instructor.assign import HELDOUT_PLUGIN, REPO, SEEDS_FILE, _add_heldout_seeds

STUDENT_DIR = REPO / "student" / ASSIGNMENT
DEMO_MARKERS = ("50_000", "30_000", "FuncAnimation", "10_000, 1000")


def files_under(root):
    return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


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


def test_student_files_hold_no_solution_written_answer_hidden_test_or_heldout_seed(kit, master_notebook, heldout_seeds):
    seeds = heldout_seeds
    # the public validation sets must not be the held-out sets
    assert not set(seeds) & {str(seed) for seed in VALIDATION_SEEDS.values()}
    assert len(seeds) == 2, "expected one held-out seed per exercise in the autograder's tests"
    answers = solution_lines(master_notebook)
    assert any('"' in line for line in answers), "no solution line with a quote: the check would not prove quotes are handled"
    assert any(line.startswith("A linear function of a linear function") for line in answers), "written answers not collected"
    for folder in (STUDENT_DIR, kit.student_dir):  # what is committed, and what a build hands out
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            text = path.read_text()
            for seed in seeds:
                assert seed not in text, f"held-out seed in {path}"
            for secret in ("test_regressor_heldout", "test_classifier_heldout", "hidden: true", "hidden=True"):
                assert secret not in text, f"hidden test ({secret!r}) in {path}"
            lines = set(handed_out_text(path))
            leaked = [line for line in answers if line in lines]
            assert not leaked, f"solution or model answer lines in {path}: {leaked}"


def test_the_leak_check_finds_a_leaked_line_with_quotes_and_a_written_answer(master_notebook, tmp_path):
    """The check above can fail: plant one solution line with quotes and one model answer in a copy."""
    answers = solution_lines(master_notebook)
    quoted = next(line for line in answers if '"' in line)
    written = next(line for line in answers if line.startswith("A linear function of a linear function"))
    nb = nbformat.read(STUDENT_DIR / f"{ASSIGNMENT}.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(quoted))
    nb.cells.append(nbformat.v4.new_markdown_cell(written))
    nbformat.write(nb, tmp_path / "leaky.ipynb")
    assert {quoted, written} <= set(handed_out_text(tmp_path / "leaky.ipynb")) & set(answers)


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
    unpinned = [req for req in pip if not req.startswith("--") and "==" not in req]
    assert not unpinned, f"unpinned pip packages in the grading environment: {unpinned}"


def test_autograder_zip_seeds_torch_and_can_import_its_plugin(zip_contents):
    config = json.loads(zip_contents["otter_config.json"])
    assert {"fcnn_kit.otter_plugins.SeedTorch": {"seed": 42}} in config["plugins"]
    assert "fcnn_kit.otter_plugins.LeanKernel" in config["plugins"]
    assert config["seed"] == 42  # otter's own numpy / random seeding
    # Gradescope runs /autograder/source/run_otter.py: the zip's root is on the grader's sys.path
    assert "fcnn_kit/otter_plugins.py" in zip_contents
    # and the student's kernel imports the package from beside the notebook
    assert "files/fcnn_kit/grading.py" in zip_contents
    assert {"tests/q_regression.py", "tests/q_classification.py"} <= set(zip_contents)


def test_no_committed_file_holds_a_heldout_seed(master_notebook, heldout_seeds):
    import subprocess

    config = yaml.safe_load(master_notebook.cells[0].source.partition("\n")[2])
    (settings,) = [p[HELDOUT_PLUGIN] for p in config["generate"]["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
    assert all("heldout_seed" not in spec for spec in settings["questions"].values()), "a seed in the master"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.decode()
    paths = [REPO / p for p in tracked.split("\0") if p and (REPO / p).is_file()]
    assert len(paths) > 20
    seeds = list(heldout_seeds)
    local = REPO / "autograder" / ASSIGNMENT / SEEDS_FILE  # this checkout's own build, if any
    if local.exists():
        seeds += [str(s) for s in json.loads(local.read_text()).values()]
    for path in paths:
        data = path.read_bytes()
        found = [seed for seed in seeds if re.search(rb"(?<![0-9])" + seed.encode() + rb"(?![0-9])", data)]
        assert not found, f"held-out seed(s) {found} in committed {path.relative_to(REPO)}"


def test_seeds_are_drawn_once_from_the_os_and_kept_for_rebuilds(master_notebook, tmp_path):
    import shutil

    staged = tmp_path / "fcnn.ipynb"
    seeds_file = tmp_path / "build" / SEEDS_FILE
    drawn = []
    for _ in range(2):
        shutil.copy(REPO / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", staged)
        _add_heldout_seeds(staged, seeds_file)
        config = yaml.safe_load(nbformat.read(staged, as_version=4).cells[0].source.partition("\n")[2])
        (settings,) = [p[HELDOUT_PLUGIN] for p in config["generate"]["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
        drawn.append({q: spec["heldout_seed"] for q, spec in settings["questions"].items()})
    assert drawn[0] == drawn[1] == json.loads(seeds_file.read_text())
    assert len(set(drawn[0].values())) == len(drawn[0]) and oct(seeds_file.stat().st_mode)[-3:] == "600"
    seeds_file.unlink()
    shutil.copy(REPO / "assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", staged)
    _add_heldout_seeds(staged, seeds_file)
    assert json.loads(seeds_file.read_text()) != drawn[0]  # a new build folder draws new ones


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
    with pytest.raises(RuntimeError, match="autograder tests failed"):
        build(ASSIGNMENT, out_root=tmp_path / "out", self_check=True, source=source)
    assert not (tmp_path / "out" / "student" / ASSIGNMENT).exists()  # nothing half-built is left to hand out


def test_the_notebook_states_the_rules_the_autograder_grades_with(master_notebook):
    """The exercises print their rules from the grader's own settings; the tests' points are those settings."""
    from fcnn_kit import grading, limits

    for task in ("regression", "classification"):
        assert any(f'show_rules("{task}")' in c.source for c in master_notebook.cells if c.cell_type == "code")
        text = grading.rules(task)
        for value in (f"{grading.MAX_EPOCHS:,}", f"{limits.TIME_LIMIT_S} s", f"{limits.MEMORY_LIMIT_MB / 1024:g} GB", "# Demo:"):
            assert value in text, (task, value)
    assert str(grading.REGRESSION_MAX_IN_RANGE_MSE) in grading.rules("regression")
    assert str(grading.REGRESSION_CLOSE_IN_RANGE_MSE) in grading.rules("regression")
    assert str(grading.CLASSIFICATION_MIN_ACCURACY) in grading.rules("classification")
    configs = [
        yaml.safe_load(c.source.split('"""')[1].replace("# BEGIN TEST CONFIG", "").replace("# END TEST CONFIG", ""))
        for c in master_notebook.cells
        if c.cell_type == "code" and "# BEGIN TEST CONFIG" in c.source
    ]
    assert [c["points"] for c in configs if not c.get("hidden")] == [grading.PUBLIC_POINTS] * 2
    assert [c["points"] for c in configs if c.get("hidden")] == [grading.HIDDEN_CASE_POINTS] * 4
    # the limits are not overridden in the master's config, where the notebook could not state them
    assert "time_limit_s" not in master_notebook.cells[0].source and "memory_limit_mb" not in master_notebook.cells[0].source
