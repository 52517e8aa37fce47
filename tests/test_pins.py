"""Every assignment's environments, the students' and the grading image's, pin what the repository tests with."""

from __future__ import annotations

import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
ASSIGNMENTS = sorted(p.parent for p in (REPO / "assignments").glob("*/*.ipynb") if p.stem == p.parent.name)


def pins(path: pathlib.Path) -> dict[str, str]:
    """``name -> version`` of a requirements file's ``==`` lines (names normalised, a local label such as ``+cpu`` left out)."""
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    pinned = (line.partition("==") for line in lines if "==" in line)
    return {name.lower().replace("_", "-").replace(".", "-"): version.split("+")[0] for name, _, version in pinned}


@pytest.mark.parametrize("assignment", ASSIGNMENTS, ids=lambda p: p.name)
def test_assignment_pins_are_the_repositorys(assignment):
    tested = pins(REPO / "requirements.txt")
    for file in ("requirements.txt", "student-requirements.txt"):
        if (assignment / file).exists():
            pinned = pins(assignment / file)
            assert pinned and {name: tested.get(name) for name in pinned} == pinned, f"{assignment.name}/{file} drifted from requirements.txt"


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if (a / "requirements.txt").exists()], ids=lambda p: p.name)
def test_the_grading_image_pins_everything_it_installs(assignment):
    """Each grading image installs the assignment's requirements and otter: the generated block pins all they pull in
    (`make pins` rewrites it from the repository's pins; the test above checks the versions)."""
    from instructor.pins import BEGIN, generated_block

    requirements = assignment / "requirements.txt"
    text = requirements.read_text()
    assert BEGIN in text, f"{assignment.name}/requirements.txt has no generated pins: run make pins"
    assert text[text.index(BEGIN) :] == generated_block(requirements), f"{assignment.name}/requirements.txt is stale: run make pins"
    assert len(pins(requirements)) > 100  # not just the few named above it
