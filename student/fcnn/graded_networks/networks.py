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

import base64
import copy
import functools
import json
import math
import operator
import pathlib
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.utils import parametrize

FORMAT = "graded-network/2"
"""The description's format tag; :func:`rebuild` refuses any other."""

MAX_NODES = 1_000
"""The most operations a graded network may have: the lessons' networks have a few dozen."""
MAX_PARAMETERS = 20_000_000
"""The most weights (numbers) it may carry: an 8x1024 fully connected network has 7.3 million."""
MAX_OPERATIONS_PER_SAMPLE = 40_000_000
"""The most multiply-adds (and element-wise steps) it may take per sample: held-out grading evaluates tens of
thousands of samples within the grader's time and memory."""
CHUNK_ROWS = 4096
"""Rows evaluated at once by a rebuilt network: what one operation's output holds in memory stays small (4096 rows of
1024 float64 values are 32 MB) however many held-out samples there are."""


class SubmissionError(Exception):
    """A problem with a submitted model that the student can fix; the message says how."""


class NotANetwork(SubmissionError):
    """The object cannot be described as a fully connected network; the message says why."""


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


SMALLER = "The exercise's networks need far less: a few layers of a few hundred units are plenty."
"""What a network too large to grade is told."""


def _too_big(name: str, x: torch.Tensor) -> str:
    return f"`{name}` needs more memory to evaluate on {x.shape[0]:,} samples than the autograder has. {SMALLER}"


# ---------------------------------------------------------------------------------------------
# The allow-list. Each operation is a pure function of its input tensors, its JSON-safe settings
# (numbers, strings, lists of ints) and its weights; the grading process evaluates nothing else.
# ---------------------------------------------------------------------------------------------
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


ELEMENTWISE: dict[str, Callable[..., torch.Tensor]] = {
    "identity": lambda x: x,
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
}
"""Operations with weights (the tensors a description carries), evaluated as in ``eval()`` mode."""

WEIGHTS: dict[str, tuple[str, ...]] = {
    "linear": ("weight", "bias"),
    "prelu": ("weight",),
    "batch_norm": ("running_mean", "running_var", "weight", "bias"),
    "layer_norm": ("weight", "bias"),
}

SHAPES: dict[str, Callable[..., torch.Tensor]] = {
    "select": _keep_rows(lambda x, index: _select(x, index)),
    "flatten": _keep_rows(torch.flatten),
    "squeeze": _keep_rows(torch.squeeze),
    "unsqueeze": _keep_rows(torch.unsqueeze),
    "reshape": _keep_rows(_reshape),
}
"""Reshapes: allowed while each sample stays one row."""

ALLOWED = {*ELEMENTWISE, *WEIGHTED, *SHAPES}

# What the student may have written, and which allowed operation it is.
_MODULES: dict[type, str] = {
    nn.Linear: "linear",
    nn.Identity: "identity",
    nn.ReLU: "relu",
    nn.ReLU6: "relu6",
    nn.LeakyReLU: "leaky_relu",
    nn.RReLU: "rrelu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.CELU: "celu",
    nn.GELU: "gelu",
    nn.SiLU: "silu",
    nn.Mish: "mish",
    nn.Softplus: "softplus",
    nn.Softsign: "softsign",
    nn.Tanh: "tanh",
    nn.Sigmoid: "sigmoid",
    nn.Hardtanh: "hardtanh",
    nn.Hardsigmoid: "hardsigmoid",
    nn.Hardswish: "hardswish",
    nn.LogSigmoid: "logsigmoid",
    nn.Tanhshrink: "tanhshrink",
    nn.Hardshrink: "hardshrink",
    nn.Softshrink: "softshrink",
    nn.Softmax: "softmax",
    nn.LogSoftmax: "log_softmax",
    nn.PReLU: "prelu",
    nn.Dropout: "identity",  # dropout is the identity when a network is evaluated
    nn.Dropout1d: "identity",
    nn.AlphaDropout: "identity",
    nn.FeatureAlphaDropout: "identity",
    nn.BatchNorm1d: "batch_norm",
    nn.LayerNorm: "layer_norm",
    nn.Flatten: "flatten",
}

