"""Whether an objective gives the same loss and gradient twice at one point: a curvature estimate needs it."""

from __future__ import annotations

import torch
from torch import Tensor

from ..objectives.base import Objective


class NondeterministicObjectiveError(ValueError):
    """Two evaluations of the same loss or gradient at the same point differ."""


def check_determinism(objective: Objective, x: Tensor, y: Tensor, idx: int | None = None) -> None:
    """Evaluate loss and gradient twice at the same point and raise if they differ beyond rounding.

    A curvature estimate is meaningless if f changes between products: dropout left on, a data loader
    that reshuffles the batch, or a random augmentation. The tolerance is 64 ulp of the values' scale.
    """
    eps = 64 * float(torch.finfo(x.dtype).eps)
    with torch.no_grad():
        l1, l2 = objective.loss(x, y, idx), objective.loss(x, y, idx)
    g1, g2 = objective.grad(x, y, idx), objective.grad(x, y, idx)

    def differs(a: Tensor, b: Tensor) -> float:
        scale = max(1.0, float(a.abs().max()) if a.numel() else 1.0)
        gap = float((a - b).abs().max()) if a.numel() else 0.0
        return gap / scale if gap > eps * scale else 0.0

    gaps = {"loss": differs(l1, l2), "grad_x": differs(g1[0], g2[0]), "grad_y": differs(g1[1], g2[1])}
    bad = {k: v for k, v in gaps.items() if v > 0}
    if bad:
        raise NondeterministicObjectiveError(
            f"objective {objective.name} is not deterministic at this point (sample {idx}): "
            + ", ".join(f"{k} differs by {v:.2e} relative" for k, v in bad.items())
            + " between two passes; put the model in eval() mode (no dropout) and use a fixed batch order"
        )
