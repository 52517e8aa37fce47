"""What a student may have written, and which allowed operation (``operations.py``) each one is."""

from __future__ import annotations

import operator
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

MODULES: dict[type, str] = {
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

FUNCTIONS: dict[Callable, str] = {
    operator.neg: "neg",
    torch.neg: "neg",
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

METHODS: dict[str, str] = {
    **{name: name for name in ("relu", "tanh", "sigmoid", "flatten", "squeeze", "unsqueeze", "reshape", "clamp", "clip")},
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    **{f"{name}_": name for name in ("relu", "tanh", "sigmoid", "clamp", "clip", "squeeze", "unsqueeze")},
    "clamp_min": "clamp",
    "clip": "clamp",
    "clip_": "clamp",
    "view": "reshape",
    "neg": "neg",
    # casts, copies and moves change no value the grader measures (it evaluates in float64 on the CPU)
    **{name: "identity" for name in ("float", "double", "to", "type", "cpu", "cuda", "contiguous", "clone")},
}

# Positional arguments, after the input, of what the student may call, by the names the settings use.
POSITIONAL: dict[str, tuple[str, ...]] = {
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




ARITHMETIC_CALLS: dict[Callable, str] = {
    operator.add: "add", torch.add: "add", operator.sub: "sub", torch.sub: "sub", torch.subtract: "sub",
    operator.mul: "mul", torch.mul: "mul", torch.multiply: "mul", operator.truediv: "div", torch.div: "div",
    torch.true_divide: "div", torch.divide: "div",
}  # fmt: skip
"""``+ - * /`` as functions: on the data and a constant they are ``affine``; ``+ -`` on two branches, ``branches``."""
ARITHMETIC_METHODS: dict[str, str] = {"add": "add", "sub": "sub", "mul": "mul", "div": "div", "true_divide": "div"}
REVERSED_METHODS: dict[str, str] = {"__radd__": "add", "__rsub__": "sub", "__rmul__": "mul", "__rtruediv__": "div"}
"""``1 - x`` as fx may record it: the tensor first, the operation reversed."""
