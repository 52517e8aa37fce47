"""The digits assignment graded end to end, as Gradescope grades it, and its held-out third kept out of reach.

One build of the kit (``make assign``'s own ``build``) and one grading of each submission, two at a time: the
solutions (full marks), the untouched notebook (none), an undertrained, an overfit and a convolutional network, and a notebook that hunts for the
held-out digits in every file it can read while it is graded, whose own network ends in a softmax (full marks:
probabilities and logits are read alike).
"""

from __future__ import annotations

import base64
import pathlib
import subprocess
import zipfile

import nbformat
import numpy as np
import pytest

from conftest import Grader, answer_cell_of, built_kit, files_under
from instructor.assign import REPO

pytestmark = pytest.mark.slow

NAME = "digits"
GRADED = "digit_classifier"
QUESTION = "q_digits"
FIXTURES = REPO / "assignments" / NAME / "fixtures"
FULL = 5
PUBLIC = 1
SEARCHER = "searches_for_heldout"
CASES = {  # fixture: (score, what the question's output says)
    "underfit_classifier": (PUBLIC, "not trained enough"),
    "overfit_classifier": (PUBLIC, "not trained on all of them"),
    "convolutional_classifier": (0, "contains a Conv2d layer"),
    SEARCHER: (FULL, "Band: just right."),
}


def markers() -> list[bytes]:
    """Bytes that only the held-out digits contain, in each form a copy of them takes: their pixels as raw bytes
    (a NumPy file), as scikit-learn's CSV writes them, and the start of the autograder's base64."""
    from digits_lesson.data import heldout_split, split

    s = split()
    everyone = {row.tobytes() for row in np.concatenate([s.x_train, s.x_validation])}
    unique = [i for i, row in enumerate(s.x_heldout) if row.tobytes() not in everyone][:3]
    found = [s.x_heldout[i].tobytes() for i in unique]
    found += [("\n" + ",".join(map(str, s.x_heldout[i])) + f",{s.y_heldout[i]}\n").encode() for i in unique]
    found.append(heldout_split()["x"][:84].encode())  # 63 bytes of pixels: 84 base64 characters, exactly
    return found


# Session-scoped, not module-scoped: pytest-xdist may tear a module's fixtures down between its tests (when the next
# test has not reached the worker yet), and these take a minute to make. (`kit` here is the digits kit: it overrides
# the conftest's fcnn `kit` for this module only.)
@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    return built_kit(tmp_path_factory, NAME)


@pytest.fixture(scope="session")
def submissions(kit, tmp_path_factory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("digits-submissions")
    student = kit.student_dir / f"{NAME}.ipynb"
    made = {"solutions": kit.solutions_notebook, "untouched": student}
    for fixture in CASES:
        nb = nbformat.read(student, as_version=4)
        (cell,) = [c for c in nb.cells if answer_cell_of(c, GRADED)]
        source = (FIXTURES / f"{fixture}.py").read_text()
        # as hex, so that the notebook's own source (in any file that records it) holds no marker itself
        cell.source = source.replace("MARKERS = []", f"MARKERS = [bytes.fromhex(h) for h in {[m.hex() for m in markers()]!r}]")
        path = folder / fixture / f"{NAME}.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, path)
        made[fixture] = path
    return made


@pytest.fixture(scope="session")
def graded(kit, submissions, tmp_path_factory):
    grader = Grader(kit.autograder_zip, tmp_path_factory)
    return dict(zip(submissions, grader.many(list(submissions.values()))))


def test_solutions_get_full_marks_and_the_untouched_notebook_none(graded):
    solutions, untouched = graded["solutions"], graded["untouched"]
    assert solutions.score(QUESTION) == FULL, solutions.output(QUESTION)
    assert "Band: just right." in solutions.output(QUESTION)
    assert solutions.notebook_check_passed(QUESTION) is solutions.public_test_passed(QUESTION) is True
    measured = solutions.results["extra_data"]["questions"][QUESTION]  # the instructor's data: honest, no alert
    assert measured["alerts"] == [] and 0 < measured["metrics"]["heldout_above_validation"] + 0.1 < 0.2
    assert untouched.score(QUESTION) == 0
    assert untouched.notebook_check_passed(QUESTION) is False


@pytest.mark.parametrize("fixture", CASES)
def test_each_submission_gets_the_grade_its_network_earns_and_says_why(graded, fixture):
    result = graded[fixture]
    score, says = CASES[fixture]
    assert result.score(QUESTION) == score, result.output(QUESTION)
    assert says in result.output(QUESTION)
    # what the notebook's own check said is what the autograder's public test says
    assert result.notebook_check_passed(QUESTION) is result.public_test_passed(QUESTION)


def executed_output(result, marker: str) -> str:
    for cell in result._pickled().notebook.cells:
        if cell.cell_type == "code" and marker in cell.source:
            return "".join(o.get("text", "") for o in cell.get("outputs", []))
    raise AssertionError(f"no executed cell contains {marker!r}")


def test_a_notebook_searching_every_file_it_can_read_finds_no_heldout_digit(graded, kit):
    said = executed_output(graded[SEARCHER], "MARKERS = ")
    assert "FOUND []" in said and "load_digits failed" in said, said
    searched = int(said.split("SEARCHED ")[1].split()[0])
    assert searched > 1_000, said  # it did read the environment, scikit-learn's files included
    # The same search finds the held-out digits where they are, so its silence above means something:
    # in scikit-learn's own copy, and in the autograder's configuration inside the zip.
    namespace: dict = {}
    exec((FIXTURES / f"{SEARCHER}.py").read_text().split("found, readable")[0], namespace)
    import sklearn

    copy = pathlib.Path(sklearn.__file__).parent / "datasets" / "data" / "digits.csv.gz"
    for where in (copy, kit.autograder_zip):
        assert any(m in blob for blob in namespace["blobs"](where, where.read_bytes()) for m in markers()), where


def test_the_heldout_digits_are_nowhere_in_git_or_the_handed_out_folder(kit):
    from digits_lesson.data import HANDED_OUT, split

    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    files = [REPO / p.decode() for p in tracked if p] + [p for p in kit.student_dir.rglob("*") if p.is_file()]
    wanted = markers()
    for path in files:
        if not path.is_file():
            continue
        blobs = [path.read_bytes()]
        if path.suffix == ".npz":
            with zipfile.ZipFile(path) as z:
                blobs += [z.read(n) for n in z.namelist()]
        assert not any(m in blob for blob in blobs for m in wanted), path
    # what is handed out is the split's training and validation parts, exactly
    s = split()
    with np.load(HANDED_OUT) as handed:
        assert np.array_equal(handed["x_train"], s.x_train) and np.array_equal(handed["y_validation"], s.y_validation)
        assert "x_heldout" not in handed
    assert len(s.y_heldout) == 600 and not set(map(bytes, s.x_heldout)) <= set(map(bytes, s.x_train))
    assert base64.b64decode(markers()[-1])  # the base64 marker is well-formed


def test_the_committed_student_folder_is_what_make_assign_builds_and_holds_no_solution(kit):
    committed, rebuilt = files_under(REPO / "student" / NAME), files_under(kit.student_dir)
    assert committed == rebuilt, "student/digits differs from a rebuild: run `make assign A=digits` and commit"
    notebook = (kit.student_dir / f"{NAME}.ipynb").read_text()
    assert "nn.Linear(64, 128)" in kit.solutions_notebook.read_text() and "nn.Linear(64, 128)" not in notebook
    assert "**SOLUTION:**" in kit.solutions_notebook.read_text() and "**SOLUTION:**" not in notebook  # written answers
