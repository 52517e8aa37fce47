"""The training budget: the lessons' training helpers record the epochs they ran, the engine checks the count.

``graded_networks.networks.describe`` carries the count (``trained_epochs``) to the grader with the network, so the
budget is checked on the rebuilt network, by the notebook's check and the grader alike.
"""

from __future__ import annotations

ATTRIBUTE = "trained_epochs"
"""Where the count lives on a model (the description's key too)."""


def record_epochs(model: object, epochs: int) -> None:
    """Add ``epochs`` to the count on ``model``: every training helper calls this after its loop."""
    setattr(model, ATTRIBUTE, trained_epochs(model) + epochs)


def trained_epochs(model: object) -> int:
    """The epochs recorded on ``model`` (0 when none; a count that is not an int is not one the helpers wrote)."""
    count = getattr(model, ATTRIBUTE, 0)
    return count if isinstance(count, int) and not isinstance(count, bool) else 0


def over_budget(model: object, max_epochs: int | None, name: str) -> str | None:
    """Why ``model`` is over the budget of ``max_epochs`` (None when it is not, or when there is no budget)."""
    epochs = trained_epochs(model)
    if max_epochs is None or epochs <= max_epochs:
        return None
    return (
        f"`{name}` was trained for {epochs:,} epochs; the exercise allows at most {max_epochs:,}. "
        "Rebuild the model and train it within the budget."
    )
