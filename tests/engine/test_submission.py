"""The submission tidied before otter runs (``grading_engine.submission.tidy``), on folders laid out by hand."""

from __future__ import annotations

import json
import pathlib

import pytest

from grading_engine.submission import graded_notebook, tidy


def _layout(root: pathlib.Path, files: dict[str, str], support: tuple[str, ...] = ("lesson", "README.md")) -> pathlib.Path:
    for name in support:
        path = root / "source" / "files" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.mkdir() if "." not in name else path.write_text("the course's"))
    (root / "source" / "otter_config.json").write_text(json.dumps({"assignment_name": "lesson1"}))
    for name, text in files.items():
        path = root / "submission" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "submission"


def _notebook(name: str | None = None) -> str:
    return json.dumps({"cells": [], "metadata": {"otter": {"assignment_name": name}} if name else {}, "nbformat": 4, "nbformat_minor": 5})


def test_the_students_copies_of_course_code_and_checkpoints_go(tmp_path):
    submission = _layout(tmp_path, {"a.ipynb": _notebook("lesson1"), "lesson/__init__.py": "mine", "README.md": "mine",
                                    "tests/q.py": "mine", ".ipynb_checkpoints/a-checkpoint.ipynb": "{}"})  # fmt: skip
    notes = tidy(tmp_path)
    assert sorted(p.name for p in submission.iterdir()) == ["a.ipynb"]
    assert any("lesson" in note for note in notes) and any(".ipynb_checkpoints" in note for note in notes)


def test_the_one_nested_notebook_is_moved_up_with_its_pdf(tmp_path):
    submission = _layout(tmp_path, {"work/a.ipynb": _notebook("lesson1"), "work/a.pdf": "%PDF"})
    tidy(tmp_path)
    assert (submission / "a.ipynb").exists() and (submission / "a.pdf").exists()


def test_two_nested_notebooks_are_left_for_otter_to_refuse(tmp_path):
    submission = _layout(tmp_path, {"x/a.ipynb": _notebook("lesson1"), "y/b.ipynb": _notebook("lesson1")})
    tidy(tmp_path)
    assert not list(submission.glob("*.ipynb"))


def test_a_missing_assignment_name_is_given_and_another_kept(tmp_path):
    submission = _layout(tmp_path / "missing", {"a.ipynb": _notebook()})
    tidy(tmp_path / "missing")
    assert json.loads((submission / "a.ipynb").read_text())["metadata"]["otter"]["assignment_name"] == "lesson1"
    other = _layout(tmp_path / "other", {"a.ipynb": _notebook("lesson2")})
    tidy(tmp_path / "other")
    assert json.loads((other / "a.ipynb").read_text())["metadata"]["otter"]["assignment_name"] == "lesson2"


def test_links_are_never_followed(tmp_path):
    outside = tmp_path / "outside"
    (outside / ".ipynb_checkpoints").mkdir(parents=True)
    (outside / "b.ipynb").write_text(_notebook())
    submission = _layout(tmp_path / "grading", {"a.txt": "x"})
    (submission / "link").symlink_to(outside)
    tidy(tmp_path / "grading")
    assert (outside / ".ipynb_checkpoints").is_dir() and (outside / "b.ipynb").exists()  # untouched outside the folder


@pytest.mark.parametrize(
    "files, graded",
    [
        (["a.ipynb", "fcnn/b.ipynb"], "a.ipynb"),  # one at the top: that one, whatever folders hold
        (["fcnn/a.ipynb", "fcnn/.ipynb_checkpoints/a-checkpoint.ipynb", "fcnn/tests/q.py"], "fcnn/a.ipynb"),
        (["a.ipynb", "b.ipynb"], None),  # otter refuses two
        (["x/a.ipynb", "y/b.ipynb"], None),
        (["notes.txt"], None),
        (["fcnn/fcnn.ipynb", "__MACOSX/fcnn/._fcnn.ipynb", "fcnn/._fcnn.ipynb"], "fcnn/fcnn.ipynb"),  # a Mac's Compress
    ],
)
def test_the_graded_notebook_is_chosen_by_one_rule(files, graded):
    """The rule :func:`tidy` grades by, which ``make grade``'s pages of written answers read by too."""
    assert graded_notebook(files) == graded
