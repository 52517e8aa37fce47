"""The lesson's pictures: digits with their labels, training curves, a confusion matrix."""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from .data import N_CLASSES
from .training import log_probabilities


def show_digits(x: torch.Tensor, y: torch.Tensor, predicted: torch.Tensor | None = None, n: int = 24) -> None:
    """The first ``n`` digits as 8x8 images, titled with their label (and a prediction, when given)."""
    columns = 12
    rows = -(-n // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(columns, 1.2 * rows))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= min(n, len(x)):
            continue
        ax.imshow(x[i].reshape(8, 8), cmap="gray_r")
        title = f"{int(y[i])}" if predicted is None else f"{int(y[i])}→{int(predicted[i])}"
        ax.set_title(title, color="black" if predicted is None or predicted[i] == y[i] else "red", fontsize=10)
    plt.show()


def plot_losses(curves: dict[str, list[float]]) -> None:
    """Training (or validation) loss per epoch, one line per name."""
    for name, losses in curves.items():
        plt.plot(losses, label=name)
    plt.xlabel("epoch")
    plt.ylabel("cross-entropy")
    plt.yscale("log")
    plt.grid()
    plt.legend()
    plt.show()


@torch.no_grad()
def confusion_matrix(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Plot and return the counts of (true digit, predicted digit)."""
    predicted = log_probabilities(model, x).argmax(dim=1)
    counts = torch.zeros(N_CLASSES, N_CLASSES, dtype=torch.int64)
    for true, guess in zip(y.tolist(), predicted.tolist()):
        counts[true, guess] += 1
    plt.imshow(counts, cmap="Blues")
    for i in range(N_CLASSES):
        for j in range(N_CLASSES):
            if counts[i, j]:
                plt.text(j, i, int(counts[i, j]), ha="center", va="center", fontsize=8)
    plt.xlabel("predicted digit")
    plt.ylabel("true digit")
    plt.xticks(range(N_CLASSES))
    plt.yticks(range(N_CLASSES))
    plt.show()
    return counts
