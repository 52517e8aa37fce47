"""Tracing: what a student's ``nn.Module`` computes, read with ``torch.fx`` into a description of allowed operations.

``torch.fx`` traces ``forward`` symbolically (through ``nn.Sequential``, custom classes, ``nn.ModuleList`` loops,
functional activations, a module used several times, ...); each traced node must be one of the allow-list's
operations (``operations.py``), or it is refused with a message naming the operation and the line that computes it.
"""

from __future__ import annotations

import functools
import operator
import pathlib
import traceback
from collections.abc import Callable
from typing import Any

import torch
from torch import fx, nn
from torch.nn.utils import parametrize

from .arithmetic import BATCH_SIZE, arithmetic_entry, len_is_the_batch
from .arithmetic import arithmetic as arithmetic_of
from .errors import NotANetwork
from .file_format import FORMAT, encode_weight
from .operations import ALLOWED, SETTINGS, WEIGHTS
from .recognised import FUNCTIONS, METHODS, MODULES, POSITIONAL
from .refusals import refusal, shown, where


class _Tracer(fx.Tracer):
    """``torch.fx``'s tracer, recording where each operation was written; every ``torch.nn`` layer a leaf."""

    def create_node(self, *args: Any, **kwargs: Any) -> fx.Node:
        node = super().create_node(*args, **kwargs)
        # fx's own recording (record_stack_traces) symbolizes its stacks through torch._inductor, which loads
        # torch's compiler (2 s in a grading kernel that compiles nothing); the stack is all :func:`_where` needs
        node.stack_trace = "".join(traceback.format_stack())
        return node

    def call_module(self, m: nn.Module, forward: Callable, args: tuple, kwargs: dict) -> Any:
        try:
            self.path_of_module(m)
        except NameError:  # a layer made inside forward (``nn.ReLU()(x)``): what it computes is traced instead
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):  # a select's index, already JSON
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (tuple, list, torch.Size)) and all(type(v) is int or v == "batch" for v in value):
        return list(value)
    raise TypeError(type(value).__name__)



def trace(model: nn.Module, name: str) -> dict[str, Any]:
    try:
        with len_is_the_batch():
            graph = _Tracer().trace(model)
    except Exception as e:  # fx refuses control flow on data, and whatever else it cannot follow
        tb = traceback.extract_tb(e.__traceback__)
        torch_dir = str(pathlib.Path(torch.__file__).parent)
        user = [f for f in tb if not f.filename.startswith(torch_dir)]
        line = f"line {user[-1].lineno} (`{(user[-1].line or '').strip()[:80]}`)" if user else "in forward()"
        control = isinstance(e, fx.proxy.TraceError)
        what = (
            "Python control flow on its input (if/while on tensor values)"
            if control
            else f"something tracing cannot follow ({type(e).__name__}: {e})"
        )
        raise refusal(name, what, line) from None

    index: dict[fx.Node, int] = {}
    nodes: list[dict[str, Any]] = []
    values: dict[fx.Node, Any] = {}  # get_attr nodes: the tensors they fetch

    def tensor_input(arg: Any, node: fx.Node) -> int:
        if isinstance(arg, fx.Node) and arg in index:
            return index[arg]
        raise refusal(name, f"`{shown(node)}` on something other than the network's data", where(node.stack_trace))

    for node in graph.nodes:
        if node.op == "placeholder":
            if nodes:
                raise NotANetwork(f"`{name}`'s forward() takes more than one input; it must take one tensor.")
            index[node] = 0
            nodes.append({"op": "input"})
            continue
        if node.op == "get_attr":
            values[node] = functools.reduce(getattr, node.target.split("."), model)
            continue
        if node.op == "output":
            output = node.args[0]
            if not (isinstance(output, fx.Node) and output in index):
                raise NotANetwork(f"`{name}`'s forward() must return one tensor computed from its input.")
            return {"format": FORMAT, "nodes": nodes, "output": index[output]}
        source = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
        if node.op == "call_function" and node.target is operator.getitem and source in values and not isinstance(values[source], _BatchShape):
            values[node] = values[node.args[0]][node.args[1]]
            continue
        if node.op == "call_method" and node.target == "size" and len(node.args) > 1:
            if node.args[1] != 0:
                raise refusal(name, "a shape other than the number of samples", where(node.stack_trace))
            values[node] = "batch"
            continue
        if node.op == "call_method" and node.target == "size" or node.op == "call_function" and node.target is getattr:
            values[node] = _BatchShape(node)  # x.shape / x.size(): only its first entry may be used
            continue
        if node.op == "call_function" and node.target is operator.getitem and isinstance(values.get(source), _BatchShape):
            if node.args[1] != 0:
                raise refusal(name, "a shape other than the number of samples", where(node.stack_trace))
            values[node] = "batch"
            continue

        if node.op == "call_function" and node.target is operator.getitem and source in index:
            index[node] = len(nodes)  # ``out[:, 0]``: columns of every row
            nodes.append({"op": "select", "inputs": [index[source]], "settings": {"index": _index(node, name)}, "weights": {}})
            continue
        arithmetic = arithmetic_of(node)
        if arithmetic is not None:
            entry = arithmetic_entry(node, arithmetic, index, values, name)
            if entry is None:  # constants only (``self.std + 1e-8``): computed now, a constant of the network
                continue
            index[node] = len(nodes)
            nodes.append(entry)
            continue
        op, settings, weights, inputs = _operation(node, model, values, name)
        if op not in ALLOWED:
            raise refusal(name, f"`{shown(node)}`", where(node.stack_trace))
        entry: dict[str, Any] = {"op": op, "inputs": [tensor_input(a, node) for a in inputs]}
        try:
            entry["settings"] = {k: _jsonable(v) for k, v in settings.items()}
        except TypeError:
            raise refusal(name, f"`{shown(node)}` with settings the grader cannot read", where(node.stack_trace)) from None
        entry["weights"] = {k: encode_weight(v) for k, v in weights.items() if v is not None}
        index[node] = len(nodes)
        nodes.append(entry)
    raise NotANetwork(f"`{name}`'s forward() returns nothing")


