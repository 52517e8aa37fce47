"""``SeedTorch``: torch seeded at the top of every cell the autograder runs, as the student's kernel seeds it."""

from __future__ import annotations

import nbformat
from otter.plugins import AbstractOtterPlugin

from graded_networks.seeding import SEED


class SeedTorch(AbstractOtterPlugin):
    """Prepend ``torch.manual_seed(seed)`` to every code cell, as otter's ``seed`` does for numpy and random.

    Otter's own seeding leaves torch alone, but the lesson's networks draw their initial weights from
    torch: without this a regrade could differ. Seeding every cell (not only the first) keeps each
    cell's draws independent of the cells before it, so the demo cells skipped at grading time do not
    change what the exercise cells draw.
    """

    def during_generate(self, otter_config: dict, assignment) -> None:
        """Refuse to build a zip whose otter ``seed`` is not the course's: the student's kernel seeds with ``SEED``."""
        if otter_config.get("seed") != SEED:
            raise ValueError(
                f"the master's otter seed is {otter_config.get('seed')!r}; it must be the course's seed, "
                f"graded_networks.seeding.SEED = {SEED}, with which every student's kernel seeds (seed_every_cell)"
            )

    def before_execution(self, submission: nbformat.NotebookNode | str) -> nbformat.NotebookNode | str:
        line = f"import torch as _torch_seeding; _torch_seeding.manual_seed({SEED})\n"
        if isinstance(submission, str):  # a .py submission
            return line + submission
        for cell in submission.cells:
            # cell magics (%%time, ...) must stay on the first line
            if cell.cell_type == "code" and not cell.source.startswith("%%"):
                cell.source = line + cell.source
        return submission
