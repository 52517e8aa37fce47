"""What the autograder grades in this lesson, its pass marks and its limits: the one place each of them lives.

The master's config names these objects; the grading engine reads them before the notebook runs, so this module
imports no torch. ``make calibrate A=digits`` measures the marks on a zoo of trainings (docs/digits/calibration.md).
"""

from graded_networks.exercise import Diagnosis, GradedExercise, Limits
from graded_networks.marks import Alert, Mark, Metric

LIMITS = Limits(time_s=300, memory_mb=1536, hidden=("sklearn/datasets/data",))
"""The autograder's limits, which the notebook states (``grading.rules``). ``hidden``: scikit-learn's own copy of
the digits, all 1,797 of them, is out of the notebook's sight while it is graded (see ``data.py``)."""

# Accuracy is the main mark: on 600 held-out digits its standard error is about 0.008. The cross-entropy
# (probabilities clamped at 0.01, so that one confident mistake costs at most 4.6) keeps out a network that
# is right but absurdly sure of its mistakes. An unclamped cross-entropy cannot be a fair mark here: a few
# confidently wrong digits decide it, so the same overfit network scores 0.06 on the validation digits and
# 0.26 on the held-out ones (docs/digits/calibration.md). Linear (softmax) models trained well are honestly
# good on these digits and may reach "just right"; the calibration page shows each group.
MIN_ACCURACY = 0.94
"""Just right: held-out accuracy at least this ..."""
MAX_CROSS_ENTROPY = 0.30
"""... and held-out (clamped) cross-entropy at most this."""
CLOSE_MIN_ACCURACY = 0.90
"""Close: accuracy at least this ..."""
CLOSE_CROSS_ENTROPY = 0.45
"""... and cross-entropy at most this."""
CROSS_ENTROPY_CLAMP = 0.01
"""Probabilities below this count as this in the graded cross-entropy."""

MAX_EPOCHS = 3_000
"""Training budget of the exercise (full-batch epochs), recorded by the training helper."""
FLOOR_ERROR = 0.03
"""About the lowest held-out error rate (1 - accuracy) the calibration's networks reach: a network whose
training error is below it fits its training digits better than any network reads new ones (overfitting)."""
ACCURACY_SPREAD = 0.015
"""The validation cell calls a network whose validation accuracy is this close to a mark "near the mark": the
validation digits are a different sample (299 of them) from the held-out ones, and have read about 0.01 easier."""

# What no honest network of the calibration's zoo reaches (1,680 trainings, docs/digits/calibration/zoo.csv): best
# held-out accuracy 0.980, lowest held-out cross-entropy 0.082, held-out accuracy at most 0.083 above validation.
# A network trained on scikit-learn's copy of the held-out digits reads them at about 0.998 and 0.02: flagged for
# the instructor, whose call it is (the grade is unchanged); tests/digits/test_checks.py holds both sides.
SUSPECT = "trained on the held-out digits (scikit-learn's copy)?"
ALERTS = (
    Alert("heldout_accuracy", f"held-out accuracy above every honest network's: {SUSPECT}", at_least=0.995),
    Alert("heldout_cross_entropy", f"held-out cross-entropy below every honest network's: {SUSPECT}", at_most=0.05),
    Alert("heldout_above_validation", f"held-out accuracy far above its own validation accuracy: {SUSPECT}", at_least=0.12),
)

DIGITS = GradedExercise(
    network="digit_classifier",
    example_input="digits_lesson.data.training_inputs",
    assess="digits_lesson.grading.assess_classifier",
    heldout_data="digits_lesson.data.heldout_split",
    metrics=(
        Metric("heldout_accuracy", "accuracy", spread=ACCURACY_SPREAD),
        Metric("heldout_cross_entropy", "cross-entropy"),
        Metric("train_accuracy", "training accuracy"),
        Metric("train_cross_entropy", "training cross-entropy"),
    ),
    marks=(
        Mark("just right", "heldout_accuracy", at_least=MIN_ACCURACY),
        Mark("just right", "heldout_cross_entropy", at_most=MAX_CROSS_ENTROPY),
        Mark("close", "heldout_accuracy", at_least=CLOSE_MIN_ACCURACY),
        Mark("close", "heldout_cross_entropy", at_most=CLOSE_CROSS_ENTROPY),
    ),
    alerts=ALERTS,
    diagnosis=Diagnosis(
        train="train_error_rate",
        heldout="heldout_error_rate",
        floor=FLOOR_ERROR,
        advice={
            "overfit": "The network is far more sure of its training digits than of new ones: it has memorised them "
            "(overfitting), and its confident mistakes cost a lot of cross-entropy. Train for fewer epochs, or use a "
            "smaller network.",
            "underfit": "It misreads many of the training digits too: the network is not flexible enough, not trained "
            "enough, or not trained on all of them. Train on all of `train.x`, give the hidden layer more units (a "
            "bottleneck of a few units loses the digits), or train for more epochs.",
        },
    ),
    heldout_sample="the held-out third of the digits (600, which you never receive)",
    validation_sample="the validation digits",
    max_epochs=MAX_EPOCHS,
)
