"""The assumption checks that apply to one given problem (``hybridsmooth check PROBLEM ...``), each against the
problem's *stated* constants (``objective.constants``), at points z_0 + r N(0, I) (r = 1 + ||z_0||, float64):

* (H1)/(H2): secant ratios on pairs that differ in one block <= L_x, L_y  (expected pass: stated constants);
* (V): exact sample variances <= sigma2_x, sigma2_y                        (expected pass);
* (R1): eig(Lambda^{-1/2} grad^2 f_i Lambda^{-1/2}) in [-1, 1] with the stated joint Lambda, dense Hessians,
  d <= ``dense_limit`` only                                                (expected pass);
* (BD) with Lambda = diag(L_x, L_y): lambda_max(Lambda^{-1/2} grad^2 f Lambda^{-1/2}) <= 1, dense
  Hessians (report: the paper's lemma, which (H1)-(H2) do not imply, THEORY 3.2).

A maximum over sampled points is a lower bound on the supremum (THEORY 3.4): a pass here is evidence, not
proof; a fail is a counterexample. Problems whose calls do not accept a batch dimension are skipped with
a ``report`` row saying so.
"""

from __future__ import annotations

import math

import torch

from ..objectives.base import Objective
from .assumptions import block_descent, block_smooth, joint, variance
from .checks import CheckResult
from .sizes import check_size


class _Sampler:
    """Points z_0 + r N(0, I), r = 1 + ||z_0||, from one seeded generator (the draw order fixes the numbers)."""

    def __init__(self, objective: Objective, seed: int):
        x0, y0 = objective.initial_point()
        self.x0, self.y0 = x0.detach().to(torch.float64), y0.detach().to(torch.float64)
        self.gen = torch.Generator().manual_seed(seed)
        self.r = 1.0 + float(torch.sqrt((self.x0**2).sum() + (self.y0**2).sum()))

    def around(self, v: torch.Tensor, k: int) -> torch.Tensor:
        return v + self.r * torch.randn((k,) + tuple(v.shape), generator=self.gen, dtype=v.dtype)


def _sampled_rows(objective: Objective, pts: _Sampler, N: int, name: str) -> list[CheckResult]:
    c = objective.constants
    try:
        xs, ys, xs2, ys2 = pts.around(pts.x0, N), pts.around(pts.y0, N), pts.around(pts.x0, N), pts.around(pts.y0, N)
        with torch.no_grad():
            hx = block_smooth.secant_ratio_x(objective, xs, xs2, ys) if objective.d_x else None
            hy = block_smooth.secant_ratio_y(objective, xs, ys, ys2) if objective.d_y else None
            vx, vy = variance.sample_variance(objective, xs, ys)
    except (RuntimeError, TypeError, ValueError, IndexError) as err:
        return [
            CheckResult(
                "assumptions: batched evaluation",
                name,
                math.nan,
                math.nan,
                0.0,
                "fail",
                details={"error": f"{type(err).__name__}: {err}"},
                expected="report",
            )
        ]
    out = [
        block_smooth.check(ratio, L, block=b, instance=name)
        for b, ratio, L in (("x", hx, c.L_x), ("y", hy, c.L_y))
        if ratio is not None and L is not None
    ]
    out += [
        variance.check(v, s2, block=b, instance=name)
        for b, v, s2 in (("x", vx, c.sigma2_x), ("y", vy, c.sigma2_y))
        if s2 is not None
    ]
    return out


def _dense_rows(objective: Objective, pts: _Sampler, n_dense: int, name: str) -> list[CheckResult]:
    c = objective.constants
    has_joint = bool(c.joint_L_x and c.joint_L_y and c.joint_L_x > 0 and c.joint_L_y > 0)
    n_samples = min(objective.n, 16)
    hessians, lo, hi = [], math.inf, -math.inf
    for j in range(n_dense):
        xj, yj = (pts.x0, pts.y0) if j == 0 else (pts.around(pts.x0, 1)[0], pts.around(pts.y0, 1)[0])
        hessians.append(joint.dense_hessian(objective, xj, yj).numpy())
        for i in range(n_samples if has_joint else 0):
            lo_i, hi_i = joint.joint_condition_range(
                joint.dense_hessian(objective, xj, yj, i).numpy(), L_x=c.joint_L_x, L_y=c.joint_L_y, d_x=objective.d_x
            )
            lo, hi = min(lo, lo_i), max(hi, hi_i)
    out = []
    if math.isfinite(hi):
        out.append(joint.check((lo, hi), (c.joint_L_x, c.joint_L_y), instance=name, samples=n_dense * n_samples))
    if c.L_x is not None and c.L_y is not None:
        excess = block_descent.hessian_excess(hessians, L_x=c.L_x, L_y=c.L_y, d_x=objective.d_x)
        out.append(block_descent.check(excess, L_x=c.L_x, L_y=c.L_y, instance=name, samples=n_dense))
    return out


def problem_assumption_checks(
    objective: Objective, *, spec: str = "", size: str = "fast", seed: int = 0, dense_limit: int = 400
) -> list[CheckResult]:
    """The rows of the module docstring; each result carries its expected verdict."""
    check_size(size)
    N, n_dense = (64, 4) if size == "fast" else (1024, 16)
    name = spec or objective.spec or objective.name
    pts = _Sampler(objective, seed)
    rows = _sampled_rows(objective, pts, N, name)
    batched_ok = not (rows and rows[0].check == "assumptions: batched evaluation")
    d = objective.d_x + objective.d_y
    if batched_ok and d <= dense_limit and objective.d_x and objective.d_y:
        rows += _dense_rows(objective, pts, n_dense, name)
    return rows
