"""Grade a submission here exactly as Gradescope grades it: the zip's own ``run_otter.py`` in a folder laid out
like Gradescope's ``/autograder``, without Docker or Gradescope's image.

    python -m grading_engine.gradescope AUTOGRADER_ZIP SUBMISSION

As root (Gradescope's autograder runs as root, and so do the tests), the folder is mounted at ``/autograder`` in
a mount namespace of its own, as Docker mounts it: ``run_otter.py`` runs unchanged, and several gradings run side
by side. Otherwise ``run_otter.py`` is given the folder's path instead of ``/autograder``, the one line it differs.

The grading process imports the engine from the zip (``files/engine``), as Gradescope's image, which pip-installs
that folder (the assignment's ``requirements.txt``), does: the folder is added as a site directory, so its
``grading_engine_startup.pth`` runs as it would from site-packages.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile

from .sandbox import TRUST_ENV, file_tail

GRADESCOPE_DIR = pathlib.Path("/autograder")
ENGINE_IN_ZIP = pathlib.Path("source/files/engine")
"""Where the zip holds the engine's project, which the image installs (``autograder_files`` in the master)."""


def lay_out(root: pathlib.Path, autograder_zip: pathlib.Path, submission: pathlib.Path, metadata: dict | None = None) -> None:
    """Lay out ``root`` as Gradescope lays out ``/autograder`` for one submission.

    ``source/`` holds the unpacked autograder zip, ``submission/`` the file (a ``.zip`` is unpacked, as
    Gradescope unpacks uploaded zips), ``results/`` is empty; ``submission_metadata.json`` holds ``metadata`` (what
    Gradescope says about the submission: a resubmission lists the earlier ones and their results).
    """
    for sub in ("source", "submission", "results"):
        (root / sub).mkdir(parents=True)
    (root / "submission_metadata.json").write_text(json.dumps(metadata or {}))
    with zipfile.ZipFile(autograder_zip) as z:
        z.extractall(root / "source")
    if submission.suffix == ".zip":
        with zipfile.ZipFile(submission) as z:
            z.extractall(root / "submission")
    else:
        shutil.copy(submission, root / "submission")


RUN_INSTALLED = (
    "import os, runpy, site, sys; script, engine = sys.argv[1:]; sys.argv = [script]; "
    "sys.path[0] = os.path.dirname(script); sys.path.insert(1, engine); "
    "site.addsitedir(engine); runpy.run_path(script, run_name='__main__')"
)
"""``python -c RUN_INSTALLED SCRIPT ENGINE``: ``ENGINE`` installed as the image installs it (a site directory, its
.pth files run, ahead of any other copy, as in the image where it is the only one), then ``SCRIPT`` run as ``__main__``
with ``sys.argv[0]`` its path and ``sys.path[0]`` its folder, as ``python SCRIPT`` has them on Gradescope (``-c`` would
put the working folder there: the submission's, which the notebook can write)."""


def _can_mount() -> bool:
    """Whether this process may make a mount namespace (root with ``CAP_SYS_ADMIN``; Docker's default set has none)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


def grading_command(root: pathlib.Path) -> list[str]:
    """The command (run in ``root/source``) that grades what :func:`lay_out` put in ``root``."""
    if _can_mount():
        script = 'mkdir -p /autograder && mount --bind "$0" /autograder && cd /autograder/source && exec "$@"'
        run = [sys.executable, "-c", RUN_INSTALLED, "/autograder/source/run_otter.py", str(GRADESCOPE_DIR / ENGINE_IN_ZIP)]
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(root), *run]
    # no mount without root: the zip's run_otter.py, told this folder instead of /autograder
    runner = root / "source" / "run_otter.py"
    runner.write_text(runner.read_text().replace(f'"{GRADESCOPE_DIR}"', repr(str(root))))
    return [sys.executable, "-c", RUN_INSTALLED, str(runner), str(root / ENGINE_IN_ZIP)]


def grade_in(root: pathlib.Path, autograder_zip: pathlib.Path, submission: pathlib.Path, timeout: float,
             metadata: dict | None = None) -> tuple[dict | None, str]:  # fmt: skip
    """Grade one submission in ``root`` (a new folder) exactly as Gradescope would: :func:`lay_out`, then the
    zip's own ``run_otter.py`` in a process of its own.

    Returns:
        What Gradescope would read (``results/results.json``; None if there is none) and the end of what the grader
        printed (all of it is in ``root/grading.log``).

    Raises:
        subprocess.TimeoutExpired: grading ran past ``timeout`` seconds (it is stopped).
    """
    lay_out(root, autograder_zip.resolve(), submission.resolve(), metadata)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # Gradescope's grader has none
    log = root / "grading.log"  # on disk, not in memory: what a grading prints is bounded only by the disk
    with open(log, "wb") as out:
        subprocess.run(grading_command(root), cwd=root / "source", env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout)
    results = root / "results" / "results.json"
    return (json.loads(results.read_text()) if results.exists() else None), file_tail(log, LOG_TAIL_BYTES)


LOG_TAIL_BYTES = 64 * 1024
"""How much of a grading's output :func:`grade_in` returns (its end): a batch keeps this much per submission."""



def grade_here(autograder_zip: pathlib.Path, submission: pathlib.Path) -> None:
    """Grade one submission as Gradescope would, in a new temporary folder laid out by :func:`lay_out`.

    This process becomes the grader, so nothing else runs beside it: what it costs is what grading costs on
    Gradescope. The folder is kept: ``results/results.json`` is what Gradescope would read.
    """
    root = pathlib.Path(tempfile.mkdtemp(prefix="autograder-"))
    lay_out(root, autograder_zip.resolve(), submission.resolve())
    command = grading_command(root)
    print(f"grading in {root}; results: {root / 'results' / 'results.json'}", flush=True)
    os.chdir(root / "source")
    os.environ.pop("PYTHONPATH", None)  # Gradescope's grader has none
    os.execvp(command[0], command)


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--trust-notebooks"]
    if len(arguments) != 2:
        sys.exit("usage: python -m grading_engine.gradescope [--trust-notebooks] AUTOGRADER_ZIP SUBMISSION")
    if "--trust-notebooks" in sys.argv:  # where no box can be made (see grading_engine/sandbox.py)
        os.environ[TRUST_ENV] = "1"
    grade_here(pathlib.Path(arguments[0]), pathlib.Path(arguments[1]))
