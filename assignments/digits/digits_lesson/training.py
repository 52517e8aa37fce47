"""The training helper the notebook calls, and the one rule for reading a network's outputs.

A digit classifier may end in ``nn.Softmax(dim=1)`` (probabilities), in ``nn.LogSoftmax(dim=1)`` or in a plain
``nn.Linear`` (logits): :func:`log_probabilities` reads each by how the network ends, as the grader does
(``graded_networks.outputs``).
"""

from __future__ import annotations

import torch
from torch import nn, optim

from graded_networks.epochs import record_epochs
from graded_networks.outputs import class_log_probabilities, ending

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam}
PLACEHOLDER_MESSAGE = "Replace the `...` placeholders with your network and a number of epochs, then run this cell again."
PROBABILITY_CLAMP = 1e-6
"""Probabilities are clamped to at least this before their log: one confident mistake costs at most 13.8."""


def log_probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Each row's log-probabilities over the classes of ``model`` on ``x``, by the one rule the grader reads outputs by
    (``graded_networks.outputs``): a network ending in ``nn.Softmax`` gives probabilities, ``nn.LogSoftmax``
    log-probabilities, a plain ``nn.Linear`` logits."""
    return class_log_probabilities(model(x), _ending(model, x), "the model")


def _ending(model: nn.Module, x: torch.Tensor) -> str:
    """:func:`graded_networks.outputs.ending`, read once per model (a training loop asks every epoch)."""
    if getattr(model, "_read_as", None) is None:
        model._read_as = ending(model, x, "the model")
    return model._read_as


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
        model: maps ``x`` of shape ``(n, 64)`` to ``(n, 10)``: logits (ending in ``nn.Linear``), probabilities
            (``nn.Softmax(dim=1)``) or log-probabilities (``nn.LogSoftmax(dim=1)``); see :func:`log_probabilities`.
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
    op = ending(model, x, "the model")  # how its outputs are read: once, by the grader's rule
    try:
        opt = OPTIMIZERS[optimizer.lower()](model.parameters(), lr=lr)
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, not {optimizer!r}") from None
    losses = []
    for epoch in range(num_epochs):
        opt.zero_grad()
        loss = nn.functional.nll_loss(class_log_probabilities(model(x), op, "the model"), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if reporting_interval and epoch % reporting_interval == 0:
            print(f"Epoch {epoch + 1}. CE Loss = {loss.item():0.3f}")
    record_epochs(model, num_epochs)  # the exercise's training budget is checked on this count
    return losses
