"""(V) of THEORY 3.4 / (R2) of THEORY 6.1: the exact sample variance of the block gradients at points."""

from __future__ import annotations

import torch
from torch import Tensor

from ...objectives.base import Objective
from ..checks import CheckResult, sampled_max_check


def sample_variance(objective: Objective, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """(V) at points, exactly: ((1/n) sum_i ||grad_x f_i - grad_x f||^2, same for y) with the objective's
    weights w_i in place of 1/n (THEORY 3.4)."""
    gx, gy = objective.grad(x, y)
    vx = torch.zeros(gx.shape[:-1], dtype=gx.dtype, device=gx.device)
    vy = torch.zeros_like(vx)
    for i in range(objective.n):
        gxi, gyi = objective.grad(x, y, i)
        wi = float(objective.weights[i])
        dx, dy = gxi - gx, gyi - gy
        vx = vx + wi * (dx * dx).sum(-1)
        vy = vy + wi * (dy * dy).sum(-1)
    return vx, vy


def check(variances: Tensor, sigma2: float, *, block: str, instance: str) -> CheckResult:
    """The sampled maximum variance of ``block`` against a stated sigma2_b."""
    return sampled_max_check(
        f"assumptions: (V) sample variance {block} <= stated sigma2_{block}", instance, variances, sigma2
    )
