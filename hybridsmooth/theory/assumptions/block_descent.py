"""(BD) of THEORY 3.2, the block-diagonal descent lemma f(z1) <= f(z2) + <grad f(z2), D> + 1/2 D^T Lambda D with
Lambda = diag(L_x I, L_y I). (H1)-(H2) do not imply it; it holds iff grad^2 f <= Lambda."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ...objectives.base import Objective
from ..checks import CheckResult, one_sided


def bd_residual(
    objective: Objective, z1: tuple[Tensor, Tensor], z2: tuple[Tensor, Tensor], *, L_x: float, L_y: float
) -> tuple[Tensor, Tensor]:
    """(BD) of THEORY 3.2 at pairs: (residual r, ratio r / (1/2 D^T Lambda D)); (BD) holds iff r <= 0.

    For a quadratic f = 1/2 z^T H z the ratio is D^T H D / D^T Lambda D - 1, whose sup is
    lambda_max(Lambda^{-1/2} H Lambda^{-1/2}) - 1. The ratio is nan where D^T Lambda D = 0.
    """
    (x1, y1), (x2, y2) = z1, z2
    dx, dy = x1 - x2, y1 - y2
    gx, gy = objective.grad(x2, y2)
    quad = 0.5 * (L_x * (dx * dx).sum(-1) + L_y * (dy * dy).sum(-1))
    r = objective.loss(x1, y1) - objective.loss(x2, y2) - (gx * dx).sum(-1) - (gy * dy).sum(-1) - quad
    return r, torch.where(quad > 0, r / quad, torch.full_like(r, math.nan))


def hessian_excess(hessians, *, L_x: float, L_y: float, d_x: int) -> float:
    """max over dense Hessians of lambda_max(grad^2 f - Lambda): (BD) holds iff it is <= 0 (THEORY 3.2); unlike
    the scaled form this also covers L = 0 (f = b x y)."""
    hessians = list(hessians)
    lam = np.r_[np.full(d_x, float(L_x)), np.full(hessians[0].shape[0] - d_x, float(L_y))]
    return max(float(np.linalg.eigvalsh(H - np.diag(lam))[-1]) for H in hessians)


def check(excess: float, *, L_x: float, L_y: float, instance: str, samples: int) -> CheckResult:
    """(BD) with the stated block constants, from ``hessian_excess``; expected ``report``: it is the paper's
    lemma, which (H1)-(H2) do not imply (THEORY 3.2)."""
    return one_sided(
        "assumptions: (BD) lambda_max(grad^2 f - diag(L_x I, L_y I)) <= 0",
        instance,
        excess,
        0.0,
        atol=1e-9 * max(1.0, float(L_x), float(L_y)),
        samples=samples,
        details={"note": "the paper's block descent lemma; (H1)-(H2) do not imply it (THEORY 3.2)"},
        expected="report",
    )