_FUNCTIONS: dict[Callable, str] = {
    torch.relu: "relu",
    torch.relu_: "relu",
    F.relu: "relu",
    F.relu_: "relu",
    F.relu6: "relu6",
    F.leaky_relu: "leaky_relu",
    F.leaky_relu_: "leaky_relu",
    F.rrelu: "rrelu",
    F.elu: "elu",
    F.selu: "selu",
    torch.selu: "selu",
    F.celu: "celu",
    F.gelu: "gelu",
    F.silu: "silu",
    F.mish: "mish",
    F.softplus: "softplus",
    F.softsign: "softsign",
    torch.tanh: "tanh",
    torch.tanh_: "tanh",
    F.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    torch.sigmoid_: "sigmoid",
    F.sigmoid: "sigmoid",
    torch.special.expit: "sigmoid",
    F.hardtanh: "hardtanh",
    F.hardsigmoid: "hardsigmoid",
    F.hardswish: "hardswish",
    F.logsigmoid: "logsigmoid",
    F.tanhshrink: "tanhshrink",
    F.hardshrink: "hardshrink",
    F.softshrink: "softshrink",
    F.softmax: "softmax",
    torch.softmax: "softmax",
    F.log_softmax: "log_softmax",
    torch.log_softmax: "log_softmax",
    torch.clamp: "clamp",
    torch.clip: "clamp",
    torch.clamp_min: "clamp",
    F.dropout: "identity",
    F.alpha_dropout: "identity",
    F.feature_alpha_dropout: "identity",
    torch.dropout: "identity",
    F.linear: "linear",
    F.prelu: "prelu",
    F.batch_norm: "batch_norm",
    F.layer_norm: "layer_norm",
    torch.flatten: "flatten",
    torch.squeeze: "squeeze",
    torch.unsqueeze: "unsqueeze",
    torch.reshape: "reshape",
}

_METHODS: dict[str, str] = {
    **{name: name for name in ("relu", "tanh", "sigmoid", "flatten", "squeeze", "unsqueeze", "reshape", "clamp", "clip")},
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    **{f"{name}_": name for name in ("relu", "tanh", "sigmoid", "clamp", "clip", "squeeze", "unsqueeze")},
    "clamp_min": "clamp",
    "clip": "clamp",
    "clip_": "clamp",
    "view": "reshape",
    # casts, copies and moves change no value the grader measures (it evaluates in float64 on the CPU)
    **{name: "identity" for name in ("float", "double", "to", "type", "cpu", "cuda", "contiguous", "clone")},
}

# Positional arguments, after the input, of what the student may call, by the names the settings use.
_POSITIONAL: dict[str, tuple[str, ...]] = {
    "leaky_relu": ("negative_slope",),
    "rrelu": ("lower", "upper"),
    "elu": ("alpha",),
    "celu": ("alpha",),
    "softplus": ("beta", "threshold"),
    "hardtanh": ("min_val", "max_val"),
    "hardshrink": ("lambd",),
    "softshrink": ("lambd",),
    "clamp": ("min", "max"),
    "flatten": ("start_dim", "end_dim"),
    "squeeze": ("dim",),
    "unsqueeze": ("dim",),
    "softmax": ("dim",),
    "log_softmax": ("dim",),
    "linear": ("weight", "bias"),
    "prelu": ("weight",),
    "batch_norm": ("running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    "layer_norm": ("normalized_shape", "weight", "bias", "eps"),
}


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


def _where(stack: str | None) -> str:
    """``line 7 (`return self.out(3 * x)`)``: the innermost line outside torch of a traced operation."""
    torch_dir = str(pathlib.Path(torch.__file__).parent)
    frames = [  # not torch's lines, nor this module's tracer
        f for f in traceback.StackSummary.from_list(_parse_stack(stack or ""))
        if not f.filename.startswith(torch_dir) and f.filename != __file__
    ]
    if not frames:
        return "in forward()"
    frame = frames[-1]
    return f"line {frame.lineno} (`{(frame.line or '').strip()[:80]}`)"


def _parse_stack(stack: str) -> list[tuple[str, int, str, str]]:
    """fx's recorded stack (``File "f", line N, in fn`` / code lines) as traceback tuples."""
    frames, lines = [], stack.splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith('File "') and ", line " in text:
            filename = text[6 : text.index('", line ')]
            rest = text[text.index('", line ') + 8 :].split(", in ")
            code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip().startswith('File "') else ""
            frames.append((filename, int(rest[0]), rest[1] if len(rest) > 1 else "", code))
    return frames


def _refusal(name: str, what: str, where: str) -> NotANetwork:
    return NotANetwork(
        f"`{name}`'s forward() does more than apply its layers one after another: it computes {what} at {where}. "
        "The exercise asks for a fully connected network: nn.Linear layers and activations (in nn.Sequential, "
        "a custom nn.Module, or functions such as torch.tanh or F.relu), optionally with dropout or normalisation."
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, list) and any(isinstance(v, dict) for v in value):  # a select's index, already JSON
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float, str)):
        return value
    if isinstance(value, (tuple, list, torch.Size)) and all(type(v) is int or v == "batch" for v in value):
        return list(value)
    raise TypeError(type(value).__name__)


