"""What the engine's plugins share: where the lesson's code is imported from, and which process grades."""

from __future__ import annotations

import pathlib
import sys

from ..startup import ENTRY_POINT


def lesson_code_importable(autograder_dir: pathlib.Path) -> None:
    """Let this process import the lesson's code (the dotted names in the config) from the zip's ``files/``.

    Otter copies ``files/`` next to the notebook for the kernel; the grading process imports the root-only
    copy in ``source/files``, never the one in the submission folder, which the notebook can rewrite.
    """
    files = str(autograder_dir / "source" / "files")
    if files not in sys.path:
        sys.path.insert(0, files)


def grading_process() -> bool:
    """Whether this process is Gradescope's entry point (the zip's ``run_otter.py``), which grades one submission and
    exits: only there may the engine bound the whole process (``otter assign`` grades the solutions in its own)."""
    return pathlib.Path(sys.argv[0] if sys.argv else "").name == ENTRY_POINT


