"""Networks leave the kernel as descriptions of what they compute and come back as networks the kit evaluates."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graded_networks.networks import FORMAT, describe, evaluate, rebuild, write_descriptions
from graded_networks.verdict import SubmissionError, as_graded, graded_network

X = torch.linspace(-4, 4, 100)[:, None]
"""Inputs the networks are described on (the engine's tests use no lesson's data)."""


def regression_truth(x: torch.Tensor) -> torch.Tensor:
    """A function no fully connected network computes exactly: what a submission might return outright."""
    return 2 * x + 3 * torch.sin(3 * x) + 1


def roundtrip(model: nn.Module) -> dict:
    return json.loads(json.dumps(describe(model, X, "m")))


class Functional(nn.Module):
    """A class whose forward uses torch.tanh and F.relu, and one activation module defined last, used twice."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.out = nn.Linear(1, 8), nn.Linear(8, 8), nn.Linear(8, 1)
        self.act = nn.Sigmoid()

    def forward(self, x):
        hidden = F.relu(self.b(self.act(torch.tanh(self.a(x)))))
        return self.act(self.out(hidden))


class Looped(nn.Module):
    """nn.ModuleList in a loop, x.view(x.size(0), -1) and a squeeze at the end."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.ModuleList([nn.Linear(1, 8), nn.Linear(8, 8)])
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        x = x.view(x.size(0), -1).float()
        for layer in self.hidden:
            x = layer(x).relu()
        return self.out(x).squeeze(-1)


class HandMadeLayer(nn.Module):
    """Weights as nn.Parameters used through F.linear, LeakyReLU through F.leaky_relu, reshape by x.shape[0]."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.randn(8, 1))
        self.b = nn.Parameter(torch.zeros(8))
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(F.leaky_relu(F.linear(x, self.w, self.b), 0.2)).reshape(x.shape[0])


class ColumnAndInlineLayer(nn.Module):
    """An activation made inside forward, a weight-normed layer, and the output's column picked by indexing."""

    def __init__(self):
        super().__init__()
        self.hidden = nn.utils.parametrizations.weight_norm(nn.Linear(1, 8))
        self.out = nn.Linear(8, 1)

    def forward(self, x):
        return self.out(nn.Tanh()(self.hidden(x)))[:, 0]


def trained_batchnorm() -> nn.Module:
    model = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.1), nn.Linear(8, 1))
    model.train()
    model(X)  # running statistics move away from their initial values
    return model.eval()


class Negated(nn.Module):
    """``-x`` and a learnt scale (a parameter multiplying the data)."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(3.0))

    def forward(self, x):
        return -(x * self.scale)


class Standardised(nn.Module):
    """Input scaling inside forward with buffers, a constant divisor, a residual sum, and len(x) in a reshape."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.5]))
        self.register_buffer("std", torch.tensor([2.0]))
        self.a, self.b, self.out = nn.Linear(1, 8), nn.Linear(8, 8), nn.Linear(8, 1)

    def forward(self, x):
        x = (x - self.mean) / (self.std + 1e-8) / 16.0
        h = torch.relu(self.a(x))
        h = h + torch.tanh(self.b(h))  # a residual connection
        return (2.0 * self.out(h) - 1).reshape(len(x), -1)


HONEST = {
    "sequential": lambda: nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 1)),
    "leaky relu with its slope": lambda: nn.Sequential(nn.Linear(1, 8), nn.LeakyReLU(0.1), nn.Linear(8, 1)),
    "prelu with its weights": lambda: nn.Sequential(nn.Linear(1, 8), nn.PReLU(8), nn.Linear(8, 1)),
    "elu and softplus with settings": lambda: nn.Sequential(nn.Linear(1, 8), nn.ELU(0.5), nn.Linear(8, 8), nn.Softplus(beta=2), nn.Linear(8, 1)),
    "batch norm and dropout": trained_batchnorm,
    "layer norm, gelu, flatten": lambda: nn.Sequential(nn.Linear(1, 8), nn.LayerNorm(8), nn.GELU(), nn.Linear(8, 1), nn.Flatten(0)),
    "functional activations, module reused": Functional,
    "module list loop and view": Looped,
    "parameters through F.linear": HandMadeLayer,
    "float64": lambda: nn.Sequential(nn.Linear(1, 8), nn.SiLU(), nn.Linear(8, 1)).double(),
    "inline activation, weight norm, out[:, 0]": ColumnAndInlineLayer,
    "scaling in forward, residual, len(x)": Standardised,
    "negation and a scaled parameter": lambda: nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Linear(8, 1), Negated()),
}