def _tensor(value: torch.Tensor) -> dict[str, Any]:
    """A weight as JSON: its exact float32 or float64 bytes, base64 (a list of numbers as text is three times larger)."""
    value = value.detach().to("cpu")
    value = value if value.dtype in (torch.float32, torch.float64) else value.to(torch.float64)
    return {"dtype": str(value.dtype).removeprefix("torch."), "shape": list(value.shape),
            "data": base64.b64encode(value.contiguous().numpy().tobytes()).decode()}  # fmt: skip


def _weight(encoded: Any, name: str) -> torch.Tensor:
    """The float64 tensor that :func:`_tensor` encoded; :class:`NotANetwork` if it is not one."""
    dtypes = {"float32": torch.float32, "float64": torch.float64}
    if not (isinstance(encoded, dict) and encoded.get("dtype") in dtypes and isinstance(encoded.get("data"), str)):
        raise NotANetwork(f"`{name}`: a weight in the description is malformed")
    shape = _shape(encoded)
    if shape is None:
        raise NotANetwork(f"`{name}`: a weight's shape in the description is malformed")
    raw = base64.b64decode(encoded["data"], validate=True)
    dtype = dtypes[encoded["dtype"]]
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise NotANetwork(f"`{name}`: a weight's data does not match its shape")
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).to(torch.float64)


def _shape(encoded: Any) -> list[int] | None:
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
            shape = _shape(weight)
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
            description = _trace(getattr(model, "_orig_mod", model), name)  # torch.compile's wrapper: its module
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


def _trace(model: nn.Module, name: str) -> dict[str, Any]:
    try:
        graph = _Tracer().trace(model)
    except Exception as e:  # fx refuses control flow on data, and whatever else it cannot follow
        tb = traceback.extract_tb(e.__traceback__)
        torch_dir = str(pathlib.Path(torch.__file__).parent)
        user = [f for f in tb if not f.filename.startswith(torch_dir)]
        where = f"line {user[-1].lineno} (`{(user[-1].line or '').strip()[:80]}`)" if user else "in forward()"
        control = isinstance(e, fx.proxy.TraceError)
        what = (
            "Python control flow on its input (if/while on tensor values)"
            if control
            else f"something tracing cannot follow ({type(e).__name__}: {e})"
        )
        raise _refusal(name, what, where) from None

    index: dict[fx.Node, int] = {}
    nodes: list[dict[str, Any]] = []
    values: dict[fx.Node, Any] = {}  # get_attr nodes: the tensors they fetch

    def tensor_input(arg: Any, node: fx.Node) -> int:
        if isinstance(arg, fx.Node) and arg in index:
            return index[arg]
        raise _refusal(name, f"`{_shown(node)}` on something other than the network's data", _where(node.stack_trace))

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
                raise _refusal(name, "a shape other than the number of samples", _where(node.stack_trace))
            values[node] = "batch"
            continue
        if node.op == "call_method" and node.target == "size" or node.op == "call_function" and node.target is getattr:
            values[node] = _BatchShape(node)  # x.shape / x.size(): only its first entry may be used
            continue
        if node.op == "call_function" and node.target is operator.getitem and isinstance(values.get(source), _BatchShape):
            if node.args[1] != 0:
                raise _refusal(name, "a shape other than the number of samples", _where(node.stack_trace))
            values[node] = "batch"
            continue

        if node.op == "call_function" and node.target is operator.getitem and source in index:
            index[node] = len(nodes)  # ``out[:, 0]``: columns of every row
            nodes.append({"op": "select", "inputs": [index[source]], "settings": {"index": _index(node, name)}, "weights": {}})
            continue
        op, settings, weights, inputs = _operation(node, model, values, name)
        if op not in ALLOWED:
            raise _refusal(name, f"`{_shown(node)}`", _where(node.stack_trace))
        entry: dict[str, Any] = {"op": op, "inputs": [tensor_input(a, node) for a in inputs]}
        try:
            entry["settings"] = {k: _jsonable(v) for k, v in settings.items()}
        except TypeError:
            raise _refusal(name, f"`{_shown(node)}` with settings the grader cannot read", _where(node.stack_trace)) from None
        entry["weights"] = {k: _tensor(v) for k, v in weights.items() if v is not None}
        index[node] = len(nodes)
        nodes.append(entry)
    raise NotANetwork(f"`{name}`'s forward() returns nothing")


def _index(node: fx.Node, name: str) -> list:
    """``out[:, 0]`` as JSON: every row (a full slice first), then ints and constant slices."""
    key = node.args[1] if isinstance(node.args[1], tuple) else (node.args[1],)
    every_row = isinstance(key[0], slice) and key[0] == slice(None)
    if not every_row or not all(type(k) is int or isinstance(k, slice) for k in key):
        raise _refusal(name, "an index that does not keep every sample's row", _where(node.stack_trace))
    encoded = []
    for k in key:
        if isinstance(k, slice):
            if not all(v is None or type(v) is int for v in (k.start, k.stop, k.step)):
                raise _refusal(name, "an index computed from the data", _where(node.stack_trace))
            encoded.append({"slice": [k.start, k.stop, k.step]})
        else:
            encoded.append(k)
    return encoded


