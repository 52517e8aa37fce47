"""The lesson's measurements: held-out metrics, the public checks, the validation cells and the rules' own words.

The public checks (``check_*``) run in the student's notebook through ``grader.check``. The hidden assessments
(``assess_*``, named in ``exercises.py``) run in the autograder's own process (the grading engine's
``HeldOutGrading``), on held-out data drawn from the lesson's generating process with seeds that only the
autograder's configuration holds. They return metrics only: the engine applies the marks (``exercises.py``) and
writes the messages (``graded_networks.verdict``).
"""

from __future__ import annotations

import torch

from graded_networks import verdict
from graded_networks.networks import SubmissionError, evaluate
from graded_networks.outputs import STATED, binary_probabilities, ending

from .data import NOISE_SD, bayes_classifier, lesson_data, sample_classification, sample_regression
from .exercises import CLASSIFICATION, LIMITS, N_HELDOUT, REGRESSION

PROBABILITY_CLAMP = 1e-6
"""Probabilities are clamped to [1e-6, 1 - 1e-6] before the cross-entropy: one confident mistake
costs at most -log(1e-6) = 13.8 instead of infinity."""

VALIDATION_SEEDS = {"regression": 314_159, "classification": 271_828}
"""Public seeds of the notebook's validation sets: the same process, size and code as the hidden tests,
so students can measure their design before submitting; the autograder's seeds are different."""

REGRESSOR_NAME = REGRESSION.network
CLASSIFIER_NAME = CLASSIFICATION.network


def predict(model: object, x: torch.Tensor, name: str) -> torch.Tensor:
    """Evaluate ``model`` on ``x`` on the CPU and return one float64 prediction per row.

    Accepts outputs of shape ``(n, 1)`` or ``(n,)``, models in any float dtype, and models left on a
    GPU (a CPU copy is evaluated; the student's model is never modified).

    Raises:
        SubmissionError: with a message saying what to fix.
    """
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
    """The probability of class 1 per sample, read by the one stated rule (``graded_networks.outputs``): a network
    ending in a sigmoid outputs it, one ending in a linear layer a logit; two outputs are a class each."""
    out = evaluate(model, x, name)
    return binary_probabilities(out, ending(model, x, name), name)


