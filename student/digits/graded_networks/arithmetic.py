"""``+ - * /`` in a traced network, and ``len(x)``: the data with a constant (``affine``), two branches added
(``branches``), constants computed at once; products of the data with itself refused."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import fx

from .file_format import encode_weight
from .operations import ARITHMETIC
from .recognised import ARITHMETIC_CALLS, ARITHMETIC_METHODS, REVERSED_METHODS
from .refusals import refusal, shown, where

BATCH_SIZE = 1_000_003
"""What ``len(x)`` gives while tracing (Python needs an int): a size no layer has, read back as "the number of
samples" where a reshape uses it."""


@contextlib.contextmanager
def len_is_the_batch():
    """``len(x)`` of a traced tensor is the number of samples (fx refuses ``len`` otherwise)."""
    original = fx.Proxy.__len__
    fx.Proxy.__len__ = lambda self: BATCH_SIZE
    try:
        yield
    finally:
        fx.Proxy.__len__ = original


def arithmetic(node: fx.Node) -> tuple[str, bool] | None:
    """``(operator, reversed)`` when ``node`` is ``+ - * /``, else None."""
    if node.op == "call_function" and node.target in ARITHMETIC_CALLS:
        return ARITHMETIC_CALLS[node.target], False
    if node.op == "call_method" and node.target in ARITHMETIC_METHODS:
        return ARITHMETIC_METHODS[node.target], False
    if node.op == "call_method" and node.target in REVERSED_METHODS:
        return REVERSED_METHODS[node.target], True
    return None


def arithmetic_entry(node: fx.Node, arithmetic: tuple[str, bool], index: dict, values: dict, name: str) -> dict[str, Any] | None:
    """``+ - * /`` as an operation of the description: the data with a constant (``affine``), two branches added or
    subtracted (``branches``); None when both sides are constants (the value is kept in ``values``)."""
    operator_, swapped = arithmetic
    if len(node.args) != 2 or node.kwargs:
        raise refusal(name, f"`{shown(node)}` with settings the grader cannot read", where(node.stack_trace))
    a, b = node.args[::-1] if swapped else node.args
    data = [isinstance(v, fx.Node) and v in index for v in (a, b)]

    def constant(value: Any) -> torch.Tensor | None:
        if isinstance(value, fx.Node):
            value = values.get(value)
        if isinstance(value, torch.Tensor):
            return value.detach()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value != BATCH_SIZE:
            return torch.tensor(float(value), dtype=torch.float64)
        return None

    if all(data):
        if operator_ not in ("add", "sub"):
            raise refusal(name, "a product or quotient of the data with itself (only constants may scale it)", where(node.stack_trace))
        return {"op": "branches", "inputs": [index[a], index[b]], "settings": {"operator": operator_}, "weights": {}}
    if any(data):
        other = constant(b if data[0] else a)
        if other is None:
            raise refusal(name, f"`{shown(node)}` on something other than the data and a constant", where(node.stack_trace))
        return {"op": "affine", "inputs": [index[a if data[0] else b]], "settings": {"operator": operator_, "reverse": data[1]},
                "weights": {"other": encode_weight(other)}}  # fmt: skip
    left, right = constant(a), constant(b)
    if left is None or right is None:
        raise refusal(name, f"`{shown(node)}` on something other than the data and a constant", where(node.stack_trace))
    values[node] = ARITHMETIC[operator_](left, right)
    return None


