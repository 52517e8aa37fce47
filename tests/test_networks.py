"""Networks leave the kernel as descriptions and come back, in the grading process, as plain networks."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from fcnn_kit.data import lesson_data, regression_truth
from fcnn_kit.grading import SubmissionError, graded_network
from fcnn_kit.networks import describe, export, rebuild

X = lesson_data().x_reg


def roundtrip(model: nn.Module) -> dict:
    return json.loads(json.dumps(describe(model, X, "m")))


def test_described_network_predicts_exactly_as_the_original():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 8), nn.Tanh(), nn.Sequential(nn.Linear(8, 8), nn.ReLU()), nn.Linear(8, 1))
    rebuilt = rebuild(roundtrip(model), "m")
    with torch.no_grad():
        assert torch.allclose(rebuilt(X.double()), model(X).double(), atol=1e-6)


def test_custom_module_made_of_allowed_layers_in_order_is_graded():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden, self.act, self.out = nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1)

        def forward(self, x):
            return self.out(self.act(self.hidden(x)))

    assert "layers" in roundtrip(Net())


def test_module_returning_the_true_function_is_not_a_network():
    class Cheat(nn.Module):
        def __init__(self):
            super().__init__()
            self.decoy = nn.Linear(1, 1)

        def forward(self, x):
            return regression_truth(x)

    description = roundtrip(Cheat())
    assert "does more than apply its layers" in description["error"]
    with pytest.raises(SubmissionError, match="does more than apply its layers"):
        graded_network("m", description)


@pytest.mark.parametrize("layer", [nn.Dropout(0.1), nn.BatchNorm1d(4)])
def test_layers_outside_the_allow_list_are_refused_with_a_message(layer):
    model = nn.Sequential(nn.Linear(1, 4), layer, nn.Linear(4, 1)).eval()
    assert "a fully connected network is made of nn.Linear layers" in roundtrip(model)["error"]


def test_rebuild_refuses_unknown_layer_types():
    with pytest.raises(SubmissionError, match="'Lambda' is not allowed"):
        graded_network("m", {"layers": [{"type": "Lambda", "code": "import os"}]})


def test_missing_description_means_the_notebook_did_not_finish():
    with pytest.raises(SubmissionError, match="the notebook stopped before any cell that mentions it ran"):
        graded_network("m", None)


def test_export_writes_one_description_per_network(tmp_path):
    path = tmp_path / "networks.json"
    export({"a": nn.Linear(1, 1), "b": None}, {"a": X, "b": X}, path)
    written = json.loads(path.read_text())
    assert "layers" in written["a"] and "is not defined" in written["b"]["error"]