def _index(node: fx.Node, name: str) -> list:
    """``out[:, 0]`` as JSON: every row (a full slice first), then ints and constant slices."""
    key = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
    every_row = isinstance(key[0], slice) and key[0] == slice(None)
    if not every_row or not all(type(k) is int or isinstance(k, slice) for k in key):
        raise refusal(name, "an index that does not keep every sample's row", where(node.stack_trace))
    encoded = []
    for k in key:
        if isinstance(k, slice):
            if not all(v is None or type(v) is int for v in (k.start, k.stop, k.step)):
                raise refusal(name, "an index computed from the data", where(node.stack_trace))
            encoded.append({"slice": [k.start, k.stop, k.step]})
        else:
            encoded.append(k)
    return encoded



class _BatchShape:
    """The value of ``x.shape`` or ``x.size()`` while tracing: only ``[0]``, the number of samples, is allowed."""

    def __init__(self, node: fx.Node) -> None:
        self.node = node


def _operation(node: fx.Node, model: nn.Module, values: dict, name: str) -> tuple[str | None, dict, dict, list]:
    """The allowed operation a traced node performs: ``(op, settings, weights, tensor inputs)``."""
    if node.op == "call_module":
        layer = model.get_submodule(node.target)
        # weight_norm / spectral_norm make a class of their own around the layer; its weights are computed
        op = MODULES.get(parametrize.type_before_parametrizations(layer))
        if op is None:
            raise NotANetwork(
                f"`{name}` contains a {type(layer).__name__} layer ({where(node.stack_trace)}); a fully connected "
                "network is made of nn.Linear layers, activations, and optionally dropout or normalisation."
            )
        return op, _module_settings(op, layer, name), _module_weights(op, layer, name), list(node.args[:1])
    if node.op == "call_function":
        op = FUNCTIONS.get(node.target)
    elif node.op == "call_method":
        op = METHODS.get(node.target)
    else:
        op = None
    if op is None:
        return None, {}, {}, []
    x, *rest = node.args
    named = dict(zip(POSITIONAL.get(op, ()), rest))
    named.update(node.kwargs)
    if op == "reshape":  # x.view(n, -1), x.reshape((n, -1)), torch.reshape(x, shape)
        shape = named.get("shape", rest[0] if len(rest) == 1 else rest)
        shape = list(shape) if isinstance(shape, (list, tuple, torch.Size)) else [shape]
        shape = [values.get(s) if isinstance(s, fx.Node) else s for s in shape]
        shape = ["batch" if s == BATCH_SIZE else s for s in shape]  # len(x)
        if not all(s == "batch" or type(s) is int for s in shape):
            raise refusal(name, f"`{shown(node)}` with a shape the grader cannot read", where(node.stack_trace))
        named = {"shape": shape}
    if op == "identity":
        return op, {}, {}, [x]
    weights = {k: named.pop(k) for k in WEIGHTS.get(op, ()) if k in named}
    for key, value in list(weights.items()):
        if isinstance(value, fx.Node):
            if value not in values:
                raise refusal(name, f"`{shown(node)}` with weights computed from the data", where(node.stack_trace))
            weights[key] = values[value]
    if op == "batch_norm" and named.pop("training", False):
        raise refusal(name, "batch normalisation with batch statistics (training=True)", where(node.stack_trace))
    named.pop("momentum", None)
    named.pop("inplace", None)
    if op in ("softmax", "log_softmax"):
        named.pop("_stacklevel", None)  # F.softmax's bookkeeping for its warning
        if named.get("dtype") is None:
            named.pop("dtype", None)  # the default; a cast would be refused as an unknown setting
    unknown = set(named) - set(SETTINGS.get(op, ()))
    if unknown:
        raise refusal(name, f"`{shown(node)}` with {', '.join(sorted(unknown))}", where(node.stack_trace))
    return op, named, weights, [x]


def _module_settings(op: str, layer: nn.Module, name: str) -> dict[str, Any]:
    if op == "batch_norm":
        if layer.running_mean is None:
            raise NotANetwork(f"`{name}` has a BatchNorm1d without running statistics (track_running_stats=False)")
        return {"eps": float(layer.eps)}
    if op == "layer_norm":
        return {"normalized_shape": list(layer.normalized_shape), "eps": float(layer.eps)}
    if op == "flatten":
        return {"start_dim": layer.start_dim, "end_dim": layer.end_dim}
    return {key: getattr(layer, key) for key in SETTINGS.get(op, ())}


def _module_weights(op: str, layer: nn.Module, name: str) -> dict[str, torch.Tensor | None]:
    return {key: getattr(layer, key, None) for key in WEIGHTS.get(op, ())}


