"""Grading logic: the held-out assessment, the public check, the validation cell and the rules text.

The public check (``check_classifier``) runs in the student's notebook through ``grader.check``. The hidden
assessment (``assess_classifier``, named in ``exercises.py``) runs in the autograder's own process (the grading
engine's ``HeldOutGrading``) on the held-out third of the digits, which only the autograder's configuration holds.
The validation cell runs the very same assessment on the handed-out validation part.
"""

from __future__ import annotations

import math

import torch

from graded_networks.networks import evaluate
from graded_networks.verdict import BANDS, Assessment, SubmissionError, as_graded, check_epoch_budget, regime

from .data import N_CLASSES, Digits, decode_heldout, load
from .exercises import (
    CLOSE_CROSS_ENTROPY,
    CLOSE_MIN_ACCURACY,
    CROSS_ENTROPY_CLAMP,
    DIGITS,
    LIMITS,
    MAX_CROSS_ENTROPY,
    MIN_ACCURACY,
)
from .training import log_probabilities

NAME = DIGITS.network
MAX_EPOCHS = 3_000
"""Training budget of the exercise (full-batch epochs), recorded by the training helper."""
PUBLIC_POINTS = 1
"""The public check's points (its test config in the master notebook says the same; a test checks it)."""
HIDDEN_CASE_POINTS = 2
"""Each hidden case's points: a band earns as many cases as its index in :data:`BANDS`."""
FLOOR_ERROR = 0.03
"""About the lowest held-out error rate (1 - accuracy) the calibration's networks reach: a network whose
training error is below it fits its training digits better than any network reads new ones (overfitting)."""
NEAR_MARK = 0.015
"""The validation cell calls a network whose validation accuracy is this close to a mark "near the mark": the
validation digits are a different sample (299 of them) from the held-out ones, and have read about 0.01 easier."""


def predict_log_probabilities(model: object, x: torch.Tensor) -> torch.Tensor:
    """Each digit's log-probabilities over the 10 classes (float64, on the CPU), from logits or probabilities.

    Raises:
        SubmissionError: with a message saying what to fix.
    """
    check_epoch_budget(model, MAX_EPOCHS, NAME)
    out = evaluate(model, x, NAME)
    if tuple(out.shape) != (x.shape[0], N_CLASSES):
        raise SubmissionError(
            f"`{NAME}` returned {tuple(out.shape)} for {x.shape[0]} digits; it must return one score per class, "
            f"shape ({x.shape[0]}, {N_CLASSES}). Check the last layer's out_features (it should be {N_CLASSES})."
        )
    if not torch.isfinite(out).all():
        raise SubmissionError(f"`{NAME}` returned NaN or infinite values: its training diverged. Lower the learning rate.")
    return log_probabilities(out)


def measure(model: object, data: Digits) -> tuple[float, float]:
    """Accuracy and mean cross-entropy (clamped, see ``exercises.CROSS_ENTROPY_CLAMP``) of ``model`` on ``data``."""
    log_p = predict_log_probabilities(model, data.x)
    accuracy = (log_p.argmax(dim=1) == data.y).double().mean().item()
    log_p_true = log_p[torch.arange(len(data.y)), data.y].clamp(min=math.log(CROSS_ENTROPY_CLAMP))
    return accuracy, -log_p_true.mean().item()


def check_classifier(model: object) -> None:
    """Public check. Raises ``AssertionError`` saying what to fix."""
    train = load("train")
    try:
        network = as_graded(model, train.x, NAME)
        accuracy, entropy = measure(network, train)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    # An untrained network guesses: accuracy about 0.1 and cross-entropy about log(10) = 2.3.
    assert accuracy >= 0.5 and entropy < math.log(N_CLASSES) / 2, (
        f"`{NAME}` has training accuracy {accuracy:.2f} and cross-entropy {entropy:.2f}, about what guessing gives: "
        "it has not been trained (enough). Run the cell that trains it."
    )


def assess(model: object, heldout: Digits, where: str) -> Assessment:
    """Measure ``model`` on ``heldout`` against the marks; the message says the band and what to change."""
    try:
        train_accuracy, train_entropy = measure(model, load("train"))
        accuracy, entropy = measure(model, heldout)
    except SubmissionError as e:
        return Assessment(str(e))
    metrics = {
        "heldout_accuracy": accuracy,
        "heldout_cross_entropy": entropy,
        "train_accuracy": train_accuracy,
        "train_cross_entropy": train_entropy,
    }
    if accuracy >= MIN_ACCURACY and entropy <= MAX_CROSS_ENTROPY:
        band = BANDS[2]
    elif accuracy >= CLOSE_MIN_ACCURACY and entropy <= CLOSE_CROSS_ENTROPY:
        band = BANDS[1]
    else:
        band = BANDS[0]
    summary = (
        f"On {len(heldout.y)} {where}: accuracy {accuracy:.3f} and cross-entropy {entropy:.3f} (just right: accuracy "
        f">= {MIN_ACCURACY} and cross-entropy <= {MAX_CROSS_ENTROPY}; close: >= {CLOSE_MIN_ACCURACY} and <= "
        f"{CLOSE_CROSS_ENTROPY}). On its training digits: accuracy {train_accuracy:.3f}, cross-entropy {train_entropy:.3f}."
    )
    if band == BANDS[-1]:
        return Assessment(f"{summary} Band: {band}.", metrics, band)
    regime_ = regime(1 - train_accuracy, 1 - accuracy, FLOOR_ERROR)
    return Assessment(f"{summary} Band: {band}. {_BAND_MEANING[band]} {_ADVICE[regime_]}", metrics, band, regime_)


