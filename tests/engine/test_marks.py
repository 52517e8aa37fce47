"""Marks as the one source of a band and of its words (the engine alone: no lesson)."""

from __future__ import annotations

import pytest

from graded_networks.exercise import Diagnosis, GradedExercise
from graded_networks.marks import Mark, Metric, band, marks_table, marks_text, near_marks
from graded_networks.verdict import judge

MARKS = (
    Mark("just right", "accuracy", at_least=0.9),
    Mark("just right", "loss", at_most=0.3),
    Mark("close", "accuracy", at_least=0.8),
)
METRICS = (Metric("accuracy", "accuracy", spread=0.02), Metric("loss", "loss"))


@pytest.mark.parametrize(
    "metrics, expected",
    [
        ({"accuracy": 0.95, "loss": 0.2}, "just right"),
        ({"accuracy": 0.95, "loss": 0.4}, "close"),  # one just-right mark fails: the band below
        ({"accuracy": 0.85, "loss": 0.2}, "close"),
        ({"accuracy": 0.7, "loss": 0.1}, "off"),
        ({"accuracy": float("nan"), "loss": 0.1}, "off"),
        ({"loss": 0.1}, "off"),  # a missing metric meets no mark
    ],
)
def test_the_band_is_the_best_whose_every_mark_holds(metrics, expected):
    assert band(metrics, MARKS) == expected


def test_a_mark_needs_exactly_one_bound_and_a_real_band():
    with pytest.raises(ValueError):
        Mark("just right", "accuracy")
    with pytest.raises(ValueError):
        Mark("perfect", "accuracy", at_least=0.9)


def test_the_words_follow_the_marks():
    assert marks_text(MARKS, METRICS) == (
        "just right with accuracy at least 0.9 and loss at most 0.3; close with accuracy at least 0.8; off otherwise"
    )
    table = marks_table(MARKS, METRICS, {"off": 0, "close": 2, "just right": 4})
    assert "| just right | accuracy at least 0.9 and loss at most 0.3 | 4 |" in table and "| off | otherwise | 0 |" in table


def test_the_verdict_names_the_band_and_the_advice_from_the_metrics():
    exercise = GradedExercise(
        network="net", example_input="x", assess="y", metrics=METRICS, marks=MARKS,
        diagnosis=Diagnosis(train="train_loss", heldout="loss", floor=0.1, advice={"overfit": "Shrink it.", "underfit": "Grow it."}),
    )  # fmt: skip
    overfit = judge(exercise, {"accuracy": 0.85, "loss": 0.5, "train_loss": 0.05}, "the test")
    assert overfit.band == "close" and overfit.regime == "overfit" and "Shrink it." in overfit.message
    assert overfit.message.startswith("On the test: accuracy 0.850, loss 0.500.") and "Band: close." in overfit.message
    assert judge(exercise, {"accuracy": 0.95, "loss": 0.2}, "the test").message.endswith("Band: just right.")


def test_the_validation_cell_warns_near_a_mark_within_its_spread():
    assert near_marks({"accuracy": 0.91, "loss": 0.2}, MARKS, METRICS) == ["accuracy"]
    assert near_marks({"accuracy": 0.95, "loss": 0.2}, MARKS, METRICS) == []
