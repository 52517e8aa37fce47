"""A submission as students really hand it in, made into what otter grades: one notebook, the course's own code.

Students upload the zip ``grader.export()`` writes, but also the whole handed-out folder zipped (with their own copy
of the lesson package and of ``graded_networks/``), a folder inside the zip, JupyterLab's ``.ipynb_checkpoints/``, a
Mac's ``__MACOSX/`` resource forks.
Otter copies the autograder's support files into the submission only where no folder of that name exists, so the
kernel would import the student's copies. Before otter runs (the engine's startup hook), :func:`tidy` therefore:

- removes whatever in the submission has the name of a support file or folder (otter then copies the autograder's),
  and ``tests/`` (otter replaces it anyway) and every ``.ipynb_checkpoints/``;
- when no notebook is at the top but exactly one is inside a folder, moves it (and any PDF beside it) to the top;
- gives a notebook that lost otter's metadata (copied into a fresh notebook, saved by another tool) the assignment's
  name, which otter requires; a notebook that names another assignment is still refused, by otter, with its name.

What it did is printed to the grading log, for the instructor; the grade does not depend on it.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil

CHECKPOINTS = ".ipynb_checkpoints"
MAC_FORKS = "__MACOSX"
MAX_NOTEBOOK_BYTES = 32 * 2**20
"""Larger notebooks (embedded outputs) are left as they are: parsing them here would cost the grader's memory."""


def _remove(path: pathlib.Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _walk(top: pathlib.Path) -> list[pathlib.Path]:
    """Every folder and file under ``top``, never through a link (a link may point anywhere on the machine)."""
    found = []
    for folder, dirs, files in os.walk(top, followlinks=False):
        found += [pathlib.Path(folder, name) for name in dirs + files]
    return found


def graded_notebook(files: list[str]) -> str | None:
    """Which of a submission's files (paths inside it, ``/``-separated) is the notebook graded: the one at the top, or
    where none is at the top, the one inside a folder; never a checkpoint, nor the resource-fork copy (``._NAME``
    under ``__MACOSX/``) that a Mac's Compress adds beside each file. None when that is not exactly one."""
    notebooks = [f for f in files if f.endswith(".ipynb") and not {CHECKPOINTS, MAC_FORKS} & set(f.split("/"))
                 and not f.rsplit("/", 1)[-1].startswith("._")]  # fmt: skip
    chosen = [f for f in notebooks if "/" not in f] or notebooks
    return chosen[0] if len(chosen) == 1 else None


def tidy(autograder_dir: pathlib.Path) -> list[str]:
    """Make ``autograder_dir/submission`` gradable as described above; return what was done, in sentences."""
    submission, support = autograder_dir / "submission", autograder_dir / "source" / "files"
    done: list[str] = []
    if not submission.is_dir():
        return done
    for checkpoints in sorted((p for p in _walk(submission) if p.name == CHECKPOINTS), reverse=True):
        _remove(checkpoints)
        done.append(f"removed {checkpoints.relative_to(submission)}/")
    if not any(submission.glob("*.ipynb")):
        files = [p.relative_to(submission).as_posix() for p in _walk(submission) if p.is_file() and not p.is_symlink()]
        if (chosen := graded_notebook(files)) is not None:
            folder = (submission / chosen).parent
            for path in [submission / chosen, *(p for p in folder.glob("*.pdf") if not p.is_symlink())]:
                if not (submission / path.name).exists():
                    path.rename(submission / path.name)
            done.append(f"graded {chosen}, the one notebook in the submission")
    notebooks = [nb for nb in submission.glob("*.ipynb") if nb.is_file() and not nb.is_symlink()]
    if len(notebooks) == 1 and _name_missing(notebooks[0], autograder_dir / "source" / "otter_config.json"):
        done.append(f"{notebooks[0].name} had no assignment name in its metadata: given this assignment's")
    names = {path.name for path in support.iterdir()} if support.is_dir() else set()
    for name in sorted(names | {"tests"}):
        path = submission / name
        if path.exists() or path.is_symlink():
            _remove(path)
            done.append(f"replaced the submission's own {name} with the autograder's")
    return done


def _name_missing(notebook: pathlib.Path, otter_config: pathlib.Path) -> bool:
    """Give ``notebook`` the assignment's name where its otter metadata has none; whether it had none."""
    try:
        name = json.loads(otter_config.read_text()).get("assignment_name")
        if not name or notebook.stat().st_size > MAX_NOTEBOOK_BYTES:
            return False
        content = json.loads(notebook.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False  # otter says what is wrong with it
    metadata = content.get("metadata") if isinstance(content, dict) else None
    if not isinstance(metadata, dict):
        return False
    otter = metadata.setdefault("otter", {})
    if not isinstance(otter, dict) or otter.get("assignment_name"):
        return False
    otter["assignment_name"] = name
    notebook.write_text(json.dumps(content), encoding="utf-8")
    return True
