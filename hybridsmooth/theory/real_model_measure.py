"""The measurements of the real-model checks (THEORY 3.1, 3.5, 4.4) at points and along a run of ONE objective
f_idx: block constants with loss and gradient norms, the one-block secants of a fixed-sample hybrid run, the
Monte Carlo ZO second moment, and the joint condition. ``real_model`` turns them into checks."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import Tensor

from ..curvature import HessianAtPoint, SecantRun, block_constants, joint_condition, secant_run
from ..errors import UsageError
from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig
from ..optim.schedule import epoch_schedule
from ..zo.estimators import zo_flat_directions
from ..zo.moments import d2_error_bound, quadratic_central_error, z_seed_2_rhs


@dataclass(frozen=True)
class PointCurvature:
    """Lanczos block constants at one point, with the loss and gradient norms there."""

    label: str
    loss: float
    grad_x_norm: float
    grad_y_norm: float
    L_x: float
    L_y: float
    L_xy: float | None
    residual_x: float
    residual_y: float
    residual_xy: float | None
    hvps: int
    seconds: float
    converged: bool

    @property
    def grad_norm(self) -> float:
        return math.hypot(self.grad_x_norm, self.grad_y_norm)


@dataclass(frozen=True)
class ZOMoment:
    """Monte Carlo E||g - grad_x f||^2 of the central estimator over N directions, and the bounds."""

    n_directions: int
    mu: float
    d: int
    L: float
    grad_norm2: float
    error_mean: float
    error_se: float
    quadratic_value: float
    d2_bound: float
    z_seed_2_bound: float
    seconds: float


@dataclass(frozen=True)
class JointResult:
    L_x: float
    L_y: float
    lambda_max: float
    lambda_min: float
    residual_max: float
    residual_min: float
    hvps: int
    seconds: float


def _norm(v: Tensor) -> float:
    return float(torch.linalg.vector_norm(v.double()))


def point_curvature(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    *,
    idx: int,
    label: str = "z",
    max_iter: int = 20,
    tol: float = 1e-3,
    seed: int = 0,
    cross: bool = True,
) -> PointCurvature:
    """L_x = ||H_xx||, L_y = ||H_yy|| and L_xy = sigma_max(H_xy) of f_idx at (x, y) by ``block_constants``
    (Lanczos, explicit residuals, start vectors seed, seed + 1, seed + 2), with the loss and gradient norms."""
    t0 = time.perf_counter()
    with torch.no_grad():
        loss = float(objective.loss(x, y, idx))
    gx, gy = objective.grad(x, y, idx)
    bc = block_constants(
        objective,
        x,
        y,
        blocks=("xx", "yy", "xy") if cross else ("xx", "yy"),
        idx=idx,
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        check=False,
    )
    xy = bc["xy"] if cross else None
    return PointCurvature(
        label,
        loss,
        _norm(gx),
        _norm(gy),
        bc["xx"].estimate,
        bc["yy"].estimate,
        None if xy is None else xy.estimate,
        bc["xx"].residual,
        bc["yy"].residual,
        None if xy is None else xy.residual,
        bc.hvps,
        time.perf_counter() - t0,
        all(e.converged for e in bc.estimates),
    )


def fixed_sample_secant_run(
    objective: Objective,
    x0: Tensor,
    y0: Tensor,
    *,
    steps: int,
    idx: int,
    eta_x: float,
    eta_y: float,
    mu: float,
    seed: int,
) -> SecantRun:
    """``curvature.secant_run`` on the ONE sample ``idx`` (THEORY 2.1, Jacobi, clean read point, central ZO
    form, q = 1): y_{t+1} = y_t - eta_y grad_y f_idx(x_t, y_t) and x_{t+1} = x_t - eta_x phi u.

    The steps are one epoch of ``steps`` steps of ``optim.schedule`` with every sample replaced by idx, so
    the direction of step t comes from the schedule's noise key (seed, epoch 0, step t)."""
    config = HybridSGDConfig(method="hybrid", eta_x=eta_x, eta_y=eta_y, mu=mu, q=1, seed=seed, epochs=0)
    schedule = (replace(st, idx=idx) for st in epoch_schedule("ig", n=steps, epoch=0, run_seed=seed, device=x0.device))
    return secant_run(objective, x0, y0, schedule, config)


def zo_error_moment(
    objective: Objective, x: Tensor, y: Tensor, *, idx: int, mu: float, n_directions: int, L: float, seed: int = 0
) -> ZOMoment:
    """E||g - grad_x f_idx||^2 of the central estimator g = phi u, u ~ N(0, I_dx), by N directions (THEORY 4.4).

    Per direction the error is exact given phi: phi^2 ||u||^2 - 2 phi <u, grad> + ||grad||^2 (float64 sums).
    Bounds: (D-2) 2(d+1)||grad||^2 + (mu^2 L^2 / 2) d(d+2)(d+4) and (Z-seed-2) 32 d ||grad||^2 + 108 mu^2 L^2 d^4.
    """
    if n_directions < 2:
        raise UsageError(f"n_directions must be >= 2 for a standard error, got {n_directions}")
    t0 = time.perf_counter()
    g = objective.grad(x, y, idx, blocks="x")[0].double()
    g2 = float(g @ g)
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    errors = []
    for u, phi in zo_flat_directions(lambda xx: objective.loss(xx, y, idx), x, mu=mu, q=n_directions, generator=gen):
        ud = u.double()
        errors.append(phi * phi * float(ud @ ud) - 2 * phi * float(ud @ g) + g2)
        del u, ud
    e = np.array(errors)
    d = int(x.numel())
    return ZOMoment(
        n_directions,
        mu,
        d,
        float(L),
        g2,
        float(e.mean()),
        float(e.std(ddof=1) / math.sqrt(len(e))),
        quadratic_central_error(g2, d),
        d2_error_bound(g2, mu=mu, L=L, d=d),
        z_seed_2_rhs(g2, mu=mu, L=L, d=d),
        time.perf_counter() - t0,
    )


def joint_at(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    *,
    idx: int,
    L_x: float,
    L_y: float,
    max_iter: int,
    tol: float,
    seed: int = 0,
) -> JointResult:
    """Extreme eigenvalues of Lambda^-1/2 H Lambda^-1/2 at (x, y) with Lambda = diag(L_x I, L_y I) (THEORY 3.5)."""
    t0 = time.perf_counter()
    engine = HessianAtPoint(objective, x, y, idx=idx, check=False)
    try:
        jc = joint_condition(
            engine, L_x, L_y, tol=tol, max_iter=min(max_iter, objective.d_x + objective.d_y), seed=seed
        )
    finally:
        engine.release()
    return JointResult(
        L_x,
        L_y,
        jc.lambda_max,
        jc.lambda_min,
        jc.upper.residuals[0],
        jc.lower.residuals[0],
        engine.counter.hvps,
        time.perf_counter() - t0,
    )
