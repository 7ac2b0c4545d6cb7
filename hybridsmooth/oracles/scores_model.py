"""A model objective seen the way outside packages see a network: inputs -> scores, a criterion, parameters.

Outside curvature packages differentiate ``criterion(model(inputs), targets)`` with respect to a list of
``nn.Parameter``s. A :class:`~hybridsmooth.objectives.module.ModuleObjective` with a ``scores_fn`` (the LLM
objectives, and any objective given one) is exactly that with ``criterion = cross_entropy`` and
``targets = batch['labels']``, on the same Parameter objects whose data are the objective's flat x and y.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from torch import Tensor, nn

from ..errors import UsageError

BLOCK_NAMES = ("xx", "yy")


class ScoresModel(nn.Module):
    """inputs (a batch) -> class scores, through the objective's own model and score function."""

    def __init__(self, objective):
        super().__init__()
        if not hasattr(objective, "scores_fn") or not hasattr(objective, "_x_params"):
            raise UsageError("an outside oracle needs a ModuleObjective with a scores_fn (e.g. an llm:... problem)")
        self.net = objective.model  # a submodule: .eval() and .parameters() reach it
        self.scores_fn = objective.scores_fn

    def forward(self, batch) -> Tensor:
        return self.scores_fn(self.net, batch)


def cross_entropy_criterion(scores: Tensor, targets: Tensor) -> Tensor:
    return nn.functional.cross_entropy(scores, targets)


def block_params(objective, block: str) -> list[nn.Parameter]:
    """The Parameters of block x ("xx") or y ("yy"), in the objective's flat layout order."""
    if block not in BLOCK_NAMES:
        raise UsageError(f"block must be one of {', '.join(BLOCK_NAMES)}, got {block!r}")
    return list(objective._x_params if block == "xx" else objective._y_params)


def batch_at(objective, batch_index: int):
    if not 0 <= batch_index < objective.n:
        raise UsageError(f"batch_index must lie in [0, {objective.n}), got {batch_index}")
    return objective.batches[batch_index]


@contextmanager
def only_requires_grad(model: nn.Module, params: list[nn.Parameter]) -> Iterator[None]:
    """Switch ``requires_grad`` on for ``params`` only (outside packages pick what to differentiate by it;
    PEFT switches the base weights off); the flags and ``.grad`` fields are restored afterwards."""
    saved = [(p, p.requires_grad, p.grad) for p in model.parameters()]
    wanted = {id(p) for p in params}
    try:
        for p, _, _ in saved:
            p.requires_grad_(id(p) in wanted)
            p.grad = None
        yield
    finally:
        for p, flag, grad in saved:
            p.grad = grad
            p.requires_grad_(flag)
