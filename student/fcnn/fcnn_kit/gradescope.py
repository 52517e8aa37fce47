"""Gradescope's entry point: the autograder zip's ``run_otter.py`` calls :func:`main`.

It runs otter-grader's own autograding (``otter.run.run_autograder.main``) and adds what otter's
generated ``run_otter.py`` lacks: whatever happens, Gradescope finds a ``results.json`` with a score
and an explanation. Otter writes one itself for the errors it expects (two notebooks, no notebook,
...), but any other exception (a corrupt notebook file, a bug) would leave none, and Gradescope would
show the student only "The autograder failed to execute correctly".
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import traceback

# Before anything imports jsonschema: it would import rfc3987_syntax, which builds an IRI grammar
# at import (3.6 s of every grading) for a format check otter never makes.
sys.modules.setdefault("rfc3987_syntax", None)

from .lazy_imports import defer_imports  # noqa: E402  (must run before otter is imported)

# pandas, only for otter's summary table once grading is done: this process holds 66 MB instead of
# 103 while the notebook runs
defer_imports("pandas")

GRADESCOPE_DIR = "/autograder"
DIR_VARIABLE = "FCNN_AUTOGRADER_DIR"
"""Environment variable naming another folder laid out like Gradescope's (the tests use it)."""


def fallback_results(error: BaseException) -> dict:
    """A zero score whose message says why the submission could not be graded."""
    from .safeguards import SafeguardError
    from .sandbox import SandboxError

    if isinstance(error, (SafeguardError, SandboxError)):  # the autograder's fault, not the submission's
        return {
            "score": 0,
            "output": f"The autograder could not grade any submission safely: {error}\n\nYour work is kept; "
            "it will be graded once your instructor has fixed the autograder.",
            "tests": [],
        }
    return {
        "score": 0,
        "output": (
            "The autograder could not grade this submission: "
            f"{type(error).__name__}: {error}\n\n"
            "Check that you submitted the assignment's notebook (a single .ipynb file that opens in "
            "JupyterLab), saved after running it, then submit again. If this persists, tell your instructor."
        ),
        "tests": [],
    }


def main(autograder_dir: str | None = None) -> None:
    """Grade the submission in ``autograder_dir`` (default: ``$FCNN_AUTOGRADER_DIR`` or ``/autograder``).

    Tracebacks go to stdout/stderr, which Gradescope shows to instructors only.
    """
    root = pathlib.Path(autograder_dir or os.environ.get(DIR_VARIABLE, GRADESCOPE_DIR))
    results = root / "results" / "results.json"
    results.unlink(missing_ok=True)  # nothing but this run's grader writes what Gradescope reads
    try:
        from otter.run.run_autograder import main as run_autograder
        from otter.run.run_autograder.utils import OtterRuntimeError
    except ModuleNotFoundError as e:  # the image build failed: say so where the instructor looks
        results.write_text(json.dumps(fallback_results(e), indent=4))
        raise
    try:
        run_autograder(str(root))
        _add_graded_data(results)
    except OtterRuntimeError:
        # otter has already written its own results (score 0 and its reason) after the notebook ran
        traceback.print_exc()
    except BaseException as e:  # anything else: replace whatever the notebook may have left there
        traceback.print_exc()
        results.write_text(json.dumps(fallback_results(e), indent=4))


def _add_graded_data(results: pathlib.Path) -> None:
    """Add what the held-out grading measured, as data, to ``results.json`` (Gradescope keeps ``extra_data``
    with the results and does not show it to students)."""
    plugins = sys.modules.get(f"{__package__}.otter_plugins")
    graded = getattr(plugins, "GRADED", None)
    if graded and results.exists():
        content = json.loads(results.read_text())
        content.setdefault("extra_data", {})["questions"] = graded
        results.write_text(json.dumps(content, indent=4))


def lay_out(root: pathlib.Path, autograder_zip: pathlib.Path, submission: pathlib.Path) -> dict[str, str]:
    """Lay out ``root`` as Gradescope lays out ``/autograder`` for one submission, to grade it locally.

    ``source/`` holds the unpacked autograder zip, ``submission/`` the file (a ``.zip`` is unpacked, as
    Gradescope unpacks uploaded zips), ``results/`` is empty. Returns the environment under which
    ``python run_otter.py``, run in ``root/source``, grades it there: what Gradescope's
    ``run_autograder`` runs, without Docker or Gradescope's image.
    """
    import shutil
    import zipfile

    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    (root / "submission_metadata.json").write_text("{}")
    with zipfile.ZipFile(autograder_zip) as z:
        z.extractall(root / "source")
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as z:
            z.extractall(root / "submission")
    else:
        shutil.copy(submission, root / "submission")
    return {**os.environ, DIR_VARIABLE: str(root)}


def grade_in(root: pathlib.Path, autograder_zip: pathlib.Path, submission: pathlib.Path, timeout: float) -> tuple[dict | None, str]:
    """Grade one submission in ``root`` (a new folder) exactly as Gradescope would: :func:`lay_out`, then the
    zip's own ``run_otter.py`` in a process of its own.

    Returns:
        What Gradescope would read (``results/results.json``; None if there is none) and what the grader printed.

    Raises:
        subprocess.TimeoutExpired: grading ran past ``timeout`` seconds (it is stopped).
    """
    import subprocess

    env = lay_out(root, autograder_zip.resolve(), submission.resolve())
    proc = subprocess.run(
        [sys.executable, "run_otter.py"], cwd=root / "source", env=env, capture_output=True, text=True, timeout=timeout
    )
    results = root / "results" / "results.json"
    return (json.loads(results.read_text()) if results.exists() else None), proc.stdout + proc.stderr


def grade_here(autograder_zip: pathlib.Path, submission: pathlib.Path) -> None:
    """Grade one submission as Gradescope would, in a new temporary folder laid out by :func:`lay_out`.

    This process becomes the grader (``run_otter.py``), so nothing else runs beside it: what it costs
    is what grading costs on Gradescope. The folder is kept: ``results/results.json`` is what
    Gradescope would read.
    """
    import tempfile

    root = pathlib.Path(tempfile.mkdtemp(prefix="autograder-"))
    env = lay_out(root, autograder_zip.resolve(), submission.resolve())
    print(f"grading in {root}; results: {root / 'results' / 'results.json'}", flush=True)
    os.chdir(root / "source")
    os.execve(sys.executable, [sys.executable, "run_otter.py"], env)


if __name__ == "__main__":
    # python -m fcnn_kit.gradescope AUTOGRADER_ZIP SUBMISSION
    if len(sys.argv) != 3:
        sys.exit("usage: python -m fcnn_kit.gradescope AUTOGRADER_ZIP SUBMISSION")
    grade_here(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]))
