"""Submissions as they really arrive in a course's first week, graded as Gradescope grades them.

Each case is the solutions' honest work handed in another way: the whole handed-out folder zipped (with the student's
own copies of the lesson package and of ``graded_networks/``), JupyterLab's checkpoints, a folder inside the zip, a
notebook that lost otter's metadata, an older notebook format, non-ASCII text, megabytes of saved output. Each gets
the score its work earns; a notebook of another assignment gets none, with a message that says so.
"""

from __future__ import annotations

import copy
import pathlib
import zipfile

import nbformat
import pytest

from conftest import ASSIGNMENT

pytestmark = pytest.mark.slow

FULL = 10  # both graded exercises, 5 points each
QUESTIONS = ("q_regression", "q_classification")
STUDENT_COPY = 'raise ImportError("the student\'s own copy was imported, not the autograder\'s")\n'


def _zip(path: pathlib.Path, files: dict[str, bytes]) -> pathlib.Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return path


def _notebook_bytes(nb: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(nb).encode()


def _cases(kit, folder: pathlib.Path) -> dict[str, tuple[pathlib.Path, int]]:
    solutions = nbformat.read(kit.solutions_notebook, as_version=4)
    ours = _notebook_bytes(solutions)
    untouched = (kit.student_dir / f"{ASSIGNMENT}.ipynb").read_bytes()
    cases: dict[str, tuple[pathlib.Path, int]] = {}

    # the whole handed-out folder, zipped, with the student's own (here: sabotaged) lesson package and engine copy
    handed_out = {str(p.relative_to(kit.student_dir)): p.read_bytes() for p in kit.student_dir.rglob("*") if p.is_file()}
    handed_out[f"{ASSIGNMENT}.ipynb"] = ours
    for package in (f"{ASSIGNMENT}_lesson", "graded_networks"):
        handed_out[f"{package}/__init__.py"] = STUDENT_COPY.encode()
    cases["the whole handed-out folder zipped"] = (_zip(folder / "folder.zip", handed_out), FULL)

    cases["with JupyterLab's checkpoints"] = (
        _zip(folder / "checkpoints.zip", {f"{ASSIGNMENT}.ipynb": ours, f".ipynb_checkpoints/{ASSIGNMENT}-checkpoint.ipynb": untouched}),
        FULL,
    )
    cases["a folder inside the zip"] = (_zip(folder / "nested.zip", {f"my-work/{ASSIGNMENT}.ipynb": ours}), FULL)
    # Finder's Compress: the folder, and a resource-fork copy of each file under __MACOSX/ (not a notebook at all)
    fork = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        "
    mac = {f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb": ours, f"__MACOSX/{ASSIGNMENT}/._{ASSIGNMENT}.ipynb": fork}
    cases["a folder zipped on a Mac (__MACOSX)"] = (_zip(folder / "mac.zip", mac), FULL)

    no_name = copy.deepcopy(solutions)
    no_name.metadata.pop("otter", None)
    cases["no otter metadata"] = (_write(folder / "no-name", no_name), FULL)

    other = copy.deepcopy(solutions)
    other.metadata.setdefault("otter", {})["assignment_name"] = "digits"
    cases["another assignment's notebook"] = (_write(folder / "other", other), 0)

    old = copy.deepcopy(solutions)
    old.nbformat_minor = 4
    for cell in old.cells:
        cell.pop("id", None)
    path = folder / "old" / f"{ASSIGNMENT}.ipynb"
    path.parent.mkdir()
    path.write_text(nbformat.writes(old, version=nbformat.NO_CONVERT))
    cases["nbformat 4.4, no cell ids"] = (path, FULL)

    accents = copy.deepcopy(solutions)
    accents.cells.insert(3, nbformat.v4.new_markdown_cell("Réponse : la fonction ∑ṽ est lisse 😅 — 日本語も"))
    accents.cells.insert(4, nbformat.v4.new_code_cell("étiquette = 'données ∑ 😅'  # non-ASCII\nprint(étiquette)"))
    cases["non-ASCII code and answers"] = (_write(folder / "accents", accents), FULL)

    heavy = copy.deepcopy(solutions)
    first_code = next(c for c in heavy.cells if c.cell_type == "code")
    first_code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * (40 * 2**20))]
    cases["40 MB of saved output"] = (_write(folder / "heavy", heavy), FULL)
    return cases


def _write(folder: pathlib.Path, nb: nbformat.NotebookNode) -> pathlib.Path:
    folder.mkdir()
    path = folder / f"{ASSIGNMENT}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def arrivals(kit, grade, tmp_path_factory):
    cases = _cases(kit, tmp_path_factory.mktemp("arrivals"))
    graded = grade.many([path for path, _ in cases.values()])
    return {name: (result, expected) for (name, (_, expected)), result in zip(cases.items(), graded)}


CASES = ["the whole handed-out folder zipped", "with JupyterLab's checkpoints", "a folder inside the zip",
         "a folder zipped on a Mac (__MACOSX)", "no otter metadata",
         "nbformat 4.4, no cell ids", "non-ASCII code and answers", "40 MB of saved output", "another assignment's notebook"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_a_real_arrival_gets_the_score_its_work_earns(case, arrivals):
    graded, expected = arrivals[case]
    scores = {t["name"]: t.get("score", 0) for t in graded.results.get("tests", [])}
    assert sum(scores.get(q, 0) for q in QUESTIONS) == expected, (graded.results.get("output"), graded.log[-3000:])
    if expected == 0:  # what the student reads: which assignment the notebook is, and which this one is
        shown = graded.results.get("output", "") + "".join(t.get("output", "") for t in graded.results.get("tests", []))
        assert f"Received submission for assignment 'digits' (this is assignment '{ASSIGNMENT}')" in shown, shown
    if case == "the whole handed-out folder zipped":
        assert "replaced the submission's own graded_networks" in graded.log


RESUBMISSION = {
    "id": 2002, "created_at": "2026-12-06T10:00:00.000000-08:00", "users": [{"email": "student@example.edu", "id": 7, "name": "A Student"}],
    "assignment": {"id": 11, "title": "fcnn", "total_points": "10.0"}, "submission_method": "upload",
    "previous_submissions": [{"submission_time": "2026-12-05T10:00:00.000000-08:00", "score": 10.0,
                              "results": {"score": 10.0, "tests": [{"name": "q_regression", "score": 5, "max_score": 5}]}}],
}  # fmt: skip
"""Gradescope's ``submission_metadata.json`` for a second submission, the first of which scored full marks."""


def test_a_resubmission_gets_what_the_new_notebook_earns_not_the_last(kit, tmp_path):
    """A student who resubmits the untouched notebook after a full score gets what it earns (0): nothing of an earlier
    submission carries over, and the metadata Gradescope adds does not stop the grading."""
    from grading_engine.gradescope import grade_in

    results, log = grade_in(tmp_path / "autograder", kit.autograder_zip, kit.student_dir / f"{ASSIGNMENT}.ipynb", 900, RESUBMISSION)
    assert results is not None, log[-3000:]
    scores = {t["name"]: t.get("score") for t in results["tests"] if t["name"] in QUESTIONS}
    assert scores == {"q_regression": 0, "q_classification": 0} and results.get("score", 0) == 0, (results, log[-3000:])
    assert "is still the placeholder `...`" in "".join(t.get("output", "") for t in results["tests"])
