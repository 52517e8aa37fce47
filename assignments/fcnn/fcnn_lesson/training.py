"""Training helpers the notebook calls: the lesson's training loop, packaged once.

Both helpers record the epochs they ran on the model (``model.trained_epochs``) so that the checks
can enforce the exercises' training budget with a clear message.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn, optim

from graded_networks.epochs import record_epochs
from graded_networks.outputs import binary_cross_entropy, ending

OPTIMIZERS = {"sgd": optim.SGD, "adam": optim.Adam}


def _make_optimizer(model: nn.Module, name: str, lr: float) -> optim.Optimizer:
    try:
        return OPTIMIZERS[name.lower()](model.parameters(), lr=lr)
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, not {name!r}") from None


PLACEHOLDER_MESSAGE = "Replace the `...` placeholders with your network and a number of epochs, then run this cell again."


def _train(model, x, y, loss_fn, loss_name, num_epochs, lr, optimizer, reporting_interval) -> list[float]:
    if model is Ellipsis or num_epochs is Ellipsis:
        # an exercise cell not yet filled in: say so, and let "Run All" go on to the checks below
        print(PLACEHOLDER_MESSAGE)
        return []
    opt = _make_optimizer(model, optimizer, lr)
    losses = []
    for epoch in range(num_epochs):
        opt.zero_grad()  # gradients accumulate unless cleared
        loss = loss_fn(model(x), y)  # forward pass
        loss.backward()  # backward pass: gradient of the loss w.r.t. every parameter
        opt.step()  # w <- w - lr * dL/dw (or Adam's variant of it)
        losses.append(loss.item())
        if reporting_interval and epoch % reporting_interval == 0:
            print(f"Epoch {epoch + 1}. {loss_name} = {loss.item():0.3f}")
    record_epochs(model, num_epochs)  # the exercise's training budget is checked on this count
    return losses


def train_regression_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int = 1000,
    lr: float = 0.01,
    optimizer: str = "sgd",
    reporting_interval: int = 100,
) -> list[float]:
    """Fit ``model`` to ``(x, y)`` by full-batch gradient descent on the mean squared error.

    Args:
        model: maps ``x`` of shape ``(n, 1)`` to ``(n, 1)`` or ``(n,)`` predictions.
        x, y: training inputs ``(n, 1)`` and targets ``(n,)``.
        num_epochs: number of gradient steps (each one sees all the training data).
        lr: learning rate.
        optimizer: ``"sgd"`` (as in the lesson) or ``"adam"``.
        reporting_interval: print the loss every this many epochs (0 to stay quiet).

    Returns:
        The training loss at every epoch; empty, after a reminder, while ``model`` or ``num_epochs`` is
        still the exercise's ``...`` placeholder.
    """
    return _train(model, x, y, _mse, "MSE Loss", num_epochs, lr, optimizer, reporting_interval)


def train_classification_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    num_epochs: int = 1000,
    lr: float = 0.01,
    optimizer: str = "sgd",
    reporting_interval: int = 100,
) -> list[float]:
    """Fit ``model`` to ``(x, y)`` by full-batch gradient descent on the binary cross-entropy.

    ``model`` ends in ``nn.Sigmoid()`` (it outputs probabilities, as in the lesson) or in a plain ``nn.Linear``
    (logits), with one output or two (one per class): the one rule the grader reads it by
    (``graded_networks.outputs``). The loss is PyTorch's for that ending (``binary_cross_entropy``, which clamps
    ``log(p)`` at -100: the lesson's hand-written ``-y log(p) - (1-y) log(1-p)`` turns NaN as soon as a probability
    rounds to exactly 0 or 1, which happens often with Adam; ``binary_cross_entropy_with_logits``; ``cross_entropy``).

    Args and return value as for :func:`train_regression_model`; ``y`` may be boolean.
    """
    if model is Ellipsis or num_epochs is Ellipsis:
        return _train(model, x, y, None, "", num_epochs, lr, optimizer, reporting_interval)  # says what to fill in
    op = ending(model, x, "the model")

    def loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy(out, target, op, "the model")

    return _train(model, x, y.float(), loss, "CE Loss", num_epochs, lr, optimizer, reporting_interval)


def _mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(out.squeeze(-1), y)
