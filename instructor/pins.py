"""Pin every package the grading image installs, from the repository's own pins (one source).

    python -m instructor.pins            (what `make pins` runs: rewrites each assignment's requirements.txt)

An assignment's ``requirements.txt`` names what its grading needs (torch, numpy, ...); otter folds it into the
zip's ``environment.yml`` beside ``otter-grader[grading,plugins]``. Left at that, pip would resolve everything else
(about a hundred packages, jupyter_client and tornado among them) to whatever PyPI serves the day Gradescope builds
the image, not what the tests ran. So the file ends with a generated block: every package those requirements and
otter pull in, as this environment's metadata says, at the version ``requirements.txt`` at the repository's root
pins. ``tests/engine/test_pins.py`` fails when a block is stale.
"""

from __future__ import annotations

import importlib.metadata as metadata
import pathlib
import sys

from packaging.markers import default_environment
from packaging.requirements import Requirement

from grading_engine.otter_fit import normal_name, read_pins
from instructor.assign import REPO

BEGIN = "# BEGIN GENERATED PINS (make pins): everything the lines above and otter pull in, at the repository's versions"
END = "# END GENERATED PINS"
OTTER = "otter-grader[grading,plugins]"
"""What otter's own environment.yml installs beside the assignment's requirements."""


def closure(roots: list[str]) -> tuple[set[str], set[str]]:
    """The packages ``roots`` need, recursively, by this environment's metadata (markers evaluated, extras followed);
    and those it does not have installed (their own dependencies are unknown here)."""
    environment = default_environment()
    found: dict[str, set[str]] = {}
    missing: set[str] = set()
    todo = [Requirement(root) for root in roots]
    while todo:
        requirement = todo.pop()
        name, extras = normal_name(requirement.name), set(requirement.extras)
        if name in found and extras <= found[name]:
            continue
        found[name] = found.get(name, set()) | extras
        try:
            requires = metadata.distribution(requirement.name).requires or []
        except metadata.PackageNotFoundError:
            missing.add(name)
            continue
        for line in requires:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({**environment, "extra": e}) for e in extras | {""}):
                todo.append(needed)
    return set(found), missing


def generated_block(requirements: pathlib.Path) -> str:
    """The block of pins for ``requirements`` (its lines above the block), as :data:`BEGIN` ... :data:`END`."""
    text = requirements.read_text().split(BEGIN)[0]
    named = [line.split("#")[0].strip() for line in text.splitlines()]
    roots = [line for line in named if line and not line.startswith(("-", "/", "."))]
    needed, missing = closure([*(r.split("+")[0] for r in roots), OTTER])
    pins = read_pins(REPO / "requirements.txt")
    already = {normal_name(Requirement(r.split("+")[0]).name) for r in roots}
    lines = [BEGIN]
    unpinned = sorted(n for n in needed - already if n not in pins)
    if unpinned:
        lines.append(f"# not installed where the kit is tested, so left to pip: {', '.join(unpinned)}")
    lines += [f"{name}=={pins[name]}" for name in sorted(needed - already) if name in pins]
    return "\n".join([*lines, END]) + "\n"


def write(requirements: pathlib.Path) -> bool:
    """Rewrite the generated block of ``requirements``; whether it changed."""
    before = requirements.read_text()
    after = before.split(BEGIN)[0].rstrip("\n") + "\n" + generated_block(requirements)
    requirements.write_text(after)
    return after != before


def main() -> int:
    for requirements in sorted(REPO.glob("assignments/*/requirements.txt")):
        print(f"[pins] {requirements.relative_to(REPO)}: {'rewritten' if write(requirements) else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
