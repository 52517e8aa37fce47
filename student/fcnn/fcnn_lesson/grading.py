"""Grading logic: the thresholds, held-out metrics and the checks behind every test.

The public checks (``check_*``) run in the student's notebook through ``grader.check``. The hidden
assessments (``assess_*``, named in ``exercises.py``) run in the autograder's own process (the grading
engine's ``HeldOutGrading``), on held-out data drawn from the lesson's generating process with seeds that
only the autograder's configuration holds.
"""

from __future__ import annotations

import torch

from graded_networks.networks import evaluate
from graded_networks.verdict import BANDS, Assessment, SubmissionError, as_graded, check_epoch_budget, regime

from .data import NOISE_SD, bayes_classifier, lesson_data, sample_classification, sample_regression
from .exercises import (
    CLASSIFICATION,
    CLASSIFICATION_CLOSE_CROSS_ENTROPY,
    CLASSIFICATION_MAX_CROSS_ENTROPY,
    CLASSIFICATION_MIN_ACCURACY,
    LIMITS,
    REGRESSION,
    REGRESSION_CLOSE_IN_RANGE_MSE,
    REGRESSION_MAX_IN_RANGE_MSE,
)

PROBABILITY_CLAMP = 1e-6
"""Probabilities are clamped to [1e-6, 1 - 1e-6] before the cross-entropy: one confident mistake
costs at most -log(1e-6) = 13.8 instead of infinity."""

N_HELDOUT = 50_000
"""Held-out points per assessment: per-point squared error has SD ~7, so the standard error of the
MSE is ~0.03, small beside the 0.5 margin around the threshold."""

MAX_EPOCHS = 50_000
"""Training budget of each exercise (the lesson's longest demo), recorded by the training helpers."""


VALIDATION_SEEDS = {"regression": 314_159, "classification": 271_828}
"""Public seeds of the notebook's validation sets: the same process, size and code as the hidden tests,
so students can measure their design before submitting; the autograder's seeds are different."""

REGRESSOR_NAME = REGRESSION.network
CLASSIFIER_NAME = CLASSIFICATION.network

PUBLIC_POINTS = 1
"""The public check's points (its test config in the master notebook says the same; a test checks it)."""
HIDDEN_CASE_POINTS = 2
"""Each hidden case's points: a band earns as many cases as its index in :data:`BANDS`."""


