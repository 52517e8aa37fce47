"""Graded networks as plain data: described in the student's kernel, rebuilt in the grading process.

A network is described by **what its forward pass computes**, not by how its class is written:
``torch.fx`` traces ``forward`` symbolically (through ``nn.Sequential``, custom ``nn.Module`` classes,
``nn.ModuleList`` loops, functional activations, a module used several times, ...) into a graph, and
each node of that graph must be one of a short allow-list of operations: a linear layer, an
element-wise activation (with its parameters: a LeakyReLU's slope, a PReLU's weights), dropout (the
identity when evaluated), batch or layer normalisation (as evaluated, with their statistics and affine
weights), and reshapes that keep one row per sample. The description is JSON: one entry per operation,
its inputs, its settings and its weights.

The grading process never runs the student's code: :func:`rebuild` interprets that JSON with the
kit's own implementation of each allowed operation. Whatever the notebook does, what gets measured is
a fully connected network, which is what the exercises ask for. Anything else (a convolution,
arithmetic on the input such as ``torch.sin(3 * x)``, Python control flow on the data) is refused with
a message naming the operation and the line that computes it.
"""

from __future__ import annotations

import copy
import json
import pathlib
from typing import Any

import torch
from torch import nn

from .errors import SMALLER, NotANetwork, SubmissionError
from .file_format import FORMAT, check_cost, decode_weight
from .operations import ALLOWED, ELEMENTWISE, SETTINGS, SHAPES, TWO_INPUTS, WEIGHTED, WEIGHTS
from .tracing import trace

__all__ = ["CHUNK_ROWS", "FORMAT", "SMALLER", "GraphNetwork", "NotANetwork", "SubmissionError", "describe", "evaluate",
           "rebuild", "write_descriptions"]  # fmt: skip

CHUNK_ROWS = 4096
"""Rows evaluated at once by a rebuilt network: what one operation's output holds in memory stays small (4096 rows of
1024 float64 values are 32 MB) however many held-out samples there are."""


