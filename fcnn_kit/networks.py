"""Graded networks as plain data: described in the student's kernel, rebuilt in the grading process.

Only this description leaves the kernel: the layer types, their sizes and their weights, as JSON.
The grading process rebuilds the network from an allow-list of layers and measures it on held-out
data the kernel never sees. Whatever the notebook does, what gets measured is a plain fully connected
network, which is exactly what the exercises ask for.
"""

from __future__ import annotations

import json
import pathlib
from typing import Any

import torch
from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    cls.__name__: cls
    for cls in (nn.Tanh, nn.ReLU, nn.Sigmoid, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Softplus, nn.Identity)
}
"""Parameter-free layers a fully connected network may use (with their default settings)."""

NOT_A_NETWORK = "not_a_network"


class NotANetwork(Exception):
    """The object cannot be described as a fully connected network; the message says why."""


def describe(model: object, example_input: torch.Tensor, name: str) -> dict[str, Any]:
    """Describe ``model`` as a sequence of allowed layers with their weights (float64 lists).

    The model's leaf layers, in order, must reproduce its output on ``example_input``; otherwise its
    ``forward`` does something other than apply them one after another, and it is not described.

    Returns:
        ``{"layers": [...]}``, or ``{"error": message}`` saying what to fix.
    """
    from .grading import SubmissionError, predict  # grading imports this module

    try:
        expected = predict(model, example_input, name)  # checks type, shape, NaN, training budget
        assert isinstance(model, nn.Module)
        leaves = [m for m in model.modules() if not list(m.children())]
        layers = [_describe_layer(layer, name) for layer in leaves]
        rebuilt = rebuild({"layers": layers}, name)
        if not torch.allclose(predict(rebuilt, example_input, name), expected, rtol=1e-4, atol=1e-4):
            raise NotANetwork(
                f"`{name}`'s forward() does more than apply its layers one after another; "
                "the exercise asks for a fully connected network: nn.Sequential of nn.Linear layers and activations."
            )
    except (SubmissionError, NotANetwork) as e:
        return {"error": str(e)}
    return {"layers": layers}


def _describe_layer(layer: nn.Module, name: str) -> dict[str, Any]:
    kind = type(layer).__name__
    if type(layer) is nn.Linear:
        return {
            "type": "Linear",
            "in_features": layer.in_features,
            "out_features": layer.out_features,
            "weight": layer.weight.detach().double().cpu().tolist(),
            "bias": None if layer.bias is None else layer.bias.detach().double().cpu().tolist(),
        }
    if type(layer) in ACTIVATIONS.values():
        return {"type": kind}
    raise NotANetwork(
        f"`{name}` contains a {kind} layer; a fully connected network is made of nn.Linear layers and "
        f"activations ({', '.join(sorted(ACTIVATIONS))})."
    )


def rebuild(description: dict[str, Any], name: str) -> nn.Sequential:
    """Build the float64 ``nn.Sequential`` that ``description`` describes, from allowed layers only."""
    layers: list[nn.Module] = []
    for spec in description.get("layers", []):
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind == "Linear":
            weight = torch.tensor(spec["weight"], dtype=torch.float64)
            linear = nn.Linear(spec["in_features"], spec["out_features"], bias=spec["bias"] is not None, dtype=torch.float64)
            if weight.shape != linear.weight.shape:
                raise NotANetwork(f"`{name}`: a Linear layer's weights do not match its size")
            with torch.no_grad():
                linear.weight.copy_(weight)
                if spec["bias"] is not None:
                    linear.bias.copy_(torch.tensor(spec["bias"], dtype=torch.float64))
            layers.append(linear)
        elif kind in ACTIVATIONS:
            layers.append(ACTIVATIONS[kind]())
        else:
            raise NotANetwork(f"`{name}`: layer type {kind!r} is not allowed")
    if not layers:
        raise NotANetwork(f"`{name}` has no layers")
    return nn.Sequential(*layers)


def export(models: dict[str, object], example_inputs: dict[str, torch.Tensor], path: str | pathlib.Path) -> None:
    """Write the description of each named model (see :func:`describe`) to ``path`` as JSON."""
    descriptions = {}
    for name, model in models.items():
        try:
            descriptions[name] = describe(model, example_inputs[name], name)
        except Exception as e:  # the notebook may have broken torch itself; say so rather than stop
            descriptions[name] = {"error": f"`{name}` could not be described for grading ({type(e).__name__}: {e})."}
    pathlib.Path(path).write_text(json.dumps(descriptions))
