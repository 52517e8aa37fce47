"""The lesson's plots: a fitted regression curve and a classifier's decision regions."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from torch import nn

from graded_networks.outputs import binary_probabilities, ending


@torch.no_grad()
def plot_regression_fit(model: nn.Module, x: torch.Tensor, y: torch.Tensor, title: str | None = None) -> None:
    """Plot the data, the model's predictions at the data, and its curve across the data's x-range."""
    x_grid = torch.linspace(x.min().item(), x.max().item(), 200)[:, None]
    plt.plot(x, y, "o", label="Actual targets")
    plt.plot(x, model(x).reshape(-1), "x", label="Predicted targets")
    plt.plot(x_grid, model(x_grid).reshape(-1), "k-", label="Model")
    plt.xlabel("x")
    plt.ylabel("y")
    plt.grid()
    plt.legend()
    if title:
        plt.title(title)


def plot_classes(x: torch.Tensor, y: torch.Tensor) -> None:
    """Scatter the positive and negative points of a 2-D classification data set."""
    plt.plot(x[y, 0], x[y, 1], "o", label="positive")
    plt.plot(x[~y, 0], x[~y, 1], "o", label="negative")
    plt.gca().set_aspect(1)
    plt.grid()


@torch.no_grad()
def plot_decision_regions(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, title: str | None = None, resolution: int = 100
) -> None:
    """Shade where ``model`` predicts positive (probability > 0.5) over the data's bounding box; its outputs are read by
    the grader's rule (``graded_networks.outputs``: a sigmoid's probability, a linear layer's logit, two classes)."""
    xx, yy = torch.meshgrid(
        torch.linspace(x[:, 0].min().item(), x[:, 0].max().item(), resolution),
        torch.linspace(x[:, 1].min().item(), x[:, 1].max().item(), resolution),
        indexing="ij",
    )
    grid = torch.stack([xx.ravel(), yy.ravel()], dim=1)
    probability = binary_probabilities(model(grid), ending(model, grid[:2], "the model"), "the model")
    positive = (probability > 0.5).reshape(xx.shape)
    plt.gcf().set_size_inches(7, 7)
    plot_classes(x, y)
    plt.contourf(xx, yy, positive.float(), cmap=plt.cm.RdBu, alpha=0.4)
    plt.legend()
    if title:
        plt.title(title)
