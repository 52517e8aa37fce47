"""End-to-end grading: real notebooks, graded by the real ``otter run`` with the freshly built zip."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # grades real notebooks with the built zip

PUBLIC_POINTS, TOTAL_POINTS = 1, 5

def test_solutions_notebook_gets_full_marks(kit, grade):
    graded = grade(kit.solutions_notebook)
    for question, metric in (("q_regression", "MSE inside the training x-range"), ("q_classification", "accuracy")):
        assert graded.score(question) == TOTAL_POINTS, graded.output(question)
        # a pass reports the held-out numbers too, measured outside the student's kernel, once
        assert metric in graded.output(question) and graded.output(question).count("Band: just right.") == 1
        assert graded.results["extra_data"]["questions"][question]["band"] == "just right"
        # the held-out verdict shows once grades are published (show_hidden), and nowhere a student sees before
        assert graded.test(question)["visibility"] == "after_published"
    shown_before = [t.get("output", "") for t in graded.results["tests"] if t.get("visibility") == "visible"]
    assert not [text for text in [graded.results.get("output", ""), *shown_before] if "Band:" in text]


def test_untouched_student_notebook_scores_zero_and_still_has_results(kit, grade):
    graded = grade(kit.student_dir / "fcnn.ipynb")
    for question, name in (("q_regression", "just_right_regressor"), ("q_classification", "just_right_classifier")):
        assert graded.score(question) == 0
        assert graded.output(question).count(f"`{name}` is still the placeholder `...`") == 1  # once per exercise
    # The notebook ran to its end politely, as a student who runs it untouched sees it: the exercise cells remind
    # them to fill in the placeholders, the checks say what is missing, and nothing raised.
    executed = graded._pickled().notebook
    shown = "\n".join(
        o.get("text", "") + str(o.get("data", {}).get("text/plain", ""))
        for c in executed.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )
    assert "Replace the `...` placeholders" in shown and "is still the placeholder `...`" in shown
    # (otter's own last cell cannot write its results pickle as the kernel user: the engine ignores that pickle)
    raised = [c.source for c in executed.cells if c.cell_type == "code" and "pickle.dump" not in c.source
              for o in c.get("outputs", []) if o.get("output_type") == "error"]  # fmt: skip
    assert not raised, raised


@pytest.mark.parametrize(
    "answers, advice",
    [
        pytest.param(
            {"q_regression": "linear_regressor", "q_classification": "underfit_classifier"}, "model bias", id="underfit"
        ),
        pytest.param(
            {"q_regression": "overfit_regressor", "q_classification": "overfit_classifier"},
            "overfitting",
            id="overfit",
        ),
    ],
)
def test_lessons_poor_designs_pass_the_public_check_and_fail_the_held_out_test(answers, advice, make_submission, grade):
    graded = grade(make_submission(**answers))
    for question, metric in (("q_regression", "MSE inside the training x-range"), ("q_classification", "accuracy")):
        # the models exist and were trained, so the public check passes; only the held-out test fails
        assert graded.score(question) == PUBLIC_POINTS, graded.output(question)
        assert metric in graded.output(question) and advice in graded.output(question)


def test_regrades_give_identical_scores_and_messages(kit, grade, tmp_path):
    """A submission whose cells draw random numbers (no seeds of its own) is graded the same every time."""
    import nbformat

    copies = []
    for i in range(2):
        nb = nbformat.read(kit.solutions_notebook, as_version=4)
        cells = []
        for cell in nb.cells:
            if cell.cell_type == "code" and "just_right_" in cell.source and " = nn.Sequential" in cell.source:
                # before each exercise, a cell that draws a different number of random numbers in each copy (torch's
                # own seed is the same in every new process: only seeding at the top of each cell keeps the draws)
                cells.append(nbformat.v4.new_code_cell(f"import random\nrandom.random(); np.random.rand(3); torch.rand({7 * i + 1})"))
            # the student's own seeding removed: the first cell's hook (seed_every_cell) too, so that only the
            # autograder's SeedTorch seeds each cell
            cell.source = cell.source.replace("seed_every_cell()", "pass")
            cells.append(cell)
        nb.cells = cells
        assert sum("torch.rand(" in c.source for c in nb.cells) >= 2 and not any("seed_every_cell()" in c.source for c in nb.cells)
        path = tmp_path / f"copy{i}" / "fcnn.ipynb"
        path.parent.mkdir()
        nbformat.write(nb, path)
        copies.append(path)

    first, second = (g.results["tests"] for g in grade.many(copies))
    assert first == second
    assert {t["name"]: t.get("score") for t in first if t["name"].startswith("q_")} == {"q_regression": 5, "q_classification": 5}


def test_make_grade_gives_each_file_what_grading_it_alone_gives(kit, grade, make_submission, tmp_path, capsys, monkeypatch):
    """`make grade` on a folder, compared with single gradings of the same files made in this run (the tests
    above grade them first; this file runs in one worker, so they are reused, not graded again)."""
    import csv
    import shutil
    import threading
    import zipfile

    import instructor.grade
    from instructor.assign import REPO
    from instructor.grade import main as grade_folder_cli

    handed_in = tmp_path / "handed-in.zip"  # a zip of the whole handed-out folder, the solutions in it
    with zipfile.ZipFile(handed_in, "w") as zf:
        for path in sorted(kit.student_dir.rglob("*")):
            if path.is_file():
                zf.write(kit.solutions_notebook if path.name == "fcnn.ipynb" else path, f"fcnn/{path.relative_to(kit.student_dir)}")
    singles = {
        "solutions.ipynb": kit.solutions_notebook,
        "untouched.ipynb": kit.student_dir / "fcnn.ipynb",
        "linear_and_underfit.ipynb": make_submission(q_regression="linear_regressor", q_classification="underfit_classifier"),
        "handed-in.zip": handed_in,
    }
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name, source in singles.items():
        shutil.copy(source, folder / name)
    (folder / "corrupt.ipynb").write_text("{not json")
    (folder / "notes.txt").write_text("not a submission: ignored")
    out = tmp_path / "graded"
    # --jobs: how many gradings run at once, counted around the real grading of each file
    running, most, lock, grade_one = [0], [0], threading.Lock(), instructor.grade.grade_one

    def counted(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return grade_one(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(instructor.grade, "grade_one", counted)
    capsys.readouterr()

    # exit 1: the corrupt file got no grade (its row says why); every other file was graded
    assert grade_folder_cli([str(folder), "--assignment", "fcnn", "--out", str(out), "--jobs", "2", "--autograder", str(kit.autograder_zip)]) == 1
    assert most[0] == 2, f"--jobs 2 ran {most[0]} at a time"
    progress = capsys.readouterr().err
    assert "grading: 100%" in progress and "5/5" in progress, progress[-2000:]  # the progress bar, to the last file

    rows = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert sorted(rows) == sorted([*singles, "corrupt.ipynb"])
    for name, source in singles.items():
        alone = grade(source)
        expected = {t["name"]: str(float(t["score"])) for t in alone.results["tests"] if "max_score" in t}
        assert {q: rows[name][q] for q in expected} == expected and rows[name]["error"] == "", rows[name]
    # the metrics and bands come as data from results.json, never read back out of the messages
    measured = grade(kit.solutions_notebook).results["extra_data"]["questions"]
    assert float(rows["solutions.ipynb"]["q_regression heldout_mse_in_range"]) == measured["q_regression"]["metrics"]["heldout_mse_in_range"]
    assert rows["solutions.ipynb"]["q_regression band"] == "just right" and rows["untouched.ipynb"]["q_regression band"] == ""
    assert float(rows["solutions.ipynb"]["q_regression heldout_mse_in_range"]) < 5.5
    assert float(rows["linear_and_underfit.ipynb"]["q_classification heldout_accuracy"]) < 0.75
    # the bad file got a row, a zero and the reason Gradescope would give, and did not stop the batch
    corrupt = grade(folder / "corrupt.ipynb")
    assert float(rows["corrupt.ipynb"]["score"]) == 0 and float(rows["corrupt.ipynb"]["possible"]) == 10
    assert rows["corrupt.ipynb"]["error"] and rows["corrupt.ipynb"]["error"] in corrupt.general_output
    report = (out / "report.md").read_text()
    assert "corrupt.ipynb" in report
    for figure in ("scores.png", "bands.png", "heldout_metrics.png"):
        assert figure in report and (out / figure).stat().st_size > 1000

    # the written Questions: one page each, the model answer at the top and each submission's answer, anonymised
    from instructor.manual import written_questions

    questions = written_questions(REPO / "assignments" / "fcnn" / "fcnn.ipynb")
    assert len(questions) == 10 and all(q.points > 0 for q in questions)
    for q in questions:
        page = (out / "manual" / f"{q.name}.md").read_text()
        # the model answer, the solutions' and the zipped folder's (its notebook inside a folder); the untouched one
        assert page.count(q.model_answer) == 3 and "*(not answered)*" in page, q.name
        assert not [name for name in rows if name in page]
    # a TA fills in scores.csv; merging it adds to grades.csv and the report, without grading again
    key = {row["submission"]: row["id"] for row in csv.DictReader((out / "manual" / "key.csv").open())}
    filled = list(csv.DictReader((out / "manual" / "scores.csv").open()))
    for row in filled:
        row["score"] = row["max"] if row["id"] == key["solutions.ipynb"] else "0"
    with (out / "manual" / "scores.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(filled[0]))
        writer.writeheader()
        writer.writerows(filled)
    arguments = ["--assignment", "fcnn", "--out", str(out), "--manual", str(out / "manual" / "scores.csv")]
    assert grade_folder_cli([str(folder), *arguments, "--autograder", str(tmp_path / "absent.zip")]) == 1
    merged = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    written_total = sum(q.points for q in questions)
    assert float(merged["solutions.ipynb"]["score"]) == 10 + written_total == float(merged["solutions.ipynb"]["possible"])
    assert float(merged["untouched.ipynb"]["score"]) == 0 and float(merged["untouched.ipynb"][questions[0].name]) == 0
    assert "scored by hand for 5 submissions" in (out / "report.md").read_text()