def assess_classifier(model: object, heldout_seed: int, heldout_data: dict) -> Assessment:
    """Hidden test: the held-out third of the digits (``heldout_seed`` is unused: the split is fixed)."""
    return assess(model, decode_heldout(heldout_data), "held-out digits")


def validate_classifier(model: object) -> None:
    """Print what the hidden test would say about ``model``, measured on the validation digits.

    The network is first described and rebuilt exactly as the autograder does, so one the autograder would
    refuse is refused here too, with the same message.
    """
    try:
        network = as_graded(model, load("train").x, NAME)
    except SubmissionError as e:
        assessment = Assessment(str(e))
    else:
        assessment = assess(network, load("validation"), "validation digits")
    accuracy = assessment.metrics.get("heldout_accuracy")
    near = accuracy is not None and any(abs(accuracy - mark) < NEAR_MARK for mark in (MIN_ACCURACY, CLOSE_MIN_ACCURACY))
    verdict = "would pass" if assessment.passed else "would not pass"
    print(f"On the validation digits, this model {verdict} the hidden test (which uses the held-out digits):")
    print(assessment.message)
    if near:
        print(
            f"Its accuracy is within {NEAR_MARK} of a mark: on the held-out digits, another sample, it may land in "
            "the band next to this one. A network further from the marks is graded as validated."
        )


_BAND_MEANING = {
    "close": "Close to just right (half of the hidden points).",
    "off": "Well away from just right (no hidden points).",
}
_ADVICE = {
    "overfit": "The network is far more sure of its training digits than of new ones: it has memorised them "
    "(overfitting), and its confident mistakes cost a lot of cross-entropy. Train for fewer epochs, or use a "
    "smaller network.",
    "underfit": "It misreads many of the training digits too: the network is not flexible enough, not trained "
    "enough, or not trained on all of them. Train on all of `train.x`, give the hidden layer more units (a "
    "bottleneck of a few units loses the digits), or train for more epochs.",
}


def rules() -> str:
    """How the exercise is graded, in Markdown, from the very settings the autograder grades with."""
    points = {band: i * HIDDEN_CASE_POINTS for i, band in enumerate(BANDS)}
    return "\n".join(
        [
            f"**How `{NAME}` is graded** ({PUBLIC_POINTS + points['just right']} points; printed from the autograder's own settings):",
            "",
            f"- {PUBLIC_POINTS} point for the public check below: the network exists, is a fully connected "
            f"`torch.nn.Module`, takes 64 pixels per digit, returns {N_CLASSES} scores per digit (logits or "
            "probabilities) and was trained;",
            f"- the hidden test, on the held-out third of the digits, which you never receive: **just right** with "
            f"accuracy at least {MIN_ACCURACY} and cross-entropy at most {MAX_CROSS_ENTROPY} ({points['just right']} "
            f"points), **close** with at least {CLOSE_MIN_ACCURACY} and at most {CLOSE_CROSS_ENTROPY} "
            f"({points['close']} points), **off** otherwise ({points['off']}); in the cross-entropy a probability "
            f"below {CROSS_ENTROPY_CLAMP} for the true digit counts as {CROSS_ENTROPY_CLAMP};",
            f"- training: on the training digits only, at most {MAX_EPOCHS:,} epochs;",
            f"- the autograder reruns the notebook from the top in at most {LIMITS.time_s // 60} minutes "
            f"({LIMITS.time_s} s) and {LIMITS.memory_mb / 1024:g} GB of memory, skipping the cells that start "
            "with `# Demo:`; a cell that runs out of time is interrupted and what came before it is graded;",
            "- graded: what the network computes (layers, activations as layers or functions, softmax or log-softmax "
            "at the end, dropout, batch or layer norm, reshapes that keep one row per digit); refused, with the line "
            "named: other layers (a convolution), arithmetic on tensors, `if`/`while` on tensor values.",
        ]
    )


def show_rules() -> None:
    """Display :func:`rules` in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(rules()))
