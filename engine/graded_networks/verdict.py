"""What every exercise's grading shares: bands, assessments, and the network the autograder grades.

A hidden test grades in bands, worst first (:data:`BANDS`); a band's index is how many of the question's
hidden test cases it passes. A lesson's assessment measures a rebuilt network on held-out data and returns an
:class:`Assessment`; its public checks and validation cells measure :func:`as_graded` of the student's model,
which is exactly what the autograder measures (one verdict everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .networks import NotANetwork, SubmissionError, describe, rebuild

__all__ = ["BANDS", "Assessment", "SubmissionError", "as_graded", "check_epoch_budget", "graded_network", "regime"]

BANDS = ("off", "close", "just right")
"""The hidden test's bands, worst first; a band's index is how many hidden test cases it passes."""


@dataclass
class Assessment:
    """The outcome of a hidden held-out assessment: its band, a message for the student, and numbers (data)."""

    message: str
    metrics: dict[str, float] = field(default_factory=dict)
    band: str = "off"
    """One of :data:`BANDS`."""
    regime: str | None = None
    """Below "just right": "underfit" or "overfit", what the advice is about (see :func:`regime`)."""

    @property
    def passed(self) -> bool:
        """Whether the model is "just right" (all the hidden points)."""
        return self.band == BANDS[-1]


def check_epoch_budget(model: object, max_epochs: int, name: str) -> None:
    """Refuse a network trained for more than ``max_epochs`` (the count the training helpers record and
    ``describe`` carries as ``trained_epochs``; a count that is not an int is not one the helpers wrote).

    Raises:
        SubmissionError: saying how far over the budget it is and what to do.
    """
    trained_epochs = getattr(model, "trained_epochs", 0)
    if isinstance(trained_epochs, int) and trained_epochs > max_epochs:
        raise SubmissionError(
            f"`{name}` was trained for {trained_epochs:,} epochs; the exercise allows at most "
            f"{max_epochs:,}. Rebuild the model and train it within the budget."
        )


def graded_network(name: str, description: dict | None) -> nn.Module:
    """The network that :func:`graded_networks.networks.describe` described, rebuilt from allowed operations.

    This is what the grading process grades: nothing the notebook did to its own kernel changes it.

    Raises:
        SubmissionError: the network is missing, was never described, or is not a plain fully
            connected network; the message says what to fix.
    """
    if description is None:
        raise SubmissionError(
            f"`{name}` could not be graded: the notebook stopped before any cell that mentions it ran "
            "(it crashed or ran out of time). Restart the kernel and run all cells to find the problem."
        )
    if not isinstance(description, dict):
        raise SubmissionError(str(description))
    if "error" in description:
        raise SubmissionError(str(description["error"]))
    try:
        return rebuild(description, name)
    except MemoryError:
        raise SubmissionError(f"`{name}` needs more memory to rebuild than the autograder has.") from None
    except (NotANetwork, KeyError, TypeError, ValueError, RuntimeError, RecursionError) as e:
        raise SubmissionError(str(e) if isinstance(e, NotANetwork) else f"`{name}` could not be rebuilt ({e}).") from None


def as_graded(model: object, example_input: torch.Tensor, name: str) -> nn.Module:
    """The network the autograder grades for ``model``: described as it leaves the kernel, then rebuilt.

    Raises:
        SubmissionError: ``model`` cannot be graded; the message says what to fix.
    """
    return graded_network(name, describe(model, example_input, name))


def regime(train_error: float, heldout_error: float, floor: float) -> str:
    """Which part of the excess error dominates: "overfit" (variance) or "underfit" (model bias).

    For a model fitted to its training points, held-out error = floor + bias + variance and training error =
    floor + bias - variance (the training points' own noise is partly fitted: the optimism of the training
    error), so variance = (held-out - training) / 2 and bias = (held-out + training) / 2 - floor. Variance
    dominates exactly when the training error is below the best possible (``floor``): the model fits noise.
    """
    variance = (heldout_error - train_error) / 2
    bias = (heldout_error + train_error) / 2 - floor
    return "overfit" if variance > bias else "underfit"
