"""One verdict everywhere: the band and the words the grader, the notebook's validation cell and its rules all use.

A lesson's assessment returns metrics (``GradedExercise.assess``); :func:`assess` applies the exercise's marks to
them (``graded_networks.marks.band``) and writes the student's message. The notebook's public checks and validation
cells measure :func:`as_graded` of the student's model, which is exactly what the autograder measures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .epochs import over_budget
from .exercise import GradedExercise, Limits, load
from .marks import BANDS, band, marks_text, near_marks
from .networks import NotANetwork, SubmissionError, describe, rebuild

__all__ = ["BANDS", "Assessment", "SubmissionError", "as_graded", "assess", "graded_network", "judge", "regime", "rules"]

BAND_MEANING = {
    "close": "Close to just right (half of the hidden points).",
    "off": "Well away from just right (no hidden points).",
}


@dataclass
class Assessment:
    """The outcome of a hidden held-out assessment: its band, a message for the student, and numbers (data)."""

    message: str
    metrics: dict[str, float] = field(default_factory=dict)
    band: str = "off"
    """One of :data:`BANDS`."""
    regime: str | None = None
    """Below "just right": "underfit" or "overfit", what the advice is about (see :func:`regime`)."""

    @property
    def passed(self) -> bool:
        """Whether the model is "just right" (all the hidden points)."""
        return self.band == BANDS[-1]


def graded_network(name: str, description: dict | None) -> nn.Module:
    """The network that :func:`graded_networks.networks.describe` described, rebuilt from allowed operations.

    This is what the grading process grades: nothing the notebook did to its own kernel changes it.

    Raises:
        SubmissionError: the network is missing, was never described, or is not a plain fully
            connected network; the message says what to fix.
    """
    if description is None:
        raise SubmissionError(
            f"`{name}` could not be graded: the notebook stopped before any cell that mentions it ran "
            "(it crashed or ran out of time). Restart the kernel and run all cells to find the problem."
        )
    if not isinstance(description, dict):
        raise SubmissionError(str(description))
    if "error" in description:
        raise SubmissionError(str(description["error"]))
    try:
        return rebuild(description, name)
    except MemoryError:
        raise SubmissionError(f"`{name}` needs more memory to rebuild than the autograder has.") from None
    except (NotANetwork, KeyError, TypeError, ValueError, RuntimeError, RecursionError) as e:
        raise SubmissionError(str(e) if isinstance(e, NotANetwork) else f"`{name}` could not be rebuilt ({e}).") from None


def as_graded(model: object, example_input: torch.Tensor, name: str) -> nn.Module:
    """The network the autograder grades for ``model``: described as it leaves the kernel, then rebuilt.

    Raises:
        SubmissionError: ``model`` cannot be graded; the message says what to fix.
    """
    return graded_network(name, describe(model, example_input, name))


def regime(train_error: float, heldout_error: float, floor: float) -> str:
    """Which part of the excess error dominates: "overfit" (variance) or "underfit" (model bias).

    For a model fitted to its training points, held-out error = floor + bias + variance and training error =
    floor + bias - variance (the training points' own noise is partly fitted: the optimism of the training
    error), so variance = (held-out - training) / 2 and bias = (held-out + training) / 2 - floor. Variance
    dominates exactly when the training error is below the best possible (``floor``): the model fits noise.
    """
    variance = (heldout_error - train_error) / 2
    bias = (heldout_error + train_error) / 2 - floor
    return "overfit" if variance > bias else "underfit"


def judge(exercise: GradedExercise, metrics: Mapping[str, float], sample: str) -> Assessment:
    """The band ``metrics`` earn under the exercise's marks, and the message that says so: the numbers, the marks,
    the band and, below "just right", what the band means and what to change."""
    shown = ", ".join(f"{m.label} {m.show(metrics[m.key])}" for m in exercise.metrics if m.key in metrics)
    earned = band(metrics, exercise.marks)
    summary = f"On {sample}: {shown}. Marks: {marks_text(exercise.marks, exercise.metrics)}. Band: {earned}."
    if earned == BANDS[-1]:
        return Assessment(summary, dict(metrics), earned)
    words = [summary, BAND_MEANING[earned], exercise.band_hints.get(earned, "")]
    diagnosis, found = exercise.diagnosis, None
    if diagnosis is not None and diagnosis.train in metrics and diagnosis.heldout in metrics:
        floor = metrics.get(diagnosis.floor, 0.0) if isinstance(diagnosis.floor, str) else diagnosis.floor
        found = regime(metrics[diagnosis.train], metrics[diagnosis.heldout], floor)
        words.append(diagnosis.advice.get(found, ""))
    return Assessment(" ".join(w for w in words if w), dict(metrics), earned, found)


def measured(exercise: GradedExercise, network: nn.Module, *assess_args: Any) -> dict[str, float]:
    """The lesson's metrics of a rebuilt ``network`` (its training budget checked first).

    Raises:
        SubmissionError: the network is over its budget, or the assessment cannot measure it.
    """
    refused = over_budget(network, exercise.max_epochs, exercise.network)
    if refused:
        raise SubmissionError(refused)
    return dict(load(exercise.assess)(network, *assess_args))


def assess(exercise: GradedExercise, network: nn.Module, *assess_args: Any, sample: str | None = None) -> Assessment:
    """The hidden test's verdict on a rebuilt ``network``: its metrics (``assess_args`` go to the lesson's
    assessment: the held-out seed, and data), judged by the marks; a network that cannot be measured is "off"
    with the reason."""
    try:
        metrics = measured(exercise, network, *assess_args)
    except SubmissionError as e:
        return Assessment(str(e))
    return judge(exercise, metrics, sample or exercise.heldout_sample)


def checked(exercise: GradedExercise, model: object, example_input: torch.Tensor) -> nn.Module:
    """The graded network for the notebook's public check: as the autograder rebuilds it, within the budget.

    Raises:
        AssertionError: saying what to fix (otter's public tests report assertion errors).
    """
    try:
        network = as_graded(model, example_input, exercise.network)
    except SubmissionError as e:
        raise AssertionError(str(e)) from None
    refused = over_budget(network, exercise.max_epochs, exercise.network)
    assert refused is None, refused
    return network


INPUT_SCALINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "standardised (each column to mean 0 and SD 1)": lambda x: (x - x.mean(0)) / x.std(0).clamp_min(1e-8),
    "scaled to [0, 1] (each column)": lambda x: (x - x.amin(0)) / (x.amax(0) - x.amin(0)).clamp_min(1e-8),
    "divided by their largest value": lambda x: x / x.abs().max().clamp_min(1e-8),
}
"""The rescalings students commonly train on (a StandardScaler, a MinMaxScaler, ``x / x.max()``)."""


def check_inputs_as_given(
    network: nn.Module, x: torch.Tensor, error: Callable[[torch.Tensor], float], name: str, *, trained_below: float,
    margin: float, what: str = "error", more: Mapping[str, Callable[[torch.Tensor], torch.Tensor]] | None = None,
) -> None:  # fmt: skip
    """Refuse a network that, on a rescaling of its training inputs, looks trained (``error`` at most
    ``trained_below``: lower is better) and does far better (under half, and more than ``margin`` below) than on the
    inputs as the lesson gives them: it was trained on rescaled inputs, and the grader feeds it the lesson's.

    Both conditions matter: inputs scaled up make an undertrained honest network more confident, which can halve its
    cross-entropy (it still does not look trained), and a trained honest one even surer (it is no far better).

    Raises:
        AssertionError: naming the rescaling and saying to put it inside the network.
    """
    own = error(x)
    for words, rescale in {**INPUT_SCALINGS, **(more or {})}.items():
        rescaled = error(rescale(x))
        if rescaled <= trained_below and rescaled < 0.5 * own and own - rescaled > margin:
            raise AssertionError(
                f"`{name}` does far better on its training inputs {words} ({what} {rescaled:.3g}) than on the inputs "
                f"as the lesson gives them ({own:.3g}): it was trained on rescaled inputs. The autograder feeds it the "
                "inputs as the lesson gives them, so put the rescaling inside the network (for example "
                "`x = (x - self.mean) / self.std` first in forward, with the mean and SD as buffers) and train it again."
            )


def validate(exercise: GradedExercise, model: object, example_input: torch.Tensor, *assess_args: Any) -> Assessment:
    """Print what the hidden test would say about ``model``, measured on the exercise's validation sample
    (``assess_args`` go to the lesson's assessment, as the grader's do), and return it.

    The model is first described and rebuilt exactly as the autograder does, so a network the autograder would
    refuse is refused here too, with the same message.
    """
    try:
        network = as_graded(model, example_input, exercise.network)
    except SubmissionError as e:
        assessment = Assessment(str(e))
    else:
        assessment = assess(exercise, network, *assess_args, sample=exercise.validation_sample)
    verdict = "would pass" if assessment.passed else "would not pass"
    print(f"On {exercise.validation_sample}, this model {verdict} the hidden test (which measures on {exercise.heldout_sample}):")
    print(assessment.message)
    near = near_marks(assessment.metrics, exercise.marks, exercise.metrics)
    if near:
        print(
            f"Its {' and '.join(near)} is within the sampling spread of a mark: on {exercise.heldout_sample}, another "
            "sample, it may land in the band next to this one. A network further from the marks is graded as validated."
        )
    return assessment


LANGUAGE = (
    "graded: what the network computes: layers (`nn.Linear`), activations as layers or functions, dropout, batch or "
    "layer norm, reshapes that keep one row per sample (`x.view(len(x), -1)`), arithmetic with a constant, a buffer "
    "or a parameter (`x / 16`, `(x - self.mean) / self.std`) and sums of branches (residual connections); refused, "
    "with the line named: other layers (a convolution), products or powers of the input with itself, functions "
    "outside that list (such as `torch.sin`), `if`/`while` on tensor values."
)
"""What a graded network may compute, in words: the allow-list (``operations.py``, ``recognised.py``) as students
read it."""


def rules(exercise: GradedExercise, limits: Limits, *, check: str, outputs: str = "", sample_note: str = "", training: str = "") -> str:
    """How an exercise is graded, in Markdown, from the very settings the autograder grades with.

    The lesson gives the words only it can: what its public check asks (``check``), how a classifier's outputs are
    read (``outputs``, from ``graded_networks.outputs.STATED``), more about the held-out sample (``sample_note``) and
    any rule of training (``training``).
    """
    points = exercise.points()
    epochs = f"at most {exercise.max_epochs:,} epochs" if exercise.max_epochs else ""
    training_rule = "; ".join(part for part in (training, epochs) if part)
    lines = [
        f"**How `{exercise.network}` is graded** ({exercise.public_points + points[BANDS[-1]]} points; printed from the "
        "autograder's own settings):",
        "",
        f"- {exercise.public_points} point{'s' if exercise.public_points != 1 else ''} for the public check below: {check};",
        f"- the hidden test, on {exercise.heldout_sample}{sample_note}: {marks_text(exercise.marks, exercise.metrics, points)};",
    ]
    if training_rule:
        lines.append(f"- training: {training_rule};")
    lines += [
        f"- the autograder reruns the notebook from the top in at most {limits.time_s // 60} minutes "
        f"({limits.time_s} s) and {limits.memory_mb / 1024:g} GB of memory, skipping the cells that start "
        "with `# Demo:`; a cell that runs out of time is interrupted and what came before it is graded;",
        f"- {LANGUAGE}",
    ]
    if outputs:
        lines.append(f"- outputs: {outputs}.")
    return "\n".join(lines)
