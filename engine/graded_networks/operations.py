"""The allow-list: every operation a graded network may compute, as the grading process evaluates it.

Each operation is a pure function of its input tensors, its JSON-safe settings (numbers, strings, lists of ints) and
its weights; the grading process evaluates nothing else, in float64, row by row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from .errors import NotANetwork


def _rrelu_eval(x: torch.Tensor, lower: float = 1 / 8, upper: float = 1 / 3) -> torch.Tensor:
    return F.leaky_relu(x, (lower + upper) / 2)  # RReLU when evaluated: the mean of its random slopes


def _keep_rows(fn: Callable) -> Callable:
    """A reshape that must keep one row per sample (rows of different samples never mix)."""

    @functools.wraps(fn)
    def reshaped(x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        out = fn(x, *args, **kwargs)
        if out.dim() == 0 or out.shape[0] != x.shape[0]:
            raise NotANetwork(f"a {fn.__name__} turns {tuple(x.shape)} into {tuple(out.shape)}: one row per sample must stay one row")
        return out

    return reshaped


def _within_row(x: torch.Tensor, dim: int | None) -> int:
    """The dimension a softmax runs along, which must not be the samples' (that would mix them)."""
    dim = 1 if dim is None else dim  # PyTorch's own choice for a missing dim on 2-D inputs
    if dim % x.dim() == 0:
        raise ValueError("a softmax over dim=0 mixes the samples: use dim=1, over each sample's classes")
    return dim


def _reshape(x: torch.Tensor, shape: list[int]) -> torch.Tensor:
    return x.reshape([x.shape[0] if s == "batch" else s for s in shape])


ARITHMETIC: dict[str, Callable[..., torch.Tensor]] = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
"""What ``+ - * /`` compute: on the data and a constant (``affine``), or ``+ -`` on two branches (``branches``)."""


def _affine(x: torch.Tensor, other: torch.Tensor, operator: str, reverse: bool = False) -> torch.Tensor:
    """``x`` and a constant (a number, a buffer, a parameter) under ``operator``; ``reverse``: the constant first."""
    if operator not in ARITHMETIC or not isinstance(reverse, bool):
        raise NotANetwork(f"an arithmetic step {operator!r} is not one the grader computes")
    if other.dim() >= x.dim() and other.dim() > 0 and other.shape[0] != 1:
        raise NotANetwork("arithmetic with a constant that has a row per sample: a constant must be the same for every sample")
    return ARITHMETIC[operator](other, x) if reverse else ARITHMETIC[operator](x, other)


def branches(a: torch.Tensor, b: torch.Tensor, operator: str) -> torch.Tensor:
    """The sum (or difference) of two branches of the network, each one row per sample (a residual connection)."""
    if operator not in ("add", "sub"):
        raise NotANetwork(f"branches may be added or subtracted, not combined by {operator!r}")
    if a.dim() != b.dim() or a.shape[0] != b.shape[0]:
        raise NotANetwork(f"branches of shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be added row by row")
    return a + b if operator == "add" else a - b


ELEMENTWISE: dict[str, Callable[..., torch.Tensor]] = {
    "identity": lambda x: x,
    "neg": torch.neg,
    "relu": F.relu,
    "relu6": F.relu6,
    "leaky_relu": F.leaky_relu,
    "rrelu": _rrelu_eval,
    "elu": F.elu,
    "selu": F.selu,
    "celu": F.celu,
    "gelu": F.gelu,
    "silu": F.silu,
    "mish": F.mish,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "hardtanh": F.hardtanh,
    "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish,
    "logsigmoid": F.logsigmoid,
    "tanhshrink": F.tanhshrink,
    "hardshrink": F.hardshrink,
    "softshrink": F.softshrink,
    "clamp": torch.clamp,
    "softmax": lambda x, dim=1: F.softmax(x, dim=_within_row(x, dim)),
    "log_softmax": lambda x, dim=1: F.log_softmax(x, dim=_within_row(x, dim)),
}
"""Element-wise activations (and the softmaxes, which work within each row), with the settings each accepts as
keyword arguments."""

SETTINGS: dict[str, tuple[str, ...]] = {
    "leaky_relu": ("negative_slope",),
    "rrelu": ("lower", "upper"),
    "elu": ("alpha",),
    "celu": ("alpha",),
    "gelu": ("approximate",),
    "softplus": ("beta", "threshold"),
    "hardtanh": ("min_val", "max_val"),
    "hardshrink": ("lambd",),
    "softshrink": ("lambd",),
    "clamp": ("min", "max"),
    "flatten": ("start_dim", "end_dim"),
    "squeeze": ("dim",),
    "unsqueeze": ("dim",),
    "reshape": ("shape",),
    "layer_norm": ("normalized_shape", "eps"),
    "batch_norm": ("eps",),
    "select": ("index",),
    "softmax": ("dim",),
    "log_softmax": ("dim",),
    "affine": ("operator", "reverse"),
    "branches": ("operator",),
}
"""The settings each operation may carry; anything else in a description is refused."""

WEIGHTED: dict[str, Callable[..., torch.Tensor]] = {
    "linear": lambda x, weight, bias=None: F.linear(x, weight, bias),
    "prelu": lambda x, weight: F.prelu(x, weight),
    "batch_norm": lambda x, running_mean, running_var, weight=None, bias=None, eps=1e-5: F.batch_norm(
        x, running_mean, running_var, weight, bias, False, 0.0, eps
    ),
    "layer_norm": lambda x, weight=None, bias=None, normalized_shape=(), eps=1e-5: F.layer_norm(
        x, list(normalized_shape), weight, bias, eps
    ),
    "affine": _affine,
}
"""Operations with weights (the tensors a description carries), evaluated as in ``eval()`` mode."""

WEIGHTS: dict[str, tuple[str, ...]] = {
    "linear": ("weight", "bias"),
    "prelu": ("weight",),
    "batch_norm": ("running_mean", "running_var", "weight", "bias"),
    "layer_norm": ("weight", "bias"),
    "affine": ("other",),
}

SHAPES: dict[str, Callable[..., torch.Tensor]] = {
    "select": _keep_rows(lambda x, index: select(x, index)),
    "flatten": _keep_rows(torch.flatten),
    "squeeze": _keep_rows(torch.squeeze),
    "unsqueeze": _keep_rows(torch.unsqueeze),
    "reshape": _keep_rows(_reshape),
}
"""Reshapes: allowed while each sample stays one row."""

TWO_INPUTS = {"branches": branches}
"""Operations on two values of the network (the others take one)."""

ALLOWED = {*ELEMENTWISE, *WEIGHTED, *SHAPES, *TWO_INPUTS}


def select(x: torch.Tensor, index: list) -> torch.Tensor:
    key = tuple(slice(*k["slice"]) if isinstance(k, dict) else int(k) for k in index)
    if not key or key[0] != slice(None):
        raise NotANetwork("an index must keep every sample's row")
    return x[key]