def evaluate(model: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """``model``'s float64 output on ``x``, evaluated on the CPU on a copy (the student's model is never modified).

    Accepts models in any float dtype and models left on a GPU. The output must be a finite tensor with one row per
    sample; what shape each row has is the exercise's business.

    Raises:
        SubmissionError: with a message saying what to fix.
    """
    if model is None:
        raise SubmissionError(f"`{name}` is not defined. Run the exercise cell that builds and trains it.")
    if model is Ellipsis:
        raise SubmissionError(f"`{name}` is still the placeholder `...`. Replace it with your network and run the cell.")
    if not isinstance(model, nn.Module):
        raise SubmissionError(
            f"`{name}` is a {type(model).__name__}, not a torch.nn.Module. "
            "Build it from layers, e.g. nn.Sequential(nn.Linear(...), nn.Tanh(), ...)."
        )
    params = list(model.parameters())
    dtype = params[0].dtype if params and params[0].is_floating_point() else torch.float32
    try:  # a network this module rebuilt changes nothing when evaluated: no copy of its weights
        evaluated = model if type(model) is GraphNetwork else copy.deepcopy(model).cpu().eval()
        with torch.no_grad():
            out = evaluated(x.to(dtype))
    except MemoryError as e:
        raise SubmissionError(_too_big(name, x)) from e
    except Exception as e:  # any failure inside the student's forward pass is theirs to fix
        if "can't allocate memory" in str(e):  # torch's allocator says so with a RuntimeError
            raise SubmissionError(_too_big(name, x)) from None
        raise SubmissionError(
            f"`{name}` failed on an input of shape {tuple(x.shape)} ({type(e).__name__}: {e}). "
            f"It must accept a float tensor with one row per sample and {x.shape[1]} column(s)."
        ) from None
    n = x.shape[0]
    if not isinstance(out, torch.Tensor) or out.dim() == 0 or out.shape[0] != n:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SubmissionError(f"`{name}` returned {shape} for {n} samples; it must return one row of predictions per sample.")
    out = out.double()
    bad = int((~torch.isfinite(out)).sum())
    if bad:
        raise SubmissionError(
            f"`{name}` predicts NaN or infinity for {bad:,} of {out.numel():,} outputs: its training diverged. "
            "Lower the learning rate, rebuild the model and retrain it; watch that the loss stays finite."
        )
    return out



def _too_big(name: str, x: torch.Tensor) -> str:
    return f"`{name}` needs more memory to evaluate on {x.shape[0]:,} samples than the autograder has. {SMALLER}"


def describe(model: object, example_input: torch.Tensor, name: str) -> dict[str, Any]:
    """Describe what ``model`` computes as a graph of allowed operations with their weights (JSON-safe).

    The description, rebuilt by :func:`rebuild`, must reproduce the model's output on ``example_input``;
    otherwise it is refused (the model computes something its traced graph does not show).

    Returns:
        ``{"format": FORMAT, "nodes": [...], "output": i}``, or ``{"error": message}`` saying what to fix.
    """
    try:
        if type(model) is GraphNetwork:
            description = model.description  # a network this module rebuilt: already a description
        else:
            expected = evaluate(model, example_input, name)  # checks type, rows, NaN
            assert isinstance(model, nn.Module)
            description = trace(getattr(model, "_orig_mod", model), name)  # torch.compile's wrapper: its module
            epochs = getattr(model, "trained_epochs", None)
            if isinstance(epochs, int) and not isinstance(epochs, bool):
                description["trained_epochs"] = epochs  # the lesson's training budget is checked on the grader's side
            rebuilt = evaluate(rebuild(description, name), example_input, name)
            if not torch.allclose(rebuilt, expected, rtol=1e-4, atol=1e-4):
                raise NotANetwork(
                    f"`{name}`'s forward() does more than apply its layers one after another: evaluated, it gives "
                    "other outputs than its traced operations (does it depend on state that tracing cannot see?). "
                    "The exercise asks for a fully connected network: nn.Linear layers and activations."
                )
    except SubmissionError as e:
        return {"error": str(e)}
    return description


class GraphNetwork(nn.Module):
    """A network rebuilt from a description: the kit's own code evaluates each allowed operation in float64."""

    def __init__(self, description: dict[str, Any], name: str) -> None:
        super().__init__()
        self.description = description
        self.steps: list[tuple[str, list[int], dict[str, Any], list[str]]] = []
        nodes = description.get("nodes")
        if description.get("format") != FORMAT or not isinstance(nodes, list) or not nodes or nodes[0] != {"op": "input"}:
            raise NotANetwork(f"`{name}`: the description is not one the grader reads")
        check_cost(description, name)
        for i, spec in enumerate(nodes[1:], start=1):
            op = spec.get("op") if isinstance(spec, dict) else None
            if op not in ALLOWED:
                raise NotANetwork(f"`{name}`: operation {op!r} is not allowed")
            inputs, settings, weights = spec.get("inputs"), spec.get("settings", {}), spec.get("weights", {})
            if (
                not isinstance(inputs, list)
                or len(inputs) != (2 if op in TWO_INPUTS else 1)
                or not all(isinstance(j, int) and 0 <= j < i for j in inputs)
                or not isinstance(settings, dict)
                or set(settings) - set(SETTINGS.get(op, ()))
                or not isinstance(weights, dict)
                or set(weights) - set(WEIGHTS.get(op, ()))
            ):
                raise NotANetwork(f"`{name}`: operation {i} ({op}) is malformed")
            names = []
            for key, value in weights.items():
                buffer = f"w{i}_{key}"
                self.register_buffer(buffer, decode_weight(value, name))
                names.append(key)
            self.steps.append((op, inputs, settings, names))
        output = description.get("output")
        if not isinstance(output, int) or not 0 <= output < len(nodes):
            raise NotANetwork(f"`{name}`: the description has no output")
        self.output = output
        # when each value is last needed: it is dropped after that step (a deep network keeps two or three, not all)
        last_use = {j: i for i, (_, inputs, _, _) in enumerate(self.steps, start=1) for j in inputs}
        self.dropped_after = {i: [j for j, last in last_use.items() if last == i and j != output] for i in range(len(nodes))}
        epochs = description.get("trained_epochs")
        if epochs is not None:  # recorded by the training helpers; the lesson holds the budget
            if not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 0:
                raise NotANetwork(f"`{name}`: the description's epoch count is malformed")
            self.trained_epochs = epochs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > CHUNK_ROWS:  # every allowed operation works row by row: chunks give the same rows
            return torch.cat([self._forward(chunk) for chunk in x.split(CHUNK_ROWS)])
        return self._forward(x)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {0: x.double()}
        for i, (op, inputs, settings, names) in enumerate(self.steps, start=1):
            weights = {key: getattr(self, f"w{i}_{key}") for key in names}
            value = values[inputs[0]]
            if op in TWO_INPUTS:
                values[i] = TWO_INPUTS[op](value, values[inputs[1]], **settings)
            elif op in WEIGHTED:
                values[i] = WEIGHTED[op](value, **weights, **settings)
            elif op in SHAPES:
                values[i] = SHAPES[op](value, **settings)
            else:
                values[i] = ELEMENTWISE[op](value, **settings)
            for j in self.dropped_after[i]:
                del values[j]
        return values[self.output]


def rebuild(description: dict[str, Any], name: str) -> GraphNetwork:
    """The float64 network that ``description`` describes, evaluated by the kit's own code only.

    Raises:
        NotANetwork: the description is malformed or uses an operation outside the allow-list.
    """
    return GraphNetwork(description, name)


def write_descriptions(models: dict[str, object], example_inputs: dict[str, torch.Tensor], path: str | pathlib.Path) -> None:
    """Write the description of each named model (see :func:`describe`) to ``path`` as JSON."""
    descriptions = {}
    for name, model in models.items():
        try:
            descriptions[name] = describe(model, example_inputs[name], name)
        except Exception as e:  # the notebook may have broken torch itself; say so rather than stop
            descriptions[name] = {"error": f"`{name}` could not be described for grading ({type(e).__name__}: {e})."}
    pathlib.Path(path).write_text(json.dumps(descriptions))
