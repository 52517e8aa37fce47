"""The lesson's two synthetic data sets and the processes that generate them.

Both processes draw from an explicit ``torch.Generator`` so that training, validation and held-out
data never depend on (or disturb) the global random state of the student's notebook.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

LESSON_SEED = 42
"""The seed of the lesson's training data (``torch.manual_seed(42)`` in the lesson)."""

N_REGRESSION = 100
N_CLASSIFICATION = 200

NOISE_SD = 2.0
"""Standard deviation of the regression noise: the Bayes-optimal MSE is ``NOISE_SD**2``."""

BOUNDARY_RADIUS = torch.pi
"""Points closer to the origin than this are positive, before label swaps."""

SWAP_WIDTH = 0.7
SWAP_PEAK = 0.3
"""Labels near the circle swap with probability up to ``SWAP_PEAK`` (a Lorentzian of ``SWAP_WIDTH``)."""


def regression_truth(x: torch.Tensor) -> torch.Tensor:
    """The noise-free regression function ``2x + 3 sin(3x) + 1``."""
    return 2 * x + 3.0 * torch.sin(3 * x) + 1


def sample_regression(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points: ``x ~ N(0, 1.5²)`` with shape ``(n, 1)``, ``y = truth(x) + N(0, 2²)`` with shape ``(n,)``."""
    x = 1.5 * torch.randn(n, 1, generator=generator)
    y = regression_truth(x) + NOISE_SD * torch.randn(n, 1, generator=generator)
    return x, y.squeeze(1)


def swap_probability(distance: torch.Tensor) -> torch.Tensor:
    """Probability that a point at ``distance`` from the origin has its label swapped."""
    return SWAP_PEAK * SWAP_WIDTH**2 / ((distance - BOUNDARY_RADIUS) ** 2 + SWAP_WIDTH**2)


def sample_classification(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points: ``x ~ N(0, 2.5² I)`` with shape ``(n, 2)`` and boolean labels of shape ``(n,)``.

    A point is positive inside the circle of radius pi; labels near the circle are swapped at random.
    """
    x = 2.5 * torch.randn(n, 2, generator=generator)
    distance = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    y = distance < BOUNDARY_RADIUS
    swaps = torch.bernoulli(swap_probability(distance), generator=generator).bool()
    y[swaps] = ~y[swaps]
    return x, y


class LessonData(NamedTuple):
    """The lesson's training data: regression ``(x_reg, y_reg)`` and classification ``(x_clf, y_clf)``."""

    x_reg: torch.Tensor
    y_reg: torch.Tensor
    x_clf: torch.Tensor
    y_clf: torch.Tensor


def lesson_data(seed: int = LESSON_SEED) -> LessonData:
    """The training data exactly as the lesson draws it after ``torch.manual_seed(seed)``.

    The lesson draws the regression set first and the classification set second from one stream;
    drawing both from one generator in the same order reproduces its tensors bit for bit.
    """
    generator = torch.Generator().manual_seed(seed)
    x_reg, y_reg = sample_regression(N_REGRESSION, generator)
    x_clf, y_clf = sample_classification(N_CLASSIFICATION, generator)
    return LessonData(x_reg, y_reg, x_clf, y_clf)


def bayes_classifier(x: torch.Tensor) -> torch.Tensor:
    """Probability that each point of ``x`` (shape ``(n, 2)``) is positive under the true process."""
    distance = torch.sqrt(x[:, 0] ** 2 + x[:, 1] ** 2)
    p_swap = swap_probability(distance)
    inside = distance < BOUNDARY_RADIUS
    return torch.where(inside, 1 - p_swap, p_swap)


def regression_inputs() -> torch.Tensor:
    """The regression exercise's training inputs: a graded regressor is described on these."""
    return lesson_data().x_reg


def classification_inputs() -> torch.Tensor:
    """The classification exercise's training inputs: a graded classifier is described on these."""
    return lesson_data().x_clf
