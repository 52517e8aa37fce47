"""Build the kit: run otter assign on each master notebook and lay out what it generates.

    python -m instructor.assign [NAME ...] [--no-self-check]

For ``assignments/NAME/NAME.ipynb`` this writes

- ``student/NAME/``: the student notebook, its public tests and the ``fcnn_kit`` package it imports;
- ``solutions/NAME/NAME.ipynb``: the solutions notebook;
- ``autograder/NAME/NAME-autograder.zip``: the zip to upload to Gradescope, under a stable name
  (otter stamps its own with the build time).

Every one of these is generated: edit the master notebook or ``fcnn_kit/`` and rebuild.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import secrets
import shutil
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass

REPO = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = "fcnn_kit"
HELDOUT_PLUGIN = f"{PACKAGE}.otter_plugins.HeldOutGrading"
SEEDS_FILE = "heldout-seeds.json"
"""Beside the built zip (``autograder/NAME/``, git-ignored): the held-out seeds, drawn once from the operating
system's randomness, so that rebuilds and regrades stay identical. An instructor may write it (a secret) instead."""
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")


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


def build(name: str, out_root: pathlib.Path = REPO, self_check: bool = True, source: pathlib.Path | None = None) -> BuildOutputs:
    """Generate the student, solutions and autograder files of assignment ``name`` under ``out_root``.

    Args:
        name: the assignment's folder (and notebook) name under ``assignments/``.
        out_root: where ``student/``, ``solutions/`` and ``autograder/`` go (the repository by default).
        self_check: let otter assign grade the solutions with the new zip and fail unless they score 100 %.
        source: the assignment's folder, if not ``assignments/NAME``.
    """
    from otter.assign import main as otter_assign  # imported here: it is slow, and --help should not wait

    source = source or REPO / "assignments" / name
    with tempfile.TemporaryDirectory(prefix=f"assign-{name}-") as tmp:
        # Stage the master with a clean copy of the package: otter assign copies "files" as they are,
        # and only from beside the master notebook.
        stage = pathlib.Path(tmp) / name
        shutil.copytree(source, stage, ignore=_JUNK)
        shutil.copytree(REPO / PACKAGE, stage / PACKAGE, ignore=_JUNK)
        _add_heldout_seeds(stage / f"{name}.ipynb", out_root / "autograder" / name / SEEDS_FILE)
        dist = pathlib.Path(tmp) / "dist"

        log(f"otter assign {_shown(source)}/{name}.ipynb" + ("" if self_check else " (no self-check)"))
        started = time.monotonic()
        otter_assign(str(stage / f"{name}.ipynb"), str(dist), no_pdfs=True, no_run_tests=not self_check)
        log(f"otter assign finished in {time.monotonic() - started:.0f} s")

        outputs = BuildOutputs(
            student_dir=out_root / "student" / name,
            solutions_notebook=out_root / "solutions" / name / f"{name}.ipynb",
            autograder_zip=out_root / "autograder" / name / f"{name}-autograder.zip",
        )
        shutil.rmtree(outputs.student_dir, ignore_errors=True)
        shutil.copytree(dist / "student", outputs.student_dir)
        outputs.solutions_notebook.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(dist / "autograder" / f"{name}.ipynb", outputs.solutions_notebook)
        for notebook in (outputs.student_dir / f"{name}.ipynb", outputs.solutions_notebook):
            _stabilise_cell_ids(notebook)
        (otter_zip,) = (dist / "autograder").glob(f"{name}-autograder_*.zip")
        outputs.autograder_zip.parent.mkdir(parents=True, exist_ok=True)
        _write_autograder_zip(otter_zip, stage / PACKAGE, outputs.autograder_zip)

    for path in (outputs.student_dir, outputs.solutions_notebook, outputs.autograder_zip):
        log(f"wrote {_shown(path)}")
    return outputs


def _add_heldout_seeds(staged_master: pathlib.Path, seeds_file: pathlib.Path) -> None:
    """Give each held-out question its secret seed, in the staged copy of the master only.

    The committed master holds no seed: they are drawn from the operating system's randomness on the first
    build and kept in ``seeds_file`` for the next ones.
    """
    import nbformat
    import yaml

    nb = nbformat.read(staged_master, as_version=nbformat.NO_CONVERT)
    config_cell = nb.cells[0]
    header, _, body = config_cell.source.partition("\n")
    config = yaml.safe_load(body)
    (settings,) = [p[HELDOUT_PLUGIN] for p in config["generate"]["plugins"] if isinstance(p, dict) and HELDOUT_PLUGIN in p]
    seeds = json.loads(seeds_file.read_text()) if seeds_file.exists() else {}
    for question, spec in settings["questions"].items():
        if "heldout_seed" in spec:
            raise ValueError(f"{staged_master.name}: {question} has a held-out seed in the master; remove it (see {SEEDS_FILE})")
        seeds.setdefault(question, secrets.randbelow(2**31))
        spec["heldout_seed"] = seeds[question]
    seeds_file.parent.mkdir(parents=True, exist_ok=True)
    seeds_file.write_text(json.dumps(seeds, indent=2))
    seeds_file.chmod(0o600)
    config_cell.source = header + "\n" + yaml.safe_dump(config, sort_keys=False)
    nbformat.write(nb, staged_master)


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


def _write_autograder_zip(otter_zip: pathlib.Path, package: pathlib.Path, dest: pathlib.Path) -> None:
    """Copy otter's zip to ``dest`` with the package added at the zip's root.

    Otter puts support files under ``files/`` (copied next to the notebook, so the student's kernel
    imports them), but the grading process itself must import the package too: it loads the kit's
    otter plugins by name. On Gradescope that process runs ``/autograder/source/run_otter.py``, so the
    zip's root is on its ``sys.path``.
    """
    with zipfile.ZipFile(otter_zip) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            # otter's run_otter.py gives no results at all when otter itself fails: ours always does
            data = src.read(item.filename)
            if item.filename == "run_otter.py":
                data = _RUN_OTTER.encode()
            elif item.filename == "setup.sh":
                data += _SETUP_KERNEL_USER.encode()
            out.writestr(item, data)
        for path in sorted(package.rglob("*.py")):
            out.write(path, f"{PACKAGE}/{path.relative_to(package).as_posix()}")


_RUN_OTTER = """\
# Gradescope's entry point (run_autograder runs it): otter's autograding, and a results file whatever happens.

from fcnn_kit.gradescope import main

if __name__ == "__main__":
    main()
"""


_SETUP_KERNEL_USER = f"""
# The kit: the unprivileged user the student's kernel runs as, and this environment reachable (not writable) by
# it; see {PACKAGE}/sandbox.py. setpriv comes with util-linux.
apt-get install -y util-linux
mamba run -n otter-env python -c "import sys; sys.path.insert(0, '/autograder/source'); from {PACKAGE}.sandbox import prepare_image; prepare_image()"
"""


def _shown(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="assignments to build (default: all under assignments/)")
    parser.add_argument("--no-self-check", action="store_true", help="skip otter's grading of the solutions")
    parser.add_argument("--out", type=pathlib.Path, default=REPO, help="where to write (default: this repository)")
    args = parser.parse_args(argv)
    for name in args.names or assignment_names():
        build(name, out_root=args.out.resolve(), self_check=not args.no_self_check)
    return 0


if __name__ == "__main__":
    sys.exit(main())
