"""(G1)-(G3) of THEORY 3.3, generalized (ell_x, ell_y) smoothness, at sampled points, and a power-law upper
envelope ell(u) = c u^p fitted to measured (||grad f||, curvature) pairs."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from scipy.optimize import linprog
from torch import Tensor

from ...objectives.base import Objective
from ..checks import CheckResult, Expected, one_sided

Ell = Callable[[Tensor], Tensor]


def generalized_smoothness_sides(
    objective: Objective, x: Tensor, y: Tensor, *, ell_x: Ell, ell_y: Ell, f_star: float
) -> dict[str, Tensor]:
    """Both sides of (G1)-(G3) of THEORY 3.3 at points, with g = ||grad f(z)||:

        (G1) ||grad_x f||^2 <= 2 ell_x(2g) (f - f*)       (G2) ||grad_y f||^2 <= 2 ell_y(2g) (f - f*)
        (G3) 1/2 [||grad_x f||^2/ell_x(2g) + ||grad_y f||^2/ell_y(2g)] <= f - f*

    Returns lhs/rhs tensors keyed 'G1_lhs', 'G1_rhs', ... and 'g'.
    """
    gx, gy = objective.grad(x, y)
    nx2, ny2 = (gx * gx).sum(-1), (gy * gy).sum(-1)
    g = torch.sqrt(nx2 + ny2)
    lx, ly = ell_x(2 * g), ell_y(2 * g)
    gap = objective.loss(x, y) - f_star
    return {
        "g": g,
        "gap": gap,
        "G1_lhs": nx2,
        "G1_rhs": 2 * lx * gap,
        "G2_lhs": ny2,
        "G2_rhs": 2 * ly * gap,
        "G3_lhs": 0.5 * (nx2 / lx + ny2 / ly),
        "G3_rhs": gap,
    }


def side_ratio(sides: dict[str, Tensor], which: Literal["G1", "G2", "G3"]) -> Tensor:
    """lhs/rhs of (G1), (G2) or (G3) at each point; the condition holds where it is <= 1."""
    return sides[f"{which}_lhs"] / sides[f"{which}_rhs"]


def check(
    sides: dict[str, Tensor],
    which: Literal["G1", "G2", "G3"],
    *,
    label: str,
    instance: str,
    expected: Expected = "pass",
) -> CheckResult:
    """The largest sampled lhs/rhs of (G1), (G2) or (G3) must be <= 1 (rounding allowance 1e-9)."""
    ratio = side_ratio(sides, which)
    return one_sided(label, instance, float(ratio.max()), 1.0, atol=1e-9, samples=int(ratio.numel()), expected=expected)


def fit_power_envelope(u, L) -> tuple[float, float]:
    """Upper envelope ell(u) = c u^p in log-log space: the LP  min sum_i (log c + p log u_i)
    s.t. log c + p log u_i >= log L_i  (a line above every point with least total height). Returns (c, p).

    A local fit: the general fitters of ``hybridsmooth.curvature.envelope`` are affine (L0 + L1 u), not power laws.
    """
    u, L = np.asarray(u, float).ravel(), np.asarray(L, float).ravel()
    keep = (u > 0) & (L > 0) & np.isfinite(u) & np.isfinite(L)
    if keep.sum() < 2:
        raise ValueError("need at least 2 pairs with u > 0 and L > 0 for a log-log envelope")
    lu, lL = np.log(u[keep]), np.log(L[keep])
    res = linprog(
        c=[len(lu), lu.sum()],
        A_ub=np.column_stack([-np.ones_like(lu), -lu]),
        b_ub=-lL,
        bounds=[(None, None), (None, None)],
        method="highs",
    )
    if res.status != 0:
        raise ValueError(f"power-envelope LP failed: {res.message}")
    logc, p = res.x
    logc += max(0.0, float(np.max(lL - (logc + p * lu))))  # lift so every point is truly below
    return float(math.exp(logc)), float(p)