@pytest.mark.parametrize("style", list(HONEST))
def test_honest_styles_are_described_and_rebuilt_exactly(style):
    torch.manual_seed(0)
    model = HONEST[style]()
    description = roundtrip(model)
    assert description.get("format") == FORMAT, description
    rebuilt = rebuild(description, "m")
    with torch.no_grad():
        expected = model.eval()(X.to(next(model.parameters()).dtype)).reshape(-1).double()
        assert torch.allclose(rebuilt(X).reshape(-1), expected, atol=1e-6)


class SineOfInput(nn.Module):
    def __init__(self):
        super().__init__()
        self.decoy = nn.Linear(1, 1)

    def forward(self, x):
        return self.decoy(torch.sin(3 * x))


class TrueFunction(SineOfInput):
    def forward(self, x):
        return regression_truth(x)


class ControlFlow(SineOfInput):
    def forward(self, x):
        if x.mean() > 0:
            return self.decoy(x)
        return -x


class MixesSamples(SineOfInput):
    def forward(self, x):
        return self.decoy(x.reshape(1, -1).tanh().reshape(-1, 1))


class Squared(SineOfInput):
    def forward(self, x):
        return self.decoy(x * x)


class RowConstants(SineOfInput):
    """A buffer with one row per training sample added to the data: a constant that differs by row (memorised)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("rows", torch.randn(len(X), 1))

    def forward(self, x):
        return self.decoy(x + self.rows)


class BatchStatistics(nn.Module):
    """Batch normalisation with the batch's own statistics (``training=True``): a row's output depends on the others."""

    def __init__(self):
        super().__init__()
        self.hidden, self.out = nn.Linear(1, 4), nn.Linear(4, 1)
        self.register_buffer("mean", torch.zeros(4))
        self.register_buffer("var", torch.ones(4))

    def forward(self, x):
        return self.out(F.batch_norm(self.hidden(x), self.mean, self.var, training=True))


REFUSED = {
    "a softmax over the samples (dim=0)": (lambda: nn.Sequential(nn.Linear(1, 3), nn.Softmax(dim=0)), "a softmax over dim=0 mixes the samples"),
    "batch normalisation with batch statistics": (BatchStatistics, "batch normalisation with batch statistics (training=True)"),
    "convolution": (lambda: nn.Sequential(nn.Unflatten(1, (1, 1)), nn.Conv1d(1, 1, 1), nn.Flatten()), "contains a Unflatten layer"),
    "a function outside the allow-list": (SineOfInput, "computes `torch.sin` at line"),
    "a module returning the true function": (TrueFunction, "does more than apply its layers"),
    "control flow on data": (ControlFlow, "Python control flow on its input"),
    "a reshape mixing samples": (MixesSamples, "one row per sample"),
    "products of the input": (Squared, "a product or quotient of the data with itself"),
    "a constant with a row per sample": (RowConstants, "must be the same for every sample"),
}


@pytest.mark.parametrize("style", list(REFUSED))
def test_what_is_not_a_fully_connected_network_is_refused_naming_the_operation(style):
    make, message = REFUSED[style]
    description = roundtrip(make())
    assert message in description.get("error", ""), description
    with pytest.raises(SubmissionError) as refused:  # the grader refuses it with the very message the check gave
        graded_network("m", description)
    assert str(refused.value) == description["error"]


def test_the_refusal_names_the_line_that_computes_it():
    error = roundtrip(SineOfInput())["error"]
    assert "`return self.decoy(torch.sin(3 * x))`" in error


def test_a_forward_that_differs_from_its_trace_is_refused():
    class TracedDifferently(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(1, 1)

        def forward(self, x):
            if type(x) is torch.Tensor:  # evaluated: the true function; traced: one honest layer
                return regression_truth(x)
            return self.layer(x)

    assert "gives other outputs than its traced operations" in roundtrip(TracedDifferently())["error"]


@pytest.mark.parametrize(
    "description, message",
    [
        ({"layers": [{"type": "Lambda", "code": "import os"}]}, "not one the grader reads"),
        ({"format": FORMAT, "nodes": [{"op": "input"}, {"op": "eval", "inputs": [0]}], "output": 1}, "'eval' is not allowed"),
        ({"format": FORMAT, "nodes": [{"op": "input"}, {"op": "relu", "inputs": [5]}], "output": 1}, "malformed"),
        ({"format": FORMAT, "nodes": [{"op": "input"}, {"op": "relu", "inputs": [0], "settings": {"x": 1}}], "output": 1}, "malformed"),
        ({"format": FORMAT, "nodes": [{"op": "input"}], "output": 7}, "has no output"),
        # an epoch count the training helpers never write: the budget is checked on it, so it must be a count
        *[({"format": FORMAT, "nodes": [{"op": "input"}], "output": 0, "trained_epochs": n}, "epoch count is malformed")
          for n in (-60_000, "60000", 1e9, True)],
        ({"format": FORMAT, "nodes": [{"op": "input"}, {"op": "softmax", "inputs": [0], "settings": {"dim": 0}}], "output": 1},
         "mixes the samples"),
        # an index that picks samples instead of columns: the rebuilt network refuses to run it
        (
            {"format": FORMAT, "nodes": [{"op": "input"}, {"op": "select", "inputs": [0], "settings": {"index": [0]}}], "output": 1},
            "every sample's row",
        ),
    ],
)
def test_rebuild_refuses_anything_outside_the_allow_list(description, message):
    with pytest.raises(SubmissionError, match=message):
        evaluate(graded_network("m", description), X, "m")  # refused when rebuilt, or at the latest when run


def test_a_rebuilt_network_computes_what_the_student_network_does_and_costs_no_copy():
    """The rebuilt network evaluates to the student's network's outputs (float64), and describing it again (the
    validation cell describes what the check rebuilt) neither traces its generated code nor copies its weights."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1))
    network = as_graded(model, X, "m")
    with torch.no_grad():
        assert torch.allclose(network(X), model(X).double(), atol=1e-6)
    again = describe(network, X, "m")
    assert again is network.description and again == roundtrip(model)


