"""The same random numbers in the student's kernel as in the autograder's.

The autograder seeds ``random`` and numpy (otter's ``seed``) and torch (the engine's ``SeedTorch``) at the top of every
cell it runs: a regrade draws the same numbers, and the cells it skips (the demos) change nothing after them.
:func:`seed_every_cell`, called by the notebook's first cell, does the same in the student's own kernel, so the
network a student trains and validates is the network the autograder trains and grades, however its training is
spread over cells (dropout, shuffled mini-batches).
"""

from __future__ import annotations

import random

import numpy
import torch

HOOK_NAME = "_seed_every_cell"
SEED = 42
"""The course's seed: the student's kernel (:func:`seed_every_cell`) and the autograder's (``SeedTorch``) use it."""


def seed_every_cell(seed: int = SEED) -> None:
    """Seed ``random``, numpy and torch with ``seed`` now and before every cell this kernel runs from now on."""

    def reseed(*_info: object) -> None:
        random.seed(seed)
        numpy.random.seed(seed)
        torch.manual_seed(seed)

    reseed.__name__ = HOOK_NAME
    reseed()
    try:
        from IPython import get_ipython
    except ImportError:  # not in a notebook
        return
    shell = get_ipython()
    if shell is None:
        return
    for hook in list(shell.events.callbacks["pre_run_cell"]):  # running the first cell again registers it once
        if getattr(hook, "__name__", "") == HOOK_NAME:
            shell.events.unregister("pre_run_cell", hook)
    shell.events.register("pre_run_cell", reseed)
