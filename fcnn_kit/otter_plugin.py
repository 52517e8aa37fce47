"""The otter-grader plugin that seeds torch when a submission is graded.

Otter's own ``seed`` configuration prepends ``numpy.random.seed`` and ``random.seed`` to every code
cell at grading time, but not ``torch.manual_seed``; the networks in this lesson draw their initial
weights from torch, so without this plugin a regrade would depend on torch's state. It is enabled
in the master notebook's ``ASSIGNMENT CONFIG``::

    generate:
      plugins:
        - fcnn_kit.otter_plugin.SeedTorch:
            seed: 42

Students see nothing of it: it only runs in the autograder.
"""

from __future__ import annotations

import nbformat
from otter.plugins import AbstractOtterPlugin

DEFAULT_SEED = 42


class SeedTorch(AbstractOtterPlugin):
    """Prepend ``torch.manual_seed(seed)`` to every code cell, as otter does for numpy and random.

    Seeding every cell (not only the first) keeps each cell's random draws independent of the cells
    before it, so skipping the demo cells at grading time does not change the exercise cells' results.
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
