"""One rule for reading a classifier's outputs, the same in the training helpers, the checks and the grader.

What a network's outputs are is read from **how it ends** (its last operation that is not a reshape or dropout),
never guessed from their values:

- ``nn.Sigmoid`` (one output) or ``nn.Softmax`` (one per class): probabilities;
- ``nn.LogSigmoid`` or ``nn.LogSoftmax``: log-probabilities;
- ``nn.Linear`` (or a constant scaling of it): logits, read through a sigmoid (one output) or a softmax (one per
  class), as ``BCEWithLogitsLoss`` and ``CrossEntropyLoss`` read them in training.

A binary classifier may have one output (the probability of class 1) or two (a class each: class 1's softmax).
Any other ending (a ReLU, a tanh, a sigmoid over several classes) is none of these, and is refused by name.
"""

from __future__ import annotations

import torch

from .errors import SubmissionError
from .networks import GraphNetwork, describe

PASS_THROUGH = {"identity", "flatten", "squeeze", "unsqueeze", "reshape", "select", "affine"}
"""Operations that leave what an output is unchanged (``affine``: a temperature, a constant shift of logits)."""
ONE_OUTPUT = {"sigmoid": "probabilities", "logsigmoid": "log-probabilities", "linear": "logits"}
PER_CLASS = {"softmax": "probabilities", "log_softmax": "log-probabilities", "linear": "logits"}
STATED = (
    "end it in nn.Sigmoid() (one output: the probability of class 1), nn.Softmax(dim=1) (one probability per class), "
    "their log versions, or a plain nn.Linear layer (logits)"
)
"""The rule, in the words the messages and the rules text use."""
CLAMP = 1e-6


def ending(network: object, example_input: torch.Tensor, name: str) -> str:
    """The last operation of ``network`` that says what its outputs are (see :data:`PASS_THROUGH`).

    Raises:
        SubmissionError: ``network`` cannot be described (the message says why).
    """
    description = network.description if isinstance(network, GraphNetwork) else describe(network, example_input, name)
    if "error" in description:
        raise SubmissionError(str(description["error"]))
    nodes, i = description["nodes"], description["output"]
    while nodes[i]["op"] in PASS_THROUGH:
        i = nodes[i]["inputs"][0]
    return nodes[i]["op"]


def _neither(name: str, op: str, columns: int) -> SubmissionError:
    shown = "its input" if op == "input" else f"a {op}"
    return SubmissionError(
        f"`{name}` ends in {shown} with {columns} output(s) per sample: by the stated rule these are neither "
        f"probabilities, log-probabilities nor logits. To be graded, {STATED}."
    )


def class_log_probabilities(out: torch.Tensor, op: str, name: str) -> torch.Tensor:
    """Each row's log-probabilities over the classes (one column each), from outputs of a network ending in ``op``."""
    kind = PER_CLASS.get(op)
    if kind is None or out.dim() != 2 or out.shape[1] < 2:
        raise _neither(name, op, out.shape[1] if out.dim() == 2 else 1)
    if kind == "probabilities":
        return out.clamp(min=CLAMP).log()
    return out if kind == "log-probabilities" else torch.log_softmax(out, dim=1)


def binary_probabilities(out: torch.Tensor, op: str, name: str) -> torch.Tensor:
    """The probability of class 1 per row, from the outputs of a network ending in ``op``: one output (shape ``(n,)``
    or ``(n, 1)``) or two (a class each)."""
    if out.dim() == 2 and out.shape[1] == 2:
        return class_log_probabilities(out, op, name)[:, 1].exp()
    if out.dim() > 2 or out.dim() == 2 and out.shape[1] != 1:
        raise SubmissionError(
            f"`{name}` returned {tuple(out.shape)}; a binary classifier returns one output per sample (shape (n, 1) or "
            "(n,)) or two (one per class, shape (n, 2))."
        )
    kind = ONE_OUTPUT.get(op)
    if kind is None:
        raise _neither(name, op, 1)
    z = out.reshape(-1)
    return z if kind == "probabilities" else z.exp() if kind == "log-probabilities" else torch.sigmoid(z)


def binary_cross_entropy(out: torch.Tensor, y: torch.Tensor, op: str, name: str) -> torch.Tensor:
    """The training loss of a binary classifier ending in ``op``, by the same rule: what ``BCELoss``,
    ``BCEWithLogitsLoss`` or ``CrossEntropyLoss`` computes for its ending."""
    import torch.nn.functional as F

    if out.dim() == 2 and out.shape[1] == 2:
        return F.nll_loss(class_log_probabilities(out, op, name), y.long())
    kind = ONE_OUTPUT.get(op)
    if kind is None or out.dim() > 2 or out.dim() == 2 and out.shape[1] != 1:
        raise _neither(name, op, out.shape[1] if out.dim() == 2 else 1)
    z, target = out.reshape(-1), y.to(out.dtype)
    if kind == "logits":
        return F.binary_cross_entropy_with_logits(z, target)
    return F.binary_cross_entropy(z if kind == "probabilities" else z.exp(), target)
