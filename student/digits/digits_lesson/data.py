"""The lesson's data: scikit-learn's 8x8 handwritten digits, split once, for good, into three parts.

scikit-learn ships 1,797 digits (0-9, 8x8 pixels, values 0-16) inside its package. :func:`split` divides them
by class with a fixed, public seed (:data:`SPLIT_SEED`): half for training, a sixth for validation, a third held
out. The training and validation parts are the student's (``digits.npz``, committed and handed out); the held-out
third goes only into the autograder's zip (``heldout_split``, run by otter assign) and is never written to a file,
to git or to the student's folder. Regrades measure the same 600 digits every time.

The grading image does without scikit-learn: a copy there would put all 1,797 digits where the notebook can read
them. Where grading runs beside a copy (here, where the build needs it), the kernel sees its data folder empty
(``exercises.LIMITS.hidden``). The student's environment does not need it either. What the split cannot stop:
the digits are public, and a notebook could carry a copy of them typed in; that would be plain cheating.
"""

from __future__ import annotations

import base64
import pathlib
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import torch  # imported on use: the engine reads this package before the notebook runs

SPLIT_SEED = 20_260_101
"""The split's seed: fixed and public, so the split is the same on every build and every regrade."""
FRACTIONS = {"train": 1 / 2, "validation": 1 / 6}
"""Of each class: the rest (a third) is held out."""
N_PIXELS, N_CLASSES, MAX_PIXEL = 64, 10, 16.0
HANDED_OUT = pathlib.Path(__file__).with_name("digits.npz")
"""The student's parts (training and validation), as the build wrote them from :func:`split`."""


class Split(NamedTuple):
    """Pixel values 0-16 (``uint8``, one row of 64 per digit) and labels 0-9, for each part."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_validation: np.ndarray
    y_validation: np.ndarray
    x_heldout: np.ndarray
    y_heldout: np.ndarray


def split() -> Split:
    """Split scikit-learn's digits (instructor side: needs scikit-learn)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = digits.data.astype(np.uint8), digits.target.astype(np.uint8)
    rng = np.random.default_rng(SPLIT_SEED)
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "heldout": []}
    for label in range(N_CLASSES):
        index = rng.permutation(np.flatnonzero(y == label))
        n_train = round(len(index) * FRACTIONS["train"])
        n_validation = round(len(index) * FRACTIONS["validation"])
        parts["train"].append(index[:n_train])
        parts["validation"].append(index[n_train : n_train + n_validation])
        parts["heldout"].append(index[n_train + n_validation :])
    chosen = {name: np.sort(np.concatenate(index)) for name, index in parts.items()}
    return Split(*(a for name in ("train", "validation", "heldout") for a in (x[chosen[name]], y[chosen[name]])))


def write_handed_out(path: pathlib.Path = HANDED_OUT) -> None:
    """Write the student's parts (``python -m digits_lesson.data``); a test checks the file matches :func:`split`."""
    s = split()
    np.savez_compressed(path, x_train=s.x_train, y_train=s.y_train, x_validation=s.x_validation, y_validation=s.y_validation)


def heldout_split() -> dict[str, str]:
    """The held-out third, as JSON for the autograder's configuration (``GradedExercise.heldout_data``)."""
    s = split()
    return {"x": base64.b64encode(s.x_heldout.tobytes()).decode(), "y": base64.b64encode(s.y_heldout.tobytes()).decode()}


class Digits(NamedTuple):
    """A part of the data as the network sees it: ``x`` float32 ``(n, 64)`` scaled to [0, 1], ``y`` int64 ``(n,)``."""

    x: torch.Tensor
    y: torch.Tensor


def as_tensors(pixels: np.ndarray, labels: np.ndarray) -> Digits:
    """Pixels 0-16 and labels as the tensors the lesson trains on."""
    import torch

    x = torch.from_numpy(pixels.reshape(-1, N_PIXELS).astype(np.float32) / MAX_PIXEL)
    return Digits(x, torch.from_numpy(labels.astype(np.int64)))


def load(part: str) -> Digits:
    """The student's ``"train"`` or ``"validation"`` part, from the handed-out file."""
    with np.load(HANDED_OUT) as f:
        return as_tensors(f[f"x_{part}"], f[f"y_{part}"])


def training_inputs() -> torch.Tensor:
    """The inputs the graded network is described on (``GradedExercise.example_input``)."""
    return load("train").x


def decode_heldout(data: dict[str, str]) -> Digits:
    """The held-out third, from what :func:`heldout_split` put in the autograder's configuration."""
    x = np.frombuffer(base64.b64decode(data["x"]), dtype=np.uint8)
    y = np.frombuffer(base64.b64decode(data["y"]), dtype=np.uint8)
    return as_tensors(x.copy(), y.copy())


if __name__ == "__main__":
    write_handed_out()
    print(f"wrote {HANDED_OUT}")
