"""Grading the written Questions by hand, the way nbgrader's formgrader lets teaching assistants work.

``make grade`` calls :func:`write_pages`: for each written Question of the master (``manual: true``), one page
``manual/QUESTION.md`` with the model answer at the top and every submission's answer below it, side by side
under an anonymous id; and ``manual/scores.csv`` to fill in (one row per submission and Question, its maximum
from the master's config). The ids map back to files only in ``manual/key.csv``, which graders need not open.
``make grade ... MANUAL=manual/scores.csv`` merges the filled-in scores (:func:`read_scores`) into ``grades.csv``
and the report.
"""

from __future__ import annotations

import csv
import hashlib
import pathlib
import zipfile
from dataclasses import dataclass

import nbformat
import yaml

from graded_networks.written_answers import BEGIN, END  # how otter marks a written Question in the student's notebook
from grading_engine.submission import graded_notebook

UNANSWERED = "_Type your answer here, replacing this text._"
ANSWER_TAGS = {"otter_answer_cell", "otter_assign_solution_cell"}
"""The cells of an answer: the student's, and in the solutions notebook the model answer's."""


@dataclass
class WrittenQuestion:
    """A written Question of the master: its name, points, prompt and model answer."""

    name: str
    points: float
    prompt: str
    model_answer: str


def written_questions(master: pathlib.Path) -> list[WrittenQuestion]:
    """The master's manual Questions, in order (``# BEGIN QUESTION`` raw cells with ``manual: true``)."""
    nb = nbformat.read(master, as_version=4)
    found, current, in_solution = [], None, False
    for cell in nb.cells:
        text = cell.source.strip()
        if cell.cell_type == "raw" and text.startswith("# BEGIN QUESTION"):
            config = yaml.safe_load(text.partition("\n")[2]) or {}
            current = WrittenQuestion(config["name"], float(config.get("points", 0)), "", "") if config.get("manual") else None
        elif cell.cell_type == "raw" and text.startswith("# END QUESTION"):
            if current:
                found.append(current)
            current = None
        elif current and cell.cell_type == "raw" and text.startswith(("# BEGIN SOLUTION", "# END SOLUTION")):
            in_solution = text.startswith("# BEGIN")
        elif current and cell.cell_type == "markdown":
            if in_solution:
                current.model_answer += text.removeprefix("**SOLUTION:**").strip()
            elif not current.prompt:
                current.prompt = text
    return found


def written_answers(submission: pathlib.Path) -> list[str] | None:
    """A submission's written answers, in order (None: no notebook could be read from it)."""
    try:
        if submission.suffix == ".zip":
            with zipfile.ZipFile(submission) as zf:
                name = graded_notebook([n for n in zf.namelist() if not n.endswith("/")])  # the one the grader grades
                if name is None:
                    return None
                nb = nbformat.reads(zf.read(name).decode(), as_version=4)
        else:
            nb = nbformat.read(submission, as_version=4)
    except Exception:  # corrupt, not a notebook, several notebooks: the batch grade already says why
        return None
    answers, inside = [], None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.lstrip().startswith(BEGIN):
            inside = []
        elif cell.cell_type == "markdown" and cell.source.lstrip().startswith(END) and inside is not None:
            answers.append("\n\n".join(inside).strip())
            inside = None
        elif inside is not None and ANSWER_TAGS & set(cell.get("metadata", {}).get("tags", [])):
            if cell.source.strip() != UNANSWERED:
                inside.append(cell.source.strip().removeprefix("**SOLUTION:**").strip())
    return answers


def anonymous_id(submission: str) -> str:
    """A short id that does not show who submitted (stable for a file name)."""
    return "S" + hashlib.sha256(submission.encode()).hexdigest()[:6]


def write_pages(master: pathlib.Path, submissions: list[pathlib.Path], out: pathlib.Path) -> list[WrittenQuestion]:
    """Write ``out/QUESTION.md`` per written Question, ``out/key.csv``, and ``out/scores.csv`` to fill in (unless
    it exists: the scores already given are kept)."""
    questions = written_questions(master)
    out.mkdir(parents=True, exist_ok=True)
    answers = {s.name: written_answers(s) for s in submissions}
    ids = {name: anonymous_id(name) for name in answers}
    for i, q in enumerate(questions):
        lines = [f"# {q.name} ({q.points:g} point{'' if q.points == 1 else 's'})", "", q.prompt, "", "## Model answer", "", q.model_answer, ""]
        for name in sorted(answers, key=ids.get):
            given = answers[name]
            text = given[i] if given is not None and i < len(given) else "*(no notebook could be read)*"
            lines += [f"## {ids[name]}", "", text or "*(not answered)*", ""]
        (out / f"{q.name}.md").write_text("\n".join(lines))
    if (out / "scores.csv").exists():
        return questions  # a teaching assistant's scores are never overwritten
    with (out / "scores.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "question", "score", "max"])
        for name in sorted(answers, key=ids.get):
            writer.writerows([ids[name], q.name, "", f"{q.points:g}"] for q in questions)
    with (out / "key.csv").open("w", newline="") as f:
        csv.writer(f).writerows([["id", "submission"], *sorted((ids[n], n) for n in answers)])
    return questions


def read_scores(scores_csv: pathlib.Path) -> dict[str, dict[str, float]]:
    """Filled-in ``scores.csv`` (with its ``key.csv`` beside it): per submission file, each Question's score.

    Raises:
        ValueError: a score is not a number, is negative or above the Question's maximum, or an id is unknown.
    """
    key = {row["id"]: row["submission"] for row in csv.DictReader((scores_csv.parent / "key.csv").open())}
    scores: dict[str, dict[str, float]] = {}
    for row in csv.DictReader(scores_csv.open()):
        if not row["score"].strip():
            continue  # not graded yet
        if row["id"] not in key:
            raise ValueError(f"{scores_csv}: unknown id {row['id']!r}")
        score = float(row["score"])
        if not 0 <= score <= float(row["max"]):
            raise ValueError(f"{scores_csv}: {row['id']} {row['question']}: {score:g} is not between 0 and {row['max']}")
        scores.setdefault(key[row["id"]], {})[row["question"]] = score
    return scores

