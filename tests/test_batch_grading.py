"""Batch grading a folder gives every submission the score that grading it alone gives."""

from __future__ import annotations

import csv
import shutil

from instructor.grade import main as grade_folder_cli

# Per question, what each file scores graded alone, as tests/test_grading.py asserts (grading them again
# here would cost 40 s and prove nothing more).
ALONE = {
    "solutions.ipynb": {"q_regression": 5, "q_classification": 5},
    "untouched.ipynb": {"q_regression": 0, "q_classification": 0},
    "linear_and_underfit.ipynb": {"q_regression": 1, "q_classification": 1},
}


def test_batch_grades_match_grading_each_file_alone(kit, make_submission, tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    singles = {
        "solutions.ipynb": kit.solutions_notebook,
        "untouched.ipynb": kit.student_dir / "fcnn.ipynb",
        "linear_and_underfit.ipynb": make_submission(q_regression="linear_regressor", q_classification="underfit_classifier"),
    }
    for name, source in singles.items():
        shutil.copy(source, folder / name)
    (folder / "corrupt.ipynb").write_text("{not json")
    (folder / "notes.txt").write_text("not a submission: ignored")
    out = tmp_path / "graded"

    assert grade_folder_cli([str(folder), "--out", str(out), "--jobs", "2", "--autograder", str(kit.autograder_zip)]) == 0

    rows = {row["submission"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert sorted(rows) == sorted([*singles, "corrupt.ipynb"])
    for name, scores in ALONE.items():
        assert {question: rows[name][question] for question in scores} == {q: str(float(v)) for q, v in scores.items()}, rows[name]
        assert rows[name]["error"] == ""
    assert float(rows["solutions.ipynb"]["heldout_mse_in_range"]) < 5.5
    assert float(rows["linear_and_underfit.ipynb"]["heldout_accuracy"]) < 0.75
    # the bad file got a row, a zero and the reason, and did not stop the batch
    assert float(rows["corrupt.ipynb"]["score"]) == 0 and float(rows["corrupt.ipynb"]["possible"]) == 10
    assert "does not appear to be JSON" in rows["corrupt.ipynb"]["error"]
    report = (out / "report.md").read_text()
    assert "corrupt.ipynb" in report
    for figure in ("scores.png", "pass_rates.png", "heldout_metrics.png"):
        assert figure in report and (out / figure).stat().st_size > 1000
