"""Grade a folder of submissions with an assignment's autograder zip, as Gradescope runs it.

    python -m instructor.grade SUBMISSIONS [--assignment NAME] [--out DIR] [--manual SCORES_CSV] [--jobs N] [--trust-notebooks]
    make grade A=NAME SUBMISSIONS=path/to/folder [MANUAL=path/to/folder/graded/manual/scores.csv] [TRUST=1]

Every ``.ipynb`` and ``.zip`` in the folder (what students hand in, or what ``grader.export()``
writes) is graded exactly as Gradescope grades it (the zip's own ``run_otter.py`` in a folder laid out like
``/autograder``), several at a time. One bad submission never stops
the batch: it gets a row with score 0 and the reason. Writes ``DIR/grades.csv`` (one row per
submission, one column per question, its band and its held-out metrics, all read as data from the results'
``extra_data``) and ``DIR/report.md`` with its figures (each metric against the lesson's marks). The written
Questions get one page each under ``DIR/manual/`` and a ``scores.csv`` to fill in by hand (``instructor.manual``);
``--manual`` merges it into ``grades.csv`` and the report.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import pathlib
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field

from tqdm import tqdm

from graded_networks.verdict import BANDS
from grading_engine.gradescope import grade_in
from grading_engine.sandbox import TRUST_ENV
from instructor import manual
from instructor.assign import REPO, build, chosen, graded_exercises

SUBMISSION_SUFFIXES = {".ipynb", ".zip"}


@dataclass
class Grade:
    """One submission's outcome, as Gradescope would record it."""

    submission: str
    score: float = 0.0
    possible: float = 0.0
    questions: dict[str, tuple[float, float]] = field(default_factory=dict)  # name -> (score, max)
    metrics: dict[str, float] = field(default_factory=dict)  # "question metric" -> value
    bands: dict[str, str] = field(default_factory=dict)  # question -> band of its hidden test ("" if not graded)
    written: dict[str, float] = field(default_factory=dict)  # written Question -> score given by hand
    alerts: list[str] = field(default_factory=list)  # "question: why" for measurements no honest network reaches
    error: str = ""


def grade_one(submission: pathlib.Path, autograder_zip: pathlib.Path, timeout: float) -> Grade:
    """Grade one file as Gradescope would; never raises: failures become a ``Grade`` with an error."""
    try:
        return _grade_one(submission, autograder_zip, timeout)
    except Exception as e:  # one bad submission must not stop the batch
        return Grade(submission.name, error=f"the batch grader failed on this file: {type(e).__name__}: {e}")


def _grade_one(submission: pathlib.Path, autograder_zip: pathlib.Path, timeout: float) -> Grade:
    grade = Grade(submission.name)
    with tempfile.TemporaryDirectory(prefix="grade-") as root:
        try:  # Gradescope's own entry point (the zip's run_otter.py) in a folder laid out like /autograder
            results, log = grade_in(pathlib.Path(root), autograder_zip, submission, timeout)
        except subprocess.TimeoutExpired:
            grade.error = f"grading took longer than {timeout:.0f} s and was stopped"
            return grade
    if results is None:
        last_line = log.strip().splitlines()[-1:] or ["no output"]
        grade.error = f"the autograder wrote no results: {last_line[0]}"
        return grade
    if not any("max_score" in test for test in results.get("tests", [])):  # not graded at all: the reason is the output
        grade.error = (results.get("output") or "not graded").strip().splitlines()[0][:300]
    graded = results.get("extra_data", {}).get("questions", {})  # what the held-out grading measured, as data
    for test in results.get("tests", []):
        if "max_score" in test:
            grade.questions[test["name"]] = (float(test.get("score", 0)), float(test["max_score"]))
            measured = graded.get(test["name"], {})
            grade.bands[test["name"]] = measured.get("band") or ""
            grade.metrics.update({f"{test['name']} {k}": v for k, v in measured.get("metrics", {}).items()})
            grade.alerts += [f"{test['name']}: {why}" for why in measured.get("alerts", [])]
        elif test.get("name") in {"Autograder Error", "Autograder Failed"}:
            grade.error = test.get("output", "").strip().splitlines()[-1]
    grade.score = float(results.get("score", sum(s for s, _ in grade.questions.values())))
    grade.possible = sum(m for _, m in grade.questions.values())
    return grade


