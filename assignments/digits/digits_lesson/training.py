"""The training helper the notebook calls, and the one rule for reading a network's outputs.

A digit classifier may end in ``nn.Softmax(dim=1)`` (probabilities), in ``nn.LogSoftmax(dim=1)`` or in a plain
``nn.Linear`` (logits): :func:`log_probabilities` reads all three the same way, and so does the grader.
"""

from __future__ import annotations

import torch
from torch import nn, optim

from graded_networks.epochs import record_epochs

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam}
PLACEHOLDER_MESSAGE = "Replace the `...` placeholders with your network and a number of epochs, then run this cell again."
PROBABILITY_CLAMP = 1e-6
"""Probabilities are clamped to at least this before their log: one confident mistake costs at most 13.8."""


def log_probabilities(outputs: torch.Tensor) -> torch.Tensor:
    """Each row's log-probabilities over the classes, from probabilities or from logits (or log-probabilities).

    Rows that are already probabilities (every value in [0, 1], each row summing to 1 within 1e-3) are taken
    as they are, clamped; anything else is treated as logits: ``log_softmax`` (which leaves log-probabilities
    unchanged).
    """
    is_probability = bool(
        (outputs >= 0).all() and (outputs <= 1).all() and torch.allclose(outputs.sum(dim=1), torch.ones(len(outputs), dtype=outputs.dtype), atol=1e-3)
    )
    if is_probability:
        return outputs.clamp(min=PROBABILITY_CLAMP).log()
    return torch.log_softmax(outputs, dim=1)


def train_classifier(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int = 200,
    lr: float = 0.01,
    optimizer: str = "adam",
    reporting_interval: int = 50,
) -> list[float]:
    """Fit ``model`` to digits ``(x, y)`` by full-batch gradient descent on the cross-entropy.

    Args:
        model: maps ``x`` of shape ``(n, 64)`` to ``(n, 10)``: logits, or probabilities (ending in a softmax).
        x, y: training inputs ``(n, 64)`` and labels ``(n,)`` (0-9).
        num_epochs: number of gradient steps (each one sees all the training data).
        lr: learning rate.
        optimizer: ``"adam"`` or ``"sgd"``.
        reporting_interval: print the loss every this many epochs (0 to stay quiet).

    Returns:
        The training loss at every epoch; empty, after a reminder, while ``model`` or ``num_epochs`` is still
        the exercise's ``...`` placeholder.
    """
    if model is Ellipsis or num_epochs is Ellipsis:
        print(PLACEHOLDER_MESSAGE)
        return []
    try:
        opt = OPTIMIZERS[optimizer.lower()](model.parameters(), lr=lr)
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, not {optimizer!r}") from None
    losses = []
    for epoch in range(num_epochs):
        opt.zero_grad()
        loss = nn.functional.nll_loss(log_probabilities(model(x)), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if reporting_interval and epoch % reporting_interval == 0:
            print(f"Epoch {epoch + 1}. CE Loss = {loss.item():0.3f}")
    record_epochs(model, num_epochs)  # the exercise's training budget is checked on this count
    return losses
