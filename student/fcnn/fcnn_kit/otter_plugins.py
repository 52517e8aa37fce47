"""The kit's otter-grader plugins, enabled in the master notebook's ``ASSIGNMENT CONFIG``::

    generate:
      plugins:
        - fcnn_kit.otter_plugins.SeedTorch:
            seed: 42
        - fcnn_kit.otter_plugins.LeanKernel

Students see nothing of them: they only run in the autograder.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import nbformat
from otter.plugins import AbstractOtterPlugin

DEFAULT_SEED = 42


class SeedTorch(AbstractOtterPlugin):
    """Prepend ``torch.manual_seed(seed)`` to every code cell, as otter's ``seed`` does for numpy and random.

    Otter's own seeding leaves torch alone, but the lesson's networks draw their initial weights from
    torch: without this a regrade could differ. Seeding every cell (not only the first) keeps each
    cell's draws independent of the cells before it, so the demo cells skipped at grading time do not
    change what the exercise cells draw.
    """

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        seed = int((self.plugin_config or {}).get("seed", DEFAULT_SEED))
        line = f"import torch as _torch_seeding; _torch_seeding.manual_seed({seed})\n"
        if isinstance(submission, str):  # a .py submission
            return line + submission
        for cell in submission.cells:
            # cell magics (%%time, ...) must stay on the first line
            if cell.cell_type == "code" and not cell.source.startswith("%%"):
                cell.source = line + cell.source
        return submission


# Runs in the grading kernel before any cell. jsonschema (imported by otter through nbformat) imports
# rfc3987_syntax when it is installed, and that module builds an Earley parser for IRIs at import:
# 3.6 s of every grading, for a format check that grading never uses.
_KERNEL_STARTUP = """\
import sys
sys.modules.setdefault("rfc3987_syntax", None)  # see fcnn_kit/otter_plugins.py: LeanKernel
"""


class LeanKernel(AbstractOtterPlugin):
    """Start the grading kernel lean: one torch thread, figures not rendered, no IRI grammar import.

    Grading budgets are small (Gradescope's default is half a vCPU): the lesson's networks are tiny,
    so a second torch thread only fights the first for the core, and rendering figures nobody sees
    costs seconds. The kernel inherits these settings from the grading process's environment.
    """

    def before_grading(self, config) -> None:
        ipython_dir = pathlib.Path(tempfile.mkdtemp(prefix="fcnn-grading-ipython-"))
        startup = ipython_dir / "profile_default" / "startup"
        startup.mkdir(parents=True)
        (startup / "00-lean-kernel.py").write_text(_KERNEL_STARTUP)
        os.environ.update(
            {
                "OMP_NUM_THREADS": "1",  # torch's intra-op threads
                "MKL_NUM_THREADS": "1",
                "MPLBACKEND": "agg",  # draw nothing to the notebook's outputs
                "IPYTHONDIR": str(ipython_dir),  # the kernel runs startup/00-lean-kernel.py first
            }
        )
