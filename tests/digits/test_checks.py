"""The digits exercise's public check names the real cause of a refusal (fast: no notebook, no kit)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from digits_lesson.data import load
from digits_lesson.grading import check_classifier
from digits_lesson.training import train_classifier


@pytest.mark.parametrize("inputs", ["raw pixel values", "standardised"])
def test_a_network_trained_on_rescaled_pixels_is_told_to_put_the_scaling_inside(inputs):
    train = load("train")
    x = train.x * 16 if inputs == "raw pixel values" else (train.x - train.x.mean(0)) / train.x.std(0).clamp_min(1e-8)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    train_classifier(model, x, train.y, num_epochs=150, lr=0.01, reporting_interval=0)
    with pytest.raises(AssertionError, match=inputs) as refused:
        check_classifier(model)
    assert "inside the network" in str(refused.value) and "guessing" not in str(refused.value)


def test_a_network_that_reads_every_digit_right_is_never_said_to_guess():
    """Sigmoid outputs read as what they are not: accuracy 1.00 with a poor cross-entropy names the outputs, not guessing."""
    train = load("train")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    train_classifier(model, train.x, train.y, num_epochs=300, lr=0.01, reporting_interval=0)
    flat = nn.Sequential(model, nn.Softmax(dim=1), Times(0.05), nn.LogSoftmax(dim=1))  # right answers, barely sure of them
    with pytest.raises(AssertionError) as refused:
        check_classifier(flat)
    assert "guessing" not in str(refused.value) and "do not say how sure it is" in str(refused.value)


class Times(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


def _zoo() -> list[dict]:
    import csv

    from instructor.assign import REPO

    with (REPO / "docs" / "digits" / "calibration" / "zoo.csv").open() as f:
        return list(csv.DictReader(f))


def test_no_honest_network_of_the_calibration_raises_an_alert():
    from digits_lesson.exercises import DIGITS
    from graded_networks.marks import alerts

    rows = _zoo()
    assert len(rows) > 1000
    for row in rows:
        metrics = {key: float(row[key]) for key in ("heldout_accuracy", "heldout_cross_entropy")}
        metrics["heldout_above_validation"] = metrics["heldout_accuracy"] - float(row["validation_accuracy"])
        assert not alerts(metrics, DIGITS.alerts), (row["recipe"], row["seed"], row["epochs"])


def test_a_network_trained_on_the_held_out_digits_is_flagged_for_the_instructor_and_graded_as_measured():
    from digits_lesson.data import decode_heldout, heldout_split
    from digits_lesson.exercises import DIGITS
    from graded_networks import verdict
    from graded_networks.marks import alerts

    train, secret = load("train"), heldout_split()
    held = decode_heldout(secret)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 10))
    train_classifier(model, torch.cat([train.x, held.x]), torch.cat([train.y, held.y]), num_epochs=300, lr=0.003, reporting_interval=0)
    graded = verdict.assess(DIGITS, model, 0, secret)
    assert graded.band == "just right"  # the grade is what it measures: the alert is the instructor's call
    assert len(alerts(graded.metrics, DIGITS.alerts)) >= 2
