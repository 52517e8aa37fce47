"""What the autograder grades in this lesson, its pass marks and its limits: the one place each of them lives.

The master's config names these objects; the grading engine reads them before the notebook runs, so this module
imports no torch (the assessments in ``grading.py`` load afterwards).
"""

from graded_networks.exercise import Diagnosis, GradedExercise, Limits
from graded_networks.marks import Mark, Metric

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
# Classification has no "close" band (no mark for it): the calibration shows the single cut-off passes 99 % of
# reasonable trainings, and one of the lesson's overfit 6x50 trainings reaches a cross-entropy of 0.68, too near
# for a band above 0.65.

N_HELDOUT = 50_000
"""Held-out points per assessment (and per validation set): per-point squared error has SD ~7, so the standard error
of the MSE is ~0.03, small beside the 0.5 margin around the threshold."""
MAX_EPOCHS = 50_000
"""Training budget of each exercise (the lesson's longest demo), recorded by the training helpers."""

_BOTH = {
    "band_hints": {
        "close": "Often a good design with an unlucky initialisation or a slightly wrong number of epochs; try another "
        "seed or epoch count and check it with the notebook's validation cell."
    },
    "heldout_sample": f"{N_HELDOUT:,} new points from the same process",
    "validation_sample": f"the public validation set ({N_HELDOUT:,} other new points)",
    "max_epochs": MAX_EPOCHS,
}
"""What both exercises share: the same process, sample sizes and budget."""

REGRESSION = GradedExercise(
    network="just_right_regressor",
    example_input="fcnn_lesson.data.regression_inputs",
    assess="fcnn_lesson.grading.assess_regressor",
    metrics=(
        Metric("heldout_mse_in_range", "MSE inside the training x-range", 2),
        Metric("n_in_range", "points inside that range"),
        Metric("heldout_mse", "MSE over all points", 2),
        Metric("train_mse", "training MSE", 2),
        Metric("noise_mse", "MSE of the noise alone", 1),
    ),
    marks=(
        Mark("just right", "heldout_mse_in_range", at_most=REGRESSION_MAX_IN_RANGE_MSE),
        Mark("close", "heldout_mse_in_range", at_most=REGRESSION_CLOSE_IN_RANGE_MSE),
    ),
    diagnosis=Diagnosis(
        train="train_mse",
        heldout="heldout_mse_in_range",
        floor="noise_mse",
        advice={
            "overfit": "The model fits its training points far better than new ones: it memorises the noise "
            "(overfitting). Use fewer or narrower hidden layers, or fewer epochs.",
            "underfit": "The error is high on the training data too: the model is not flexible enough or not trained "
            "enough (model bias). Add a non-linearity and hidden units, or train for more epochs.",
        },
    ),
    **_BOTH,
)
CLASSIFICATION = GradedExercise(
    network="just_right_classifier",
    example_input="fcnn_lesson.data.classification_inputs",
    assess="fcnn_lesson.grading.assess_classifier",
    metrics=(
        Metric("heldout_accuracy", "accuracy"),
        Metric("heldout_cross_entropy", "cross-entropy"),
        Metric("train_accuracy", "training accuracy"),
        Metric("train_cross_entropy", "training cross-entropy"),
        Metric("bayes_cross_entropy", "cross-entropy of the true probabilities"),
    ),
    marks=(
        Mark("just right", "heldout_accuracy", at_least=CLASSIFICATION_MIN_ACCURACY),
        Mark("just right", "heldout_cross_entropy", at_most=CLASSIFICATION_MAX_CROSS_ENTROPY),
    ),
    diagnosis=Diagnosis(
        train="train_cross_entropy",
        heldout="heldout_cross_entropy",
        floor="bayes_cross_entropy",
        advice={
            "overfit": "The model is far more confident on its training points than on new ones: it memorised the "
            "training points, noisy labels included (overfitting). Use fewer or narrower hidden layers, or fewer epochs.",
            "underfit": "The model misclassifies many training points too: its decision boundary is not flexible "
            "enough or not trained enough (model bias). Add hidden units and a non-linearity, or train for more epochs.",
        },
    ),
    **_BOTH,
)