def test_missing_description_means_the_notebook_did_not_finish():
    with pytest.raises(SubmissionError, match="the notebook stopped before any cell that mentions it ran"):
        graded_network("m", None)


def test_export_writes_one_description_per_network(tmp_path):
    path = tmp_path / "networks.json"
    write_descriptions({"a": nn.Linear(1, 1), "b": None}, {"a": X, "b": X}, path)
    written = json.loads(path.read_text())
    assert written["a"]["format"] == FORMAT and "is not defined" in written["b"]["error"]


@pytest.mark.parametrize(
    "layers, cap",
    [
        ([nn.Linear(1, 8), *[nn.ReLU() for _ in range(1000)], nn.Linear(8, 1)], "operations (at most 1,000)"),
        ([nn.Linear(1, 5000), nn.ReLU(), nn.Linear(5000, 5000), nn.ReLU(), nn.Linear(5000, 1)], "parameters (at most 20,000,000)"),
    ],
    ids=["operations", "parameters"],
)
def test_a_network_past_a_cap_is_refused_by_the_check_naming_it(layers, cap):
    """The notebook's check and the grader share the cap: as_graded (what the check calls) refuses before building."""
    with pytest.raises(SubmissionError, match=cap.replace("(", r"\(").replace(")", r"\)")):
        as_graded(nn.Sequential(*layers), torch.linspace(-1, 1, 10)[:, None], "net")


def test_the_cost_of_a_description_is_counted_from_its_json_alone():
    from graded_networks.file_format import MAX_OPERATIONS_PER_SAMPLE, check_cost, description_cost
    from graded_networks.networks import NotANetwork

    wide = {"op": "linear", "inputs": [0], "weights": {"weight": {"dtype": "float32", "shape": [3000, 3000], "data": ""}}}
    description = {"format": FORMAT, "nodes": [{"op": "input"}] + [wide] * 5, "output": 5}
    cost = description_cost(description)
    assert cost == {"operations": 6, "parameters": 45_000_000, "operations per sample": 45_000_000 + 6 * 3000}
    assert cost["operations per sample"] > MAX_OPERATIONS_PER_SAMPLE
    with pytest.raises(NotANetwork, match="at most"):
        check_cost(description, "net")
