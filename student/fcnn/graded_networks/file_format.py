"""The file format of a graded network's description: weights as bytes, and what a description may cost.

A description is JSON: ``{"format": FORMAT, "nodes": [...], "output": i}``, one node per operation with its inputs,
settings and weights. Its cost is counted from the JSON alone, before anything of it is built.
"""

from __future__ import annotations

import base64
import math
from typing import Any

import torch

from .errors import SMALLER, NotANetwork

FORMAT = "graded-network/2"
"""The description's format tag; :func:`rebuild` refuses any other."""

MAX_NODES = 1_000
"""The most operations a graded network may have: the lessons' networks have a few dozen."""
MAX_PARAMETERS = 20_000_000
"""The most weights (numbers) it may carry: an 8x1024 fully connected network has 7.3 million."""
MAX_OPERATIONS_PER_SAMPLE = 40_000_000
"""The most multiply-adds (and element-wise steps) it may take per sample: held-out grading evaluates tens of
thousands of samples within the grader's time and memory."""


def encode_weight(value: torch.Tensor) -> dict[str, Any]:
    """A weight as JSON: its exact float32 or float64 bytes, base64 (a list of numbers as text is three times larger)."""
    value = value.detach().to("cpu")
    value = value if value.dtype in (torch.float32, torch.float64) else value.to(torch.float64)
    return {"dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
            "data": base64.b64encode(value.contiguous().numpy().tobytes()).decode()}  # fmt: skip


def decode_weight(encoded: Any, name: str) -> torch.Tensor:
    """The float64 tensor that :func:`encode_weight` encoded; :class:`NotANetwork` if it is not one."""
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if not (isinstance(encoded, dict) and encoded.get("dtype") in dtypes and isinstance(encoded.get("data"), str)):
        raise NotANetwork(f"`{name}`: a weight in the description is malformed")
    shape = weight_shape(encoded)
    if shape is None:
        raise NotANetwork(f"`{name}`: a weight's shape in the description is malformed")
    raw = base64.b64decode(encoded["data"], validate=True)
    dtype = dtypes[encoded["dtype"]]
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise NotANetwork(f"`{name}`: a weight's data does not match its shape")
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).to(torch.float64)


def weight_shape(encoded: Any) -> list[int] | None:
    """The shape an encoded weight claims, if it is a list of sizes."""
    shape = encoded.get("shape") if isinstance(encoded, dict) else None
    return shape if isinstance(shape, list) and all(type(n) is int and n >= 0 for n in shape) else None


def description_cost(description: dict[str, Any]) -> dict[str, int]:
    """What evaluating ``description`` would cost, counted from its JSON alone: operations, weights, and
    multiply-adds (plus element-wise steps) per sample."""
    nodes = description.get("nodes")
    nodes = nodes if isinstance(nodes, list) else []
    parameters, widest, linear = 0, 1, 0
    for spec in (spec for spec in nodes if isinstance(spec, dict) and isinstance(spec.get("weights"), dict)):
        for key, weight in spec["weights"].items():
            shape = weight_shape(weight)
            size = math.prod(shape) if shape else 0
            parameters += size
            widest = max([widest, *shape]) if size else widest
            linear += size if spec.get("op") == "linear" and key == "weight" else 0
    return {"operations": len(nodes), "parameters": parameters, "operations per sample": linear + len(nodes) * widest}


def check_cost(description: dict[str, Any], name: str) -> None:
    """Refuse a description that would cost more than the grader evaluates, before anything of it is built.

    Raises:
        NotANetwork: naming the cap that is exceeded.
    """
    cost = description_cost(description)
    caps = {"operations": MAX_NODES, "parameters": MAX_PARAMETERS, "operations per sample": MAX_OPERATIONS_PER_SAMPLE}
    for what, cap in caps.items():
        if cost[what] > cap:
            raise NotANetwork(
                f"`{name}` is larger than the autograder grades: {cost[what]:,} {what} (at most {cap:,}). {SMALLER}"
            )