def submissions_in(folder: pathlib.Path) -> list[pathlib.Path]:
    """The files of ``folder`` that are submissions (``.ipynb``, ``.zip``)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in SUBMISSION_SUFFIXES)


def grade_folder(folder: pathlib.Path, autograder_zip: pathlib.Path, jobs: int, timeout: float) -> list[Grade]:
    """Grade every submission in ``folder``, ``jobs`` at a time, with a progress bar."""
    submissions = submissions_in(folder)
    grades = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(grade_one, s, autograder_zip, timeout) for s in submissions]
        for future in tqdm(as_completed(futures), total=len(futures), desc="grading", unit="submission"):
            grades.append(future.result())
    possible = max((g.possible for g in grades), default=0.0)
    for g in grades:
        g.possible = g.possible or possible  # a submission that could not be graded still scored 0 of the total
    return sorted(grades, key=lambda g: g.submission)


def add_written_scores(grades: list[Grade], scores: dict[str, dict[str, float]], written: list[manual.WrittenQuestion]) -> None:
    """Add the hand-given scores of the written Questions to each grade (its total and its maximum)."""
    for g in grades:
        g.written = scores.get(g.submission, {})
        g.score += sum(g.written.values())
        g.possible += sum(q.points for q in written)


def write_csv(grades: list[Grade], path: pathlib.Path) -> None:
    questions = sorted({q for g in grades for q in g.questions})
    written = sorted({q for g in grades for q in g.written})
    metrics = sorted({m for g in grades for m in g.metrics})
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        header = ["submission", "score", "possible", *questions, *written, *(f"{q} band" for q in questions), *metrics, "alerts", "error"]
        writer.writerow(header)
        for g in grades:
            writer.writerow(
                [g.submission, g.score, g.possible, *(g.questions.get(q, ("", ""))[0] for q in questions),
                 *(g.written.get(q, "") for q in written), *(g.bands.get(q, "") for q in questions),
                 *(g.metrics.get(m, "") for m in metrics), "; ".join(g.alerts), g.error]
            )


def write_report(grades: list[Grade], out: pathlib.Path, exercises: dict) -> None:
    """``report.md`` with three figures: scores, each question's bands, held-out metrics against every band's mark.

    Files that could not be graded are listed apart and left out of the mean and the figures.
    """
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    graded = [g for g in grades if not g.error]
    questions = sorted({q for g in graded for q in g.questions})
    possible = max([g.possible for g in grades] + [1.0])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist([g.score for g in graded], bins=[x - 0.5 for x in range(int(possible) + 2)], rwidth=0.8)
    ax.set_xlim(-0.5, possible + 0.5)
    ax.set_xlabel(f"score (out of {possible:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"Scores of the {len(graded)} graded submissions")
    fig.tight_layout()
    fig.savefig(out / "scores.png", dpi=100)

    fig, ax = plt.subplots(figsize=(6, 3.5))
    colours = {"just right": "tab:green", "close": "tab:orange", "off": "tab:red", "": "tab:gray"}
    bottom = [0] * len(questions)
    for band in (*reversed(BANDS), ""):
        counts = [sum(g.bands.get(q, "") == band for g in graded) for q in questions]
        label = band or "not gradable (refused, missing)"
        ax.bar(questions, counts, bottom=bottom, color=colours[band], label=label)
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("submissions")
    ax.set_title("Hidden test band per question (partial credit: close)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bands.png", dpi=100)

    # one panel per measured metric that has marks: its distribution, and every band's mark on it
    metrics = {q: dict.fromkeys(m.metric for m in ex.marks) for q, ex in exercises.items()}
    panels = [(q, metric, [m for m in exercises[q].marks if m.metric == metric]) for q in metrics for metric in metrics[q]]
    panels = [p for p in panels if any(f"{p[0]} {p[1]}" in g.metrics for g in graded)]
    if panels:
        fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.8), squeeze=False)
        for ax, (question, metric, marks) in zip(axes[0], panels):
            ax.hist([g.metrics[f"{question} {metric}"] for g in graded if f"{question} {metric}" in g.metrics], bins=20)
            for mark in marks:
                ax.axvline(mark.value, color=colours[mark.band], linestyle="--", label=str(mark))
            ax.set_xlabel(f"{question}: {metric.replace('_', ' ')}")
            ax.set_ylabel("submissions")
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=8)
        fig.suptitle("Held-out metrics against the marks")
        fig.tight_layout()
        fig.savefig(out / "heldout_metrics.png", dpi=100)
    plt.close("all")

    errored = [g for g in grades if g.error]
    mean = sum(g.score for g in graded) / max(len(graded), 1)
    lines = [
        f"# Grading report: {len(grades)} submissions",
        "",
        f"Mean score {mean:.2f} of {possible:g} over the {len(graded)} graded submissions"
        + (f"; not in the mean: {len(errored)} that could not be graded (0 each, listed below)." if errored else "."),
        "Per submission: `grades.csv`.",
        "",
        f"Written Questions: scored by hand for {sum(bool(g.written) for g in grades)} submissions, included above."
        if any(g.written for g in grades)
        else "Written Questions: not scored yet. Each has a page in `manual/`; fill in `manual/scores.csv` and grade "
        "again with `MANUAL=.../manual/scores.csv`.",
        "",
        "![scores](scores.png)",
        "",
        "![bands per question](bands.png)",
        "",
        "![held-out metrics](heldout_metrics.png)",
        "",
        f"## Measurements no honest network reaches ({sum(bool(g.alerts) for g in grades)}): for you to look at",
        "",
        "Each lesson calibrates these on its zoo of honest trainings; the grade is unchanged (see the README).",
        "",
        *([f"- `{g.submission}`: {'; '.join(g.alerts)}" for g in grades if g.alerts] or ["None."]),
        "",
        f"## Submissions that could not be graded ({len(errored)})",
        "",
        *([f"- `{g.submission}`: {g.error}" for g in errored] or ["None."]),
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=pathlib.Path, help="folder of .ipynb / .zip submissions")
    parser.add_argument("--assignment", help="the assignment under assignments/ (default: the only one)")
    parser.add_argument("--out", type=pathlib.Path, help="where to write grades.csv and report.md (default: SUBMISSIONS/graded)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="submissions graded at once (default: one per core)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before one submission's grading is stopped")
    parser.add_argument("--autograder", type=pathlib.Path, help="the autograder zip (default: the one `make assign` builds)")
    parser.add_argument("--manual", type=pathlib.Path, help="the written Questions' scores.csv, filled in: merged into the grades")
    parser.add_argument("--trust-notebooks", action="store_true",
                        help="grade even where no box can be made (an ordinary user without user namespaces): the "
                        "notebooks then run with your own rights")  # fmt: skip
    args = parser.parse_args(argv)
    if args.trust_notebooks:
        os.environ[TRUST_ENV] = "1"  # read by each grading's sandbox (grading_engine/sandbox.py)
    if not args.submissions.is_dir():
        parser.error(f"{args.submissions} is not a folder")
    name = chosen(args.assignment)
    out = args.out or args.submissions / "graded"
    out.mkdir(parents=True, exist_ok=True)
    autograded = out / "grades.json"  # the autograder's grades as data, before any written scores
    if args.manual and autograded.exists():
        print(f"[grade] merging the written Questions' scores into the grades in {autograded} (not grading again)")
        grades = [Grade(**g) for g in json.loads(autograded.read_text())]
    else:
        autograder_zip = args.autograder or REPO / "autograder" / name / f"{name}-autograder.zip"
        if not autograder_zip.exists():
            print("[grade] no autograder zip yet: building the kit first", flush=True)
            build(name)
        grades = grade_folder(args.submissions, autograder_zip, args.jobs, args.timeout)
        autograded.write_text(json.dumps([dataclasses.asdict(g) for g in grades], indent=1))
    master = REPO / "assignments" / name / f"{name}.ipynb"
    written = manual.write_pages(master, submissions_in(args.submissions), out / "manual")
    if args.manual:
        add_written_scores(grades, manual.read_scores(args.manual), written)
    write_csv(grades, out / "grades.csv")
    write_report(grades, out, graded_exercises(name))
    print(f"[grade] {len(grades)} submissions, {sum(bool(g.error) for g in grades)} could not be graded")
    print(f"[grade] wrote {out / 'grades.csv'} and {out / 'report.md'}")
    print(f"[grade] written Questions: one page each in {out / 'manual'}; fill in {out / 'manual' / 'scores.csv'} and "
          f"rerun with MANUAL={out / 'manual' / 'scores.csv'}" if not args.manual else "[grade] written Questions' scores merged")
    return 1 if any(g.error for g in grades) else 0  # every file has its row; a non-zero exit says some got no grade


if __name__ == "__main__":
    sys.exit(main())
