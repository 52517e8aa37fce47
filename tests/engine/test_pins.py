"""Every assignment's environments, the students' and the grading image's, pin what the repository tests with."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
ASSIGNMENTS = sorted(p.parent for p in (REPO / "assignments").glob("*/*.ipynb") if p.stem == p.parent.name)


def pins(path: pathlib.Path) -> dict[str, str]:
    """``name -> version`` of a requirements file's ``==`` lines (a local label such as ``+cpu`` left out)."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {name.lower(): version.split("+")[0] for name, _, version in (line.partition("==") for line in lines if "==" in line)}


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=lambda p: p.name)
def test_assignment_pins_are_the_repositorys(assignment):
    tested = pins(REPO / "requirements.txt")
    for file in ("requirements.txt", "student-requirements.txt"):
        if (assignment / file).exists():
            pinned = pins(assignment / file)
            assert pinned and {name: tested.get(name) for name in pinned} == pinned, f"{assignment.name}/{file} drifted from requirements.txt"
