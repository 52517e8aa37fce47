"""Build the kit: run otter assign on each master notebook and lay out what it generates.

    python -m instructor.assign [NAME ...] [--no-self-check]

For ``assignments/NAME/NAME.ipynb`` this writes

- ``student/NAME/``: the student notebook, its public tests and the code its kernel imports;
- ``solutions/NAME/NAME.ipynb``: the solutions notebook;
- ``autograder/NAME/NAME-autograder.zip``: the zip to upload to Gradescope, under a stable name
  (otter stamps its own with the build time).

Everything in them comes from the master's own config, so plain ``otter assign`` builds the same zip; this
adds only what otter cannot: stable cell ids, no build leftovers (``__pycache__``), and the files in place.
All of it is generated: edit the master notebook, its lesson package or the engine, and rebuild.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parent.parent
_JUNK = ("__pycache__", ".pyc", ".egg-info", ".ipynb_checkpoints")
"""Build leftovers that otter copies along with the master's files: never shipped."""


@dataclass
class BuildOutputs:
    """Where one assignment's generated files were written."""

    student_dir: pathlib.Path
    solutions_notebook: pathlib.Path
    autograder_zip: pathlib.Path


def log(message: str) -> None:
    print(f"[assign] {message}", flush=True)


def assignment_names() -> list[str]:
    """Every assignment: each folder under ``assignments/`` holding a notebook of its own name."""
    return sorted(p.parent.name for p in (REPO / "assignments").glob("*/*.ipynb") if p.stem == p.parent.name)


def chosen(name: str | None) -> str:
    """The assignment ``name`` (``make ... A=name``), or the only one there is."""
    names = assignment_names()
    if name is None and len(names) == 1:
        return names[0]
    if name not in names:
        wanted = f"no assignment {name!r} under assignments/" if name else "name an assignment with A=NAME"
        raise SystemExit(f"{wanted} (there are: {', '.join(names)})")
    return name


def graded_exercises(name: str) -> dict:
    """Each held-out question of assignment ``name`` and its ``GradedExercise``, as its master's config names them.

    The assignment's folder goes on ``sys.path``, as its notebook has it, so its lesson package is importable.
    """
    import nbformat
    import yaml

    from graded_networks.exercise import load

    folder = REPO / "assignments" / name
    if str(folder) not in sys.path:
        sys.path.append(str(folder))
    config = yaml.safe_load(nbformat.read(folder / f"{name}.ipynb", as_version=4).cells[0].source.partition("\n")[2])
    plugin = "grading_engine.otter_plugins.HeldOutGrading"
    settings = [p[plugin] for p in config.get("generate", {}).get("plugins", []) if isinstance(p, dict) and plugin in p]
    return {q: load(dotted) for s in settings for q, dotted in s.get("questions", {}).items()}


def outputs_under(name: str, out_root: pathlib.Path = REPO) -> BuildOutputs:
    """Where :func:`build` writes assignment ``name``'s files under ``out_root``."""
    return BuildOutputs(
        student_dir=out_root / "student" / name,
        solutions_notebook=out_root / "solutions" / name / f"{name}.ipynb",
        autograder_zip=out_root / "autograder" / name / f"{name}-autograder.zip",
    )


def build(name: str, out_root: pathlib.Path = REPO, self_check: bool = True, source: pathlib.Path | None = None) -> BuildOutputs:
    """Generate the student, solutions and autograder files of assignment ``name`` under ``out_root``.

    Args:
        name: the assignment's folder (and notebook) name under ``assignments/``.
        out_root: where ``student/``, ``solutions/`` and ``autograder/`` go (the repository by default).
        self_check: let otter assign grade the solutions with the new zip and fail unless they score 100 %.
        source: the assignment's folder, if not ``assignments/NAME``.
    """
    from otter.assign import main as otter_assign  # imported here: it is slow, and --help should not wait

    from grading_engine.sandbox import TRUST_ENV

    master = (source or REPO / "assignments" / name) / f"{name}.ipynb"
    with tempfile.TemporaryDirectory(prefix=f"assign-{name}-") as tmp:
        dist = pathlib.Path(tmp) / "dist"
        log(f"otter assign {_shown(master)}" + ("" if self_check else " (no self-check)"))
        started = time.monotonic()
        environment = dict(os.environ)
        # the self-check grades the instructor's own solutions: trusted where no box can be made (grading_engine/sandbox.py)
        os.environ[TRUST_ENV] = "1"
        try:
            otter_assign(str(master), str(dist), no_pdfs=True, no_run_tests=not self_check)
        finally:  # its self-check grades in this process, and the grading plugins set the kernel's settings here
            os.environ.clear()
            os.environ.update(environment)
        log(f"otter assign finished in {time.monotonic() - started:.0f} s")

        outputs = outputs_under(name, out_root)
        shutil.rmtree(outputs.student_dir, ignore_errors=True)
        shutil.copytree(dist / "student", outputs.student_dir, ignore=lambda _, names: [n for n in names if is_junk(n)])
        outputs.solutions_notebook.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dist / "autograder" / f"{name}.ipynb", outputs.solutions_notebook)
        for notebook in (outputs.student_dir / f"{name}.ipynb", outputs.solutions_notebook):
            _stabilise_cell_ids(notebook)
        (otter_zip,) = (dist / "autograder").glob(f"{name}-autograder_*.zip")
        outputs.autograder_zip.parent.mkdir(parents=True, exist_ok=True)
        # the zip holds the held-out seeds (and data): its folder is the owner's alone, so that a notebook
        # graded on this machine, which runs as another user, cannot read it
        outputs.autograder_zip.parent.chmod(0o700)
        _copy_zip_without_junk(otter_zip, outputs.autograder_zip)

    for path in (outputs.student_dir, outputs.solutions_notebook, outputs.autograder_zip):
        log(f"wrote {_shown(path)}")
    return outputs


def is_junk(path: str) -> bool:
    """Whether ``path`` (a name or a /-separated path) is or lies in a build leftover."""
    return any(part.endswith(junk) for part in path.split("/") for junk in _JUNK)


def _stabilise_cell_ids(path: pathlib.Path) -> None:
    """Give every cell an id derived from its position and source.

    Otter assign gives the cells it adds (init, answer and check cells) random ids, so each build would
    change the committed student notebook even when nothing else did.
    """
    import nbformat

    nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
    for i, cell in enumerate(nb.cells):
        cell["id"] = hashlib.sha1(f"{i}:{cell.source}".encode()).hexdigest()[:12]
    nbformat.write(nb, path)


def _copy_zip_without_junk(otter_zip: pathlib.Path, dest: pathlib.Path) -> None:
    with zipfile.ZipFile(otter_zip) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            if not is_junk(item.filename):
                out.writestr(item, src.read(item.filename))


def _shown(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default: every one under assignments/)")
    parser.add_argument("--no-self-check", action="store_true", help="skip otter's grading of the solutions")
    parser.add_argument("--out", type=pathlib.Path, default=REPO, help="where to write (default: this repository)")
    args = parser.parse_args(argv)
    for name in args.names or assignment_names():
        build(name, out_root=args.out.resolve(), self_check=not args.no_self_check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