def cross_entropy(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy of probabilities ``p`` for boolean labels ``y``, clamped (see above)."""
    p = p.clamp(PROBABILITY_CLAMP, 1 - PROBABILITY_CLAMP)
    y = y.double()
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def check_regressor(model: object) -> None:
    """Public check of the regression exercise. Raises ``AssertionError`` saying what to fix."""
    data = lesson_data()
    network = verdict.checked(REGRESSION, model, data.x_reg)
    try:
        pred = predict(network, data.x_reg, REGRESSOR_NAME)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    train_mse = ((pred - data.y_reg.double()) ** 2).mean().item()
    verdict.check_inputs_as_given(
        network, data.x_reg, lambda x: ((predict(network, x, REGRESSOR_NAME) - data.y_reg.double()) ** 2).mean().item(),
        REGRESSOR_NAME, what="MSE", trained_below=1.5 * NOISE_SD**2, margin=1.0,
    )
    # Any trained model should fit its training data about as well as the best straight line;
    # an untrained network can beat predicting the mean by luck, so that is no test of training.
    line_mse = _least_squares_line_mse(data.x_reg, data.y_reg)
    assert train_mse <= 1.1 * line_mse, (
        f"`{REGRESSOR_NAME}` has training MSE {train_mse:.2f}, worse than the best straight line "
        f"({line_mse:.2f}) on the inputs as the lesson gives them: it has not been trained (enough). Run the cell that trains it."
    )


def _least_squares_line_mse(x: torch.Tensor, y: torch.Tensor) -> float:
    design = torch.cat([x.double(), torch.ones_like(x, dtype=torch.float64)], dim=1)
    coef = torch.linalg.lstsq(design, y.double()[:, None]).solution
    return ((design @ coef).squeeze(1) - y.double()).pow(2).mean().item()


def check_classifier(model: object) -> None:
    """Public check of the classification exercise. Raises ``AssertionError`` saying what to fix."""
    data = lesson_data()
    network = verdict.checked(CLASSIFICATION, model, data.x_clf)
    try:
        p = predict_probabilities(network, data.x_clf, CLASSIFIER_NAME)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    train_ce = cross_entropy(p, data.y_clf).item()
    verdict.check_inputs_as_given(
        network, data.x_clf, lambda x: ((predict_probabilities(network, x, CLASSIFIER_NAME) > 0.5) != data.y_clf).double().mean().item(),
        CLASSIFIER_NAME, what="error rate", trained_below=0.3, margin=0.05,
    )
    # A trained classifier beats the constant that predicts the positive rate everywhere;
    # an untrained one outputs about 0.5 everywhere and does not.
    rate = data.y_clf.double().mean()
    baseline = cross_entropy(torch.full_like(p, rate.item()), data.y_clf).item()
    assert train_ce < baseline, (
        f"`{CLASSIFIER_NAME}` has training cross-entropy {train_ce:.3f}, no better than always predicting "
        f"the positive rate ({baseline:.3f}): it has not been trained. Run the cell that trains it."
    )


def assess_regressor(model: object, heldout_seed: int) -> dict[str, float]:
    """Hidden test of the regression exercise: held-out MSE inside the training x-range (and context)."""
    data = lesson_data()
    x, y = sample_regression(N_HELDOUT, torch.Generator().manual_seed(heldout_seed))
    train_pred = predict(model, data.x_reg, REGRESSOR_NAME)
    pred = predict(model, x, REGRESSOR_NAME)
    squared_error = (pred - y.double()) ** 2
    inside = (x[:, 0] >= data.x_reg.min()) & (x[:, 0] <= data.x_reg.max())
    return {
        "heldout_mse_in_range": squared_error[inside].mean().item(),
        "n_in_range": int(inside.sum()),
        "heldout_mse": squared_error.mean().item(),
        "train_mse": ((train_pred - data.y_reg.double()) ** 2).mean().item(),
        "noise_mse": NOISE_SD**2,
    }


def assess_classifier(model: object, heldout_seed: int) -> dict[str, float]:
    """Hidden test of the classification exercise: held-out accuracy and clamped cross-entropy (and context)."""
    data = lesson_data()
    x, y = sample_classification(N_HELDOUT, torch.Generator().manual_seed(heldout_seed))
    train_p = predict_probabilities(model, data.x_clf, CLASSIFIER_NAME)
    p = predict_probabilities(model, x, CLASSIFIER_NAME)
    return {
        "heldout_accuracy": ((p > 0.5) == y).double().mean().item(),
        "heldout_cross_entropy": cross_entropy(p, y).item(),
        "train_accuracy": ((train_p > 0.5) == data.y_clf).double().mean().item(),
        "train_cross_entropy": cross_entropy(train_p, data.y_clf).item(),
        "bayes_cross_entropy": cross_entropy(bayes_classifier(x).double(), y).item(),
    }


def validate_regressor(model: object) -> None:
    """Print what the hidden test would say about ``model``, measured on the public validation set.

    The model is first described and rebuilt exactly as the autograder does, so a network the autograder would
    refuse is refused here too, with the same message.
    """
    verdict.validate(REGRESSION, model, lesson_data().x_reg, VALIDATION_SEEDS["regression"])


def validate_classifier(model: object) -> None:
    """Print what the hidden test would say about ``model``, measured on the public validation set (see
    :func:`validate_regressor`)."""
    verdict.validate(CLASSIFICATION, model, lesson_data().x_clf, VALIDATION_SEEDS["classification"])


def rules(task: str) -> str:
    """How an exercise is graded, in Markdown, from the very settings the autograder grades with."""
    exercise = REGRESSION if task == "regression" else CLASSIFICATION
    check = (
        "the network exists, is a fully connected `torch.nn.Module`, takes the data's shape, returns one prediction "
        "per sample and was trained"
    )
    note = f" (the MSE counts those inside the training x-range; the noise alone gives {NOISE_SD**2:.1f})" if task == "regression" else ""
    outputs = f"to be read as the probability of class 1, {STATED}" if task == "classification" else ""
    return verdict.rules(exercise, LIMITS, check=check, outputs=outputs, sample_note=note)


def show_rules(task: str) -> None:
    """Display :func:`rules` in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(rules(task)))
