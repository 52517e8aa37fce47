"""What the autograder grades in this lesson, its pass marks and its limits: the one place each of them lives.

The master's config names these objects; the grading engine reads them before the notebook runs, so this module
imports no torch (the assessments in ``grading.py`` load afterwards).
"""

from graded_networks.exercise import GradedExercise, Limits, Mark

LIMITS = Limits(time_s=480, memory_mb=1536)
"""This assignment's limits: the autograder enforces them and the notebook states them (``grading.rules``)."""

# ---------------------------------------------------------------------------------------------
# Pass marks: `make calibrate` measures them on a zoo of 3,000 trained models
# and docs/calibration.md shows the evidence. The hidden test grades in three bands:
# - "just right": all the hidden points;
# - "close": half of them. A good design with an unlucky initialisation lands here rather than at 0,
#   and a model that misses "just right" by a hair earns more than a straight line;
# - "off": none. The lesson's linear, underfit and overfit models all land here.
# Regression: held-out MSE restricted to the training x-range (a plain held-out MSE cannot separate
# good from overfit designs: good ReLU nets lose on the 1-3 % of points outside the training range).
# Classification: accuracy, and clamped cross-entropy, which catches the overconfident overfit net
# that accuracy alone misses.
# ---------------------------------------------------------------------------------------------
REGRESSION_MAX_IN_RANGE_MSE = 5.5
"""Just right: in-range held-out MSE at most this (the noise alone gives 4.0)."""
REGRESSION_CLOSE_IN_RANGE_MSE = 6.0
"""Close: at most this; the lesson's overfit 6x30 net scores 6.3-6.5, a straight line about 8."""
CLASSIFICATION_MIN_ACCURACY = 0.75
"""Both bands need this held-out accuracy; the lesson's underfit 2-2-1 net scores 0.725-0.736."""
CLASSIFICATION_MAX_CROSS_ENTROPY = 0.65
"""Just right: held-out cross-entropy at most this."""
CLASSIFICATION_CLOSE_CROSS_ENTROPY = CLASSIFICATION_MAX_CROSS_ENTROPY
"""Close: at most this. Equal to "just right", so classification has no close band: the calibration
shows the single cut-off passes 99 % of reasonable trainings, and one of the lesson's overfit 6x50
trainings reaches a cross-entropy of 0.68, too near for a band above 0.65."""


REGRESSION = GradedExercise(
    network="just_right_regressor",
    example_input="fcnn_lesson.data.regression_inputs",
    assess="fcnn_lesson.grading.assess_regressor",
    marks=(
        Mark("heldout_mse_in_range", "just right", "max", REGRESSION_MAX_IN_RANGE_MSE),
        Mark("heldout_mse_in_range", "close", "max", REGRESSION_CLOSE_IN_RANGE_MSE),
    ),
)
CLASSIFICATION = GradedExercise(
    network="just_right_classifier",
    example_input="fcnn_lesson.data.classification_inputs",
    assess="fcnn_lesson.grading.assess_classifier",
    marks=(
        Mark("heldout_accuracy", "just right", "min", CLASSIFICATION_MIN_ACCURACY),
        Mark("heldout_cross_entropy", "just right", "max", CLASSIFICATION_MAX_CROSS_ENTROPY),
    ),
)
