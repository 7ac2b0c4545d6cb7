"""(H1)/(H2) of THEORY 3.1: block gradient-Lipschitz constants, measured as secant ratios on pairs that differ
in one block. A maximum over sampled pairs is a lower bound on the supremum (THEORY 3.4)."""

from __future__ import annotations

import torch
from torch import Tensor

from ...objectives.base import Objective
from ..checks import CheckResult, sampled_max_check


def secant_ratio_x(objective: Objective, x1: Tensor, x2: Tensor, y: Tensor) -> Tensor:
    """(H1): ||grad_x f(x1, y) - grad_x f(x2, y)|| / ||x1 - x2||; sup over pairs is L_x (THEORY 3.1)."""
    g1, _ = objective.grad(x1, y)
    g2, _ = objective.grad(x2, y)
    return torch.linalg.vector_norm(g1 - g2, dim=-1) / torch.linalg.vector_norm(x1 - x2, dim=-1)


def secant_ratio_y(objective: Objective, x: Tensor, y1: Tensor, y2: Tensor) -> Tensor:
    """(H2): ||grad_y f(x, y1) - grad_y f(x, y2)|| / ||y1 - y2||; sup over pairs is L_y (THEORY 3.1)."""
    _, g1 = objective.grad(x, y1)
    _, g2 = objective.grad(x, y2)
    return torch.linalg.vector_norm(g1 - g2, dim=-1) / torch.linalg.vector_norm(y1 - y2, dim=-1)


def check(ratios: Tensor, L: float, *, block: str, instance: str) -> CheckResult:
    """The sampled maximum secant ratio of ``block`` ('x': (H1), 'y': (H2)) against a stated constant L."""
    label = "(H1)" if block == "x" else "(H2)"
    return sampled_max_check(
        f"assumptions: {label} secant ratio <= stated L_{block}",
        instance,
        ratios,
        L,
        details={"note": "sampled max is a lower bound on the sup"},
    )
