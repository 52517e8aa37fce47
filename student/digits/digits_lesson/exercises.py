"""What the autograder grades in this lesson, its pass marks and its limits: the one place each of them lives.

The master's config names these objects; the grading engine reads them before the notebook runs, so this module
imports no torch. ``make calibrate A=digits`` measures the marks on a zoo of trainings (docs/digits/calibration.md).
"""

from graded_networks.exercise import GradedExercise, Limits, Mark

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

DIGITS = GradedExercise(
    network="digit_classifier",
    example_input="digits_lesson.data.training_inputs",
    assess="digits_lesson.grading.assess_classifier",
    heldout_data="digits_lesson.data.heldout_split",
    marks=(
        Mark("heldout_accuracy", "just right", "min", MIN_ACCURACY),
        Mark("heldout_cross_entropy", "just right", "max", MAX_CROSS_ENTROPY),
        Mark("heldout_accuracy", "close", "min", CLOSE_MIN_ACCURACY),
        Mark("heldout_cross_entropy", "close", "max", CLOSE_CROSS_ENTROPY),
    ),
)
