"""The lesson's measurements: the held-out metrics, the public check, the validation cell and the rules' own words.

The public check (``check_classifier``) runs in the student's notebook through ``grader.check``. The hidden
assessment (``assess_classifier``, named in ``exercises.py``) runs in the autograder's own process (the grading
engine's ``HeldOutGrading``) on the held-out third of the digits, which only the autograder's configuration holds,
and returns metrics: the engine applies the marks (``exercises.py``) and writes the messages. The validation cell
runs the very same assessment on the handed-out validation part.
"""

from __future__ import annotations

import math

import torch

from graded_networks import verdict
from graded_networks.networks import SubmissionError, evaluate
from graded_networks.outputs import STATED, class_log_probabilities, ending

from .data import N_CLASSES, Digits, decode_heldout, load
from .exercises import CROSS_ENTROPY_CLAMP, DIGITS, LIMITS

NAME = DIGITS.network


def predict_log_probabilities(model: object, x: torch.Tensor) -> torch.Tensor:
    """Each digit's log-probabilities over the 10 classes (float64, on the CPU), from logits or probabilities.

    Raises:
        SubmissionError: with a message saying what to fix.
    """
    out = evaluate(model, x, NAME)
    if tuple(out.shape) != (x.shape[0], N_CLASSES):
        raise SubmissionError(
            f"`{NAME}` returned {tuple(out.shape)} for {x.shape[0]} digits; it must return one score per class, "
            f"shape ({x.shape[0]}, {N_CLASSES}). Check the last layer's out_features (it should be {N_CLASSES})."
        )
    if not torch.isfinite(out).all():
        raise SubmissionError(f"`{NAME}` returned NaN or infinite values: its training diverged. Lower the learning rate.")
    return class_log_probabilities(out, ending(model, x, NAME), NAME)


def measure(model: object, data: Digits) -> tuple[float, float]:
    """Accuracy and mean cross-entropy (clamped, see ``exercises.CROSS_ENTROPY_CLAMP``) of ``model`` on ``data``."""
    log_p = predict_log_probabilities(model, data.x)
    accuracy = (log_p.argmax(dim=1) == data.y).double().mean().item()
    log_p_true = log_p[torch.arange(len(data.y)), data.y].clamp(min=math.log(CROSS_ENTROPY_CLAMP))
    return accuracy, -log_p_true.mean().item()


def check_classifier(model: object) -> None:
    """Public check. Raises ``AssertionError`` saying what to fix."""
    train = load("train")
    network = verdict.checked(DIGITS, model, train.x)
    try:
        accuracy, entropy = measure(network, train)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    verdict.check_inputs_as_given(
        network, train.x, lambda x: measure(network, Digits(x, train.y))[1], NAME, what="cross-entropy", trained_below=0.1,
        margin=0.3, more={"in raw pixel values (0 to 16)": lambda x: x * 16},
    )
    # An untrained network guesses: accuracy about 0.1 and cross-entropy about log(10) = 2.3.
    assert accuracy >= 0.5, (
        f"`{NAME}` reads {accuracy:.2f} of its training digits right, about what guessing gives (0.1): it has not "
        "been trained (enough). Run the cell that trains it."
    )
    assert entropy < math.log(N_CLASSES) / 2, (
        f"`{NAME}` reads {accuracy:.2f} of its training digits right, yet gives the true digit a low probability "
        f"(cross-entropy {entropy:.2f}): its outputs, read by how the network ends ({STATED}), do not say how sure it "
        "is. Check that its last layer matches the loss it was trained with."
    )


def metrics(model: object, heldout: Digits) -> dict[str, float]:
    """Accuracy and cross-entropy of ``model`` on ``heldout`` and on its training digits."""
    train_accuracy, train_entropy = measure(model, load("train"))
    accuracy, entropy = measure(model, heldout)
    return {
        "heldout_accuracy": accuracy,
        "heldout_cross_entropy": entropy,
        "train_accuracy": train_accuracy,
        "train_cross_entropy": train_entropy,
        "heldout_error_rate": 1 - accuracy,
        "train_error_rate": 1 - train_accuracy,
    }


def assess_classifier(model: object, heldout_seed: int, heldout_data: dict | None = None) -> dict[str, float]:
    """Hidden test: the held-out third of the digits (``heldout_seed`` is unused: the split is fixed). Without
    ``heldout_data`` (the validation cell), the validation digits."""
    if heldout_data is None:  # the validation cell
        return metrics(model, load("validation"))
    measured = metrics(model, decode_heldout(heldout_data))
    validation_accuracy, _ = measure(model, load("validation"))  # for the instructor's alerts, not the grade
    return {**measured, "heldout_above_validation": measured["heldout_accuracy"] - validation_accuracy}


def validate_classifier(model: object) -> None:
    """Print what the hidden test would say about ``model``, measured on the validation digits.

    The network is first described and rebuilt exactly as the autograder does, so one the autograder would
    refuse is refused here too, with the same message.
    """
    verdict.validate(DIGITS, model, load("train").x, 0)


def rules() -> str:
    """How the exercise is graded, in Markdown, from the very settings the autograder grades with."""
    return verdict.rules(
        DIGITS,
        LIMITS,
        check=f"the network exists, is a fully connected `torch.nn.Module`, takes 64 pixels per digit, returns {N_CLASSES} "
        "scores per digit (logits or probabilities) and was trained",
        sample_note=f"; in the cross-entropy a probability below {CROSS_ENTROPY_CLAMP} for the true digit counts as "
        f"{CROSS_ENTROPY_CLAMP}",
        training="on the training digits only (the digits are public: the split keeps the held-out score a fair "
        "estimate, and training on scikit-learn's copy of the held-out digits is cheating, which no split can prevent)",
        outputs=f"read by how the network ends: {STATED}",
    )


def show_rules() -> None:
    """Display :func:`rules` in the notebook."""
    from IPython.display import Markdown, display

    display(Markdown(rules()))
