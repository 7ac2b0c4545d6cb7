"""Check 8 (THEORY 7.8; Theorem R of THEORY 6.1): Theorem R's step-size region lies inside the exact stability
region of the hybrid second-moment map.

Instance: random positive definite H = W W^T/d + 0.05 I with dense cross blocks, d_x = 4, d_y = 3, n = 1,
central ZO on x, FO on y, Jacobi updates; Lambda from ``joint_lambda_on_ray`` ((R1) for the single sample).

Statement: the (C1)-(C2) rectangle with n = 1 lies strictly inside {rho < 1}, rho the spectral radius of

    P' = (I - DH) P (I - DH)^T + blockdiag(eta_x^2 [tr(Q_xx) I + Q_xx], 0),   Q := H P H;

computed = max rho over a grid x grid lattice of the rectangle (corner included), which must be < 1.
``details``: the factor by which the caps can grow jointly, and per block (the other step at its cap), before rho
reaches 1 (how conservative the caps are).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import step_sizes
from ..assumptions.joint import joint_lambda_on_ray
from ..checks import CheckResult, one_sided
from ..recursions import hybrid_second_moment_radius

KEY = "8"
TITLE = "Theorem R region inside the exact stability region"
SUMMARY = (
    "Spectral radius of the exact hybrid second-moment map on the (C1)-(C2) rectangle (n = 1) for random "
    "PD Hessians must stay below 1 (THEORY check 8)."
)
FIGURES: tuple[str, ...] = ("stability_region",)


def random_psd_hessian(d_x: int, d_y: int, *, seed: int, ridge: float = 0.05) -> np.ndarray:
    """A random positive definite H = W W^T/d + ridge I with dense cross blocks (check 8's instance)."""
    d = d_x + d_y
    W = np.random.default_rng(seed).standard_normal((d, d))
    return W @ W.T / d + ridge * np.eye(d)


def second_moment_radius(H: np.ndarray, d_x: int, eta_x: float, eta_y: float) -> float:
    """Spectral radius of the check-8 second-moment map (``recursions.hybrid_second_moment_radius``):
    E zz^T is stable iff it is < 1 (THEORY check 8)."""
    return hybrid_second_moment_radius(H, d_x, eta_x, eta_y)


def stability_grid(H: np.ndarray, d_x: int, etas_x, etas_y) -> np.ndarray:
    """Spectral radius of the check-8 second-moment map on a grid, shape (len(etas_x), len(etas_y))."""
    return np.array([[second_moment_radius(H, d_x, ex, ey) for ey in etas_y] for ex in etas_x])


def _stable_scale(rho_of_t, *, hi: float = 1e6, rtol: float = 1e-4) -> float:
    """Largest t with rho_of_t(t) < 1, given rho_of_t(1) < 1, by doubling then bisection (THEORY check 8)."""
    lo, up = 1.0, 2.0
    if rho_of_t(lo) >= 1:
        raise ValueError("the starting point t = 1 is not stable")
    while rho_of_t(up) < 1:
        lo, up = up, 2 * up
        if up > hi:
            return math.inf
    while up - lo > rtol * up:
        mid = 0.5 * (lo + up)
        lo, up = (mid, up) if rho_of_t(mid) < 1 else (lo, mid)
    return lo


def _inclusion_row(H: np.ndarray, d_x: int, d_y: int, seed: int, grid: int) -> CheckResult:
    L_x, L_y = joint_lambda_on_ray(H, d_x)
    caps = step_sizes.admissible_step_sizes(L_x, L_y, 1, d_x)
    ex, ey = caps.eta_x, caps.eta_y
    fr = np.linspace(0.0, 1.0, grid + 1)[1:]
    rhos = stability_grid(H, d_x, fr * ex, fr * ey)
    joint = _stable_scale(lambda t: second_moment_radius(H, d_x, t * ex, t * ey))
    x_only = _stable_scale(lambda t: second_moment_radius(H, d_x, t * ex, ey))
    y_only = _stable_scale(lambda t: second_moment_radius(H, d_x, ex, t * ey))
    return one_sided(
        "8: max rho over the Theorem R rectangle < 1",
        f"random PD H d_x={d_x} d_y={d_y} seed={seed}",
        float(rhos.max()),
        1.0,
        samples=rhos.size,
        details={
            "L_x": float(L_x),
            "L_y": float(L_y),
            "cap_x": ex,
            "cap_y": ey,
            "rho_at_corner": float(rhos[-1, -1]),
            "joint_scale_to_edge": joint,
            "x_scale_to_edge": x_only,
            "y_scale_to_edge": y_only,
        },
    )


def check8_region_inclusion(*, d_x: int = 4, d_y: int = 3, seeds=range(5), grid: int = 6) -> list[CheckResult]:
    """One row per random PD H (see the module docstring)."""
    return [_inclusion_row(random_psd_hessian(d_x, d_y, seed=seed), d_x, d_y, seed, grid) for seed in seeds]


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check8_region_inclusion(seeds=range(3 if size == "fast" else 10))


def report_sentence(rows: pd.DataFrame) -> str:
    return ""
