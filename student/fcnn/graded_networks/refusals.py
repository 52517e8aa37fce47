"""A refusal that names what a traced network computes and the line of the student's code that computes it."""

from __future__ import annotations

import pathlib
import traceback

import torch
from torch import fx

from .errors import NotANetwork


def where(stack: str | None) -> str:
    """``line 7 (`return self.out(3 * x)`)``: the innermost line outside torch of a traced operation."""
    torch_dir = str(pathlib.Path(torch.__file__).parent)
    engine_dir = str(pathlib.Path(__file__).parent)
    frames = [  # not torch's lines, nor the engine's tracer
        f for f in traceback.StackSummary.from_list(parse_stack(stack or ""))
        if not f.filename.startswith(torch_dir) and str(pathlib.Path(f.filename).parent) != engine_dir
    ]
    if not frames:
        return "in forward()"
    frame = frames[-1]
    return f"line {frame.lineno} (`{(frame.line or '').strip()[:80]}`)"


def parse_stack(stack: str) -> list[tuple[str, int, str, str]]:
    """fx's recorded stack (``File "f", line N, in fn`` / code lines) as traceback tuples."""
    frames, lines = [], stack.splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith('File "') and ", line " in text:
            filename = text[6 : text.index('", line ')]
            rest = text[text.index('", line ') + 8 :].split(", in ")
            code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip().startswith('File "') else ""
            frames.append((filename, int(rest[0]), rest[1] if len(rest) > 1 else "", code))
    return frames


def refusal(name: str, what: str, line: str) -> NotANetwork:
    """The refusal of ``name``'s network for computing ``what`` at ``line`` (see :func:`where`)."""
    return NotANetwork(
        f"`{name}`'s forward() does more than apply its layers one after another: it computes {what} at {line}. "
        "The exercise asks for a fully connected network: nn.Linear layers and activations (in nn.Sequential, "
        "a custom nn.Module, or functions such as torch.tanh or F.relu), optionally with dropout or normalisation."
    )


def shown(node: fx.Node) -> str:
    """What a traced node calls, as the student wrote it (``F.relu``, ``tensor.view()``, ``operator.mul``)."""
    target = node.target
    if node.op == "call_function":
        module = getattr(target, "__module__", None) or ""
        module = {"torch._C._nn": "F", "torch.nn.functional": "F", "_operator": "operator"}.get(module, module or "torch")
        return f"{module}.{getattr(target, '__name__', target)}"
    if node.op == "call_method":
        return f"tensor.{target}()"
    return str(target)


