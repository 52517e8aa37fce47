"""How a lesson tells the engine what it grades: one :class:`GradedExercise` per held-out question.

The master notebook's config names each question's exercise by dotted name (the way otter names plugins)::

    - grading_engine.otter_plugins.HeldOutGrading:
        questions:
          q_regression: my_lesson.exercises.REGRESSION

This module imports nothing heavy: the grading process reads the exercises before the notebook runs, and
loads the assessment (and torch) only afterwards.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Mark:
    """One pass mark, as data: ``band`` needs ``metric`` at most (``bound="max"``) or at least (``"min"``) ``value``.

    The lesson's assessment applies its marks; the batch report draws them over the measured metrics.
    """

    metric: str
    band: str
    bound: str
    value: float

    def __str__(self) -> str:
        return f"{self.band}: {'<=' if self.bound == 'max' else '>='} {self.value:g}"


@dataclass(frozen=True)
class GradedExercise:
    """One graded network: the name it has in the notebook and the lesson's two hooks, by dotted name."""

    network: str
    """The notebook's variable that holds the graded network."""
    example_input: str
    """Dotted name of a function of no arguments returning the inputs the network is described on (run in the
    student's kernel: the training inputs, which the notebook has anyway)."""
    assess: str
    """Dotted name of ``assess(network, heldout_seed) -> graded_networks.verdict.Assessment``, run in the grading
    process on the rebuilt network; ``assess(network, heldout_seed, heldout_data)`` with :attr:`heldout_data`."""
    marks: tuple[Mark, ...] = ()
    """The assessment's pass marks, as data (for reports and calibration; the assessment applies them)."""
    heldout_data: str | None = None
    """Dotted name of a function of no arguments returning held-out data as JSON (a test split the student
    never receives), for lessons graded on a fixed data set rather than on draws from a known process. It runs
    when the autograder is generated (otter assign, on the instructor's machine); the zip's configuration
    alone holds what it returns, and :attr:`assess` receives it."""


@dataclass(frozen=True)
class Limits:
    """The autograder's limits for one notebook; a lesson states them to students from the same object."""

    time_s: int = 480
    """The whole notebook, every cell the autograder runs (the kernel's start aside)."""
    grading_s: int = 540
    """The whole grading, from the grading process's start to its results: below Gradescope's timeout (600 s by
    default, set in the assignment's autograder settings; raise both together), which would leave no results."""
    memory_mb: int = 1536
    """The kernel's address space: about 1 GB resident at most (torch maps about 0.5 GB it never touches)."""
    hidden: tuple[str, ...] = ()
    """Paths inside installed packages that the kernel must not read, as ``package/path`` (for example a data
    set a package ships, whose test split the lesson holds back): the kernel sees an empty folder there. A path
    that exists and cannot be hidden stops the grading."""


DEFAULT_LIMITS = Limits()
"""The engine's defaults, used when the master's ``GuardedGrading`` names no ``limits``."""


def load(dotted: str) -> Any:
    """The object a dotted name (``package.module.NAME``) names."""
    module, _, attribute = dotted.rpartition(".")
    if not module:
        raise ValueError(f"{dotted!r} is not a dotted name (package.module.NAME)")
    return getattr(importlib.import_module(module), attribute)
