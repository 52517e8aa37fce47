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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .marks import BANDS, Alert, Mark, Metric


@dataclass(frozen=True)
class Diagnosis:
    """What the advice below "just right" is about: which part of the excess error dominates (see
    ``graded_networks.verdict.regime``), and what to change for each."""

    train: str
    """The metric holding the training error (lower is better)."""
    heldout: str
    """The metric holding the held-out error, on the same scale."""
    floor: str | float
    """The lowest error any network reaches on new data: a number, or the metric that holds it."""
    advice: Mapping[str, str] = field(default_factory=dict)
    """For "overfit" and "underfit": what to change, in words for the student."""


@dataclass(frozen=True)
class GradedExercise:
    """One graded network: the name it has in the notebook and the lesson's two hooks, by dotted name."""

    network: str
    """The notebook's variable that holds the graded network."""
    example_input: str
    """Dotted name of a function of no arguments returning the inputs the network is described on (run in the
    student's kernel: the training inputs, which the notebook has anyway)."""
    assess: str
    """Dotted name of ``assess(network, heldout_seed) -> dict[str, float]``, the metrics of the rebuilt network
    (``assess(network, heldout_seed, heldout_data)`` with :attr:`heldout_data`). It raises
    ``graded_networks.networks.SubmissionError`` for a network it cannot measure; it never applies a mark."""
    metrics: tuple[Metric, ...] = ()
    """The numbers the student is shown, in order, with their words; the marks' metrics among them."""
    marks: tuple[Mark, ...] = ()
    """The pass marks: the band is the best one whose every mark holds (``graded_networks.marks.band``)."""
    alerts: tuple[Alert, ...] = ()
    """Measurements no honest network reaches (calibrated on the zoo): flagged for the instructor, grade unchanged."""
    diagnosis: Diagnosis | None = None
    """What the advice below "just right" is about (none: the band's meaning alone)."""
    band_hints: Mapping[str, str] = field(default_factory=dict)
    """More words for a band below "just right" (what it usually means in this exercise)."""
    heldout_sample: str = "the held-out data"
    """What the hidden test measures on, as it reads after "On": ``"50,000 new points from the same process"``."""
    validation_sample: str = "the validation data"
    """What the validation cell measures on, in the same words."""
    max_epochs: int | None = None
    """The training budget, counted by ``graded_networks.epochs.record_epochs`` (the lesson's training helpers)."""
    public_points: int = 1
    """The public check's points (the master's test config must say the same: the build refuses otherwise)."""
    case_points: int = 2
    """Each hidden case's points: a band earns as many cases as its index in ``graded_networks.marks.BANDS``."""
    heldout_data: str | None = None
    """Dotted name of a function of no arguments returning held-out data as JSON (a test split the student
    never receives), for lessons graded on a fixed data set rather than on draws from a known process. It runs
    when the autograder is generated (otter assign, on the instructor's machine); the zip's configuration
    alone holds what it returns, and :attr:`assess` receives it."""

    def points(self) -> dict[str, int]:
        """What each band earns on the hidden test."""
        return {name: i * self.case_points for i, name in enumerate(BANDS)}


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