def _select(x: torch.Tensor, index: list) -> torch.Tensor:
    key = tuple(slice(*k["slice"]) if isinstance(k, dict) else int(k) for k in index)
    if not key or key[0] != slice(None):
        raise NotANetwork("an index must keep every sample's row")
    return x[key]


class _BatchShape:
    """The value of ``x.shape`` or ``x.size()`` while tracing: only ``[0]``, the number of samples, is allowed."""

    def __init__(self, node: fx.Node) -> None:
        self.node = node


def _shown(node: fx.Node) -> str:
    target = node.target
    if node.op == "call_function":
        module = getattr(target, "__module__", None) or ""
        module = {"torch._C._nn": "F", "torch.nn.functional": "F", "_operator": "operator"}.get(module, module or "torch")
        return f"{module}.{getattr(target, '__name__', target)}"
    if node.op == "call_method":
        return f"tensor.{target}()"
    return str(target)


def _operation(node: fx.Node, model: nn.Module, values: dict, name: str) -> tuple[str | None, dict, dict, list]:
    """The allowed operation a traced node performs: ``(op, settings, weights, tensor inputs)``."""
    if node.op == "call_module":
        layer = model.get_submodule(node.target)
        # weight_norm / spectral_norm make a class of their own around the layer; its weights are computed
        op = _MODULES.get(parametrize.type_before_parametrizations(layer))
        if op is None:
            raise NotANetwork(
                f"`{name}` contains a {type(layer).__name__} layer ({_where(node.stack_trace)}); a fully connected "
                "network is made of nn.Linear layers, activations, and optionally dropout or normalisation."
            )
        return op, _module_settings(op, layer, name), _module_weights(op, layer, name), list(node.args[:1])
    if node.op == "call_function":
        op = _FUNCTIONS.get(node.target)
    elif node.op == "call_method":
        op = _METHODS.get(node.target)
    else:
        op = None
    if op is None:
        return None, {}, {}, []
    x, *rest = node.args
    named = dict(zip(_POSITIONAL.get(op, ()), rest))
    named.update(node.kwargs)
    if op == "reshape":  # x.view(n, -1), x.reshape((n, -1)), torch.reshape(x, shape)
        shape = named.get("shape", rest[0] if len(rest) == 1 else rest)
        shape = list(shape) if isinstance(shape, (list, tuple, torch.Size)) else [shape]
        shape = [values.get(s) if isinstance(s, fx.Node) else s for s in shape]
        if not all(s == "batch" or type(s) is int for s in shape):
            raise _refusal(name, f"`{_shown(node)}` with a shape the grader cannot read", _where(node.stack_trace))
        named = {"shape": shape}
    if op == "identity":
        return op, {}, {}, [x]
    weights = {k: named.pop(k) for k in WEIGHTS.get(op, ()) if k in named}
    for key, value in list(weights.items()):
        if isinstance(value, fx.Node):
            if value not in values:
                raise _refusal(name, f"`{_shown(node)}` with weights computed from the data", _where(node.stack_trace))
            weights[key] = values[value]
    if op == "batch_norm" and named.pop("training", False):
        raise _refusal(name, "batch normalisation with batch statistics (training=True)", _where(node.stack_trace))
    named.pop("momentum", None)
    named.pop("inplace", None)
    if op in ("softmax", "log_softmax"):
        named.pop("_stacklevel", None)  # F.softmax's bookkeeping for its warning
        if named.get("dtype") is None:
            named.pop("dtype", None)  # the default; a cast would be refused as an unknown setting
    unknown = set(named) - set(SETTINGS.get(op, ()))
    if unknown:
        raise _refusal(name, f"`{_shown(node)}` with {', '.join(sorted(unknown))}", _where(node.stack_trace))
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
                or len(inputs) != 1
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
                self.register_buffer(buffer, _weight(value, name))
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
            if op in WEIGHTED:
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


def export(models: dict[str, object], example_inputs: dict[str, torch.Tensor], path: str | pathlib.Path) -> None:
    """Write the description of each named model (see :func:`describe`) to ``path`` as JSON."""
    descriptions = {}
    for name, model in models.items():
        try:
            descriptions[name] = describe(model, example_inputs[name], name)
        except Exception as e:  # the notebook may have broken torch itself; say so rather than stop
            descriptions[name] = {"error": f"`{name}` could not be described for grading ({type(e).__name__}: {e})."}
    pathlib.Path(path).write_text(json.dumps(descriptions))