def predict(model: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """Evaluate ``model`` on ``x`` on the CPU and return one float64 prediction per row.

    Accepts outputs of shape ``(n, 1)`` or ``(n,)``, models in any float dtype, and models left on a
    GPU (a CPU copy is evaluated; the student's model is never modified).

    Raises:
        SubmissionError: with a message saying what to fix.
    """
    check_epoch_budget(model, MAX_EPOCHS, name)
    out = evaluate(model, x, name)
    n = x.shape[0]
    if tuple(out.shape) not in {(n,), (n, 1)}:
        shape = tuple(out.shape)
        raise SubmissionError(
            f"`{name}` returned {shape} for {n} samples; it must return one prediction per sample, "
            f"shape ({n}, 1) or ({n},). Check the last layer's out_features (it should be 1)."
        )
    return out.reshape(-1)


def predict_probabilities(model: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """Like :func:`predict`, but also requires outputs in [0, 1] (a classifier ending in a sigmoid)."""
    p = predict(model, x, name)
    if p.min() < 0 or p.max() > 1:
        raise SubmissionError(
            f"`{name}` outputs values outside [0, 1] (from {p.min():.3g} to {p.max():.3g}); it must output "
            "the probability that y = 1. End the network with nn.Sigmoid()."
        )
    return p


def cross_entropy(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of probabilities ``p`` for boolean labels ``y``, clamped (see above)."""
    p = p.clamp(PROBABILITY_CLAMP, 1 - PROBABILITY_CLAMP)
    y = y.double()
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def check_regressor(model: object) -> None:
    """Public check of the regression exercise. Raises ``AssertionError`` saying what to fix."""
    data = lesson_data()
    try:
        network = as_graded(model, data.x_reg, REGRESSOR_NAME)
        pred = predict(network, data.x_reg, REGRESSOR_NAME)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    train_mse = ((pred - data.y_reg.double()) ** 2).mean().item()
    # Any trained model should fit its training data about as well as the best straight line;
    # an untrained network can beat predicting the mean by luck, so that is no test of training.
    line_mse = _least_squares_line_mse(data.x_reg, data.y_reg)
    assert train_mse <= 1.1 * line_mse, (
        f"`{REGRESSOR_NAME}` has training MSE {train_mse:.2f}, worse than the best straight line "
        f"({line_mse:.2f}): it has not been trained (enough). Run the cell that trains it."
    )


def _least_squares_line_mse(x: torch.Tensor, y: torch.Tensor) -> float:
    design = torch.cat([x.double(), torch.ones_like(x, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(design, y.double()[:, None]).solution
    return ((design @ coef).squeeze(1) - y.double()).pow(2).mean().item()


def check_classifier(model: object) -> None:
    """Public check of the classification exercise. Raises ``AssertionError`` saying what to fix."""
    data = lesson_data()
    try:
        network = as_graded(model, data.x_clf, CLASSIFIER_NAME)
        p = predict_probabilities(network, data.x_clf, CLASSIFIER_NAME)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    train_ce = cross_entropy(p, data.y_clf).item()
    # A trained classifier beats the constant that predicts the positive rate everywhere;
    # an untrained one outputs about 0.5 everywhere and does not.
    rate = data.y_clf.double().mean()
    baseline = cross_entropy(torch.full_like(p, rate.item()), data.y_clf).item()
    assert train_ce < baseline, (
        f"`{CLASSIFIER_NAME}` has training cross-entropy {train_ce:.3f}, no better than always predicting "
        f"the positive rate ({baseline:.3f}): it has not been trained. Run the cell that trains it."
    )


def assess_regressor(model: object, heldout_seed: int) -> Assessment:
    """Hidden test of the regression exercise: held-out MSE inside the training x-range."""
    data = lesson_data()
    x, y = sample_regression(N_HELDOUT, torch.Generator().manual_seed(heldout_seed))
    try:
        train_pred = predict(model, data.x_reg, REGRESSOR_NAME)
        pred = predict(model, x, REGRESSOR_NAME)
    except SubmissionError as e:
        return Assessment(str(e))
    squared_error = (pred - y.double()) ** 2
    inside = (x[:, 0] >= data.x_reg.min()) & (x[:, 0] <= data.x_reg.max())
    metrics = {
        "heldout_mse_in_range": squared_error[inside].mean().item(),
        "heldout_mse": squared_error.mean().item(),
        "train_mse": ((train_pred - data.y_reg.double()) ** 2).mean().item(),
        "n_in_range": int(inside.sum()),
    }
    mse = metrics["heldout_mse_in_range"]
    band = BANDS[2] if mse <= REGRESSION_MAX_IN_RANGE_MSE else BANDS[1] if mse <= REGRESSION_CLOSE_IN_RANGE_MSE else BANDS[0]
    summary = (
        f"Held-out MSE on {metrics['n_in_range']:,} new points inside the training x-range: {mse:.2f} "
        f"(just right at <= {REGRESSION_MAX_IN_RANGE_MSE}, close at <= {REGRESSION_CLOSE_IN_RANGE_MSE}; the noise "
        f"alone gives {NOISE_SD**2:.1f}). Over all {N_HELDOUT:,} held-out points: {metrics['heldout_mse']:.2f}. "
        f"Training MSE: {metrics['train_mse']:.2f}."
    )
    regime_ = regime(metrics["train_mse"], mse, NOISE_SD**2)
    return _assessment(summary, metrics, band, regime_, _REGRESSION_ADVICE[regime_])


def _assessment(summary: str, metrics: dict[str, float], band: str, regime: str, advice: str) -> Assessment:
    """The message names the band; below "just right" it says what the band means and what to change."""
    if band == BANDS[-1]:
        return Assessment(f"{summary} Band: {band}.", metrics, band)
    return Assessment(f"{summary} Band: {band}. {_BAND_MEANING[band]} {advice}", metrics, band, regime)


_BAND_MEANING = {
    "close": "Close to just right (half of the hidden points): often a good design with an unlucky "
    "initialisation or a slightly wrong number of epochs; try another seed or epoch count and check it with "
    "the notebook's validation cell.",
    "off": "Well away from just right (no hidden points).",
}


def assess_classifier(model: object, heldout_seed: int) -> Assessment:
    """Hidden test of the classification exercise: held-out accuracy and clamped cross-entropy."""
    data = lesson_data()
    x, y = sample_classification(N_HELDOUT, torch.Generator().manual_seed(heldout_seed))
    try:
        train_p = predict_probabilities(model, data.x_clf, CLASSIFIER_NAME)
        p = predict_probabilities(model, x, CLASSIFIER_NAME)
    except SubmissionError as e:
        return Assessment(str(e))
    metrics = {
        "heldout_accuracy": ((p > 0.5) == y).double().mean().item(),
        "heldout_cross_entropy": cross_entropy(p, y).item(),
        "train_accuracy": ((train_p > 0.5) == data.y_clf).double().mean().item(),
        "train_cross_entropy": cross_entropy(train_p, data.y_clf).item(),
        "bayes_cross_entropy": cross_entropy(bayes_classifier(x).double(), y).item(),
    }
    accuracy, entropy = metrics["heldout_accuracy"], metrics["heldout_cross_entropy"]
    if accuracy < CLASSIFICATION_MIN_ACCURACY or entropy > CLASSIFICATION_CLOSE_CROSS_ENTROPY:
        band = BANDS[0]
    else:
        band = BANDS[2] if entropy <= CLASSIFICATION_MAX_CROSS_ENTROPY else BANDS[1]
    summary = (
        f"Held-out accuracy on {N_HELDOUT:,} new points: {accuracy:.3f} (needs >= {CLASSIFICATION_MIN_ACCURACY}); "
        f"held-out cross-entropy: {entropy:.3f} (needs <= {CLASSIFICATION_MAX_CROSS_ENTROPY}). "
        f"Training accuracy: {metrics['train_accuracy']:.3f}, training cross-entropy: "
        f"{metrics['train_cross_entropy']:.3f} (the true probabilities score {metrics['bayes_cross_entropy']:.3f} on new points)."
    )
    regime_ = regime(metrics["train_cross_entropy"], entropy, metrics["bayes_cross_entropy"])
    return _assessment(summary, metrics, band, regime_, _CLASSIFICATION_ADVICE[regime_])


def validate_regressor(model: object) -> None:
    """Print what the hidden test would say about ``model``, measured on the public validation set.

    The model is first described and rebuilt exactly as the autograder does (see :func:`as_graded`), so a
    network the autograder would refuse is refused here too, with the same message.
    """
    _validate(model, lesson_data().x_reg, REGRESSOR_NAME, assess_regressor, VALIDATION_SEEDS["regression"])


def validate_classifier(model: object) -> None:
    """Print what the hidden test would say about ``model``, measured on the public validation set (see
    :func:`validate_regressor`)."""
    _validate(model, lesson_data().x_clf, CLASSIFIER_NAME, assess_classifier, VALIDATION_SEEDS["classification"])


def _validate(model: object, example_input: torch.Tensor, name: str, assess, seed: int) -> None:
    try:
        network = as_graded(model, example_input, name)
    except SubmissionError as e:
        _print_validation(Assessment(str(e)))
        return
    _print_validation(assess(network, seed))


def _print_validation(assessment: Assessment) -> None:
    verdict = "would pass" if assessment.passed else "would not pass"
    print(f"On the public validation set, this model {verdict} the hidden test (which uses other new points):")
    print(assessment.message)


_REGRESSION_ADVICE = {
    "overfit": "The model fits its training points far better than new ones: it memorises the noise "
    "(overfitting). Use fewer or narrower hidden layers, or fewer epochs.",
    "underfit": "The error is high on the training data too: the model is not flexible enough or not trained "
    "enough (model bias). Add a non-linearity and hidden units, or train for more epochs.",
}
_CLASSIFICATION_ADVICE = {
    "overfit": "The model is far more confident on its training points than on new ones: it memorised the "
    "training points, noisy labels included (overfitting). Use fewer or narrower hidden layers, or fewer epochs.",
    "underfit": "The model misclassifies many training points too: its decision boundary is not flexible "
    "enough or not trained enough (model bias). Add hidden units and a non-linearity, or train for more epochs.",
}


def rules(task: str) -> str:
    """How an exercise is graded, in Markdown, from the very settings the autograder grades with."""
    points = {band: i * HIDDEN_CASE_POINTS for i, band in enumerate(BANDS)}
    if task == "regression":
        name = REGRESSOR_NAME
        marks = (
            f"held-out MSE over the new points inside the training x-range: **just right** at most "
            f"{REGRESSION_MAX_IN_RANGE_MSE} ({points['just right']} points), **close** at most "
            f"{REGRESSION_CLOSE_IN_RANGE_MSE} ({points['close']} points), **off** above ({points['off']}); the noise alone "
            f"gives {NOISE_SD**2:.1f}"
        )
    else:
        name = CLASSIFIER_NAME
        close = (
            f"; **close** with a cross-entropy at most {CLASSIFICATION_CLOSE_CROSS_ENTROPY} ({points['close']} points)"
            if CLASSIFICATION_CLOSE_CROSS_ENTROPY > CLASSIFICATION_MAX_CROSS_ENTROPY
            else ""
        )
        marks = (
            f"held-out accuracy at least {CLASSIFICATION_MIN_ACCURACY} and held-out cross-entropy at most "
            f"{CLASSIFICATION_MAX_CROSS_ENTROPY}: **just right** ({points['just right']} points){close}; otherwise "
            f"**off** ({points['off']})"
        )
    return "\n".join(
        [
            f"**How `{name}` is graded** ({PUBLIC_POINTS + points['just right']} points; printed from the autograder's own settings):",
            "",
            f"- {PUBLIC_POINTS} point for the public check below: the network exists, is a fully connected "
            "`torch.nn.Module`, takes the data's shape, returns one prediction per sample and was trained;",
            f"- the hidden test, on {N_HELDOUT:,} new points from the same process: {marks};",
            f"- training: at most {MAX_EPOCHS:,} epochs;",
            f"- the autograder reruns the notebook from the top in at most {LIMITS.time_s // 60} minutes "
            f"({LIMITS.time_s} s) and {LIMITS.memory_mb / 1024:g} GB of memory, skipping the cells that start "
            "with `# Demo:`; a cell that runs out of time is interrupted and what came before it is graded;",
            "- graded: what the network computes (layers, activations as layers or functions, dropout, batch or layer "
            "norm, reshapes that keep one row per sample); refused, with the line named: other layers (a convolution), "
            "arithmetic on tensors (such as `torch.sin(3 * x)`), `if`/`while` on tensor values.",
        ]
    )


def show_rules(task: str) -> None:
    """Display :func:`rules` in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(rules(task)))
