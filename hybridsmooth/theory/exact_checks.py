"""Theory checks that need no optimizer run (THEORY 7): check 8 (Theorem R's step-size region inside the exact
stability region of the hybrid second-moment map), check 13's exact part (s_exact) and check 14's constants (the
F fixed point), and ``run_exact_checks``, which gathers them with checks 5 and 6 into one table.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import bounds
from .checks import CheckResult, one_sided, results_table, two_sided
from .recursions import hybrid_second_moment_radius


def random_psd_hessian(d_x: int, d_y: int, *, seed: int, ridge: float = 0.05) -> np.ndarray:
    """A random positive definite H = W W^T/d + ridge I with dense cross blocks (check 8's instance)."""
    d = d_x + d_y
    W = np.random.default_rng(seed).standard_normal((d, d))
    return W @ W.T / d + ridge * np.eye(d)


def joint_lambda_on_ray(H: np.ndarray, d_x: int) -> tuple[float, float]:
    """The smallest (L_x, L_y) along the ray L_x/L_y = ||H_xx||/||H_yy|| with H <= Lambda; for PSD H this is
    (R1) for the single-sample problem (THEORY 3.5): scale diag(||H_xx||, ||H_yy||) by lambda_max of the
    scaled H."""
    nx, ny = np.linalg.norm(H[:d_x, :d_x], 2), np.linalg.norm(H[d_x:, d_x:], 2)
    s = np.r_[np.full(d_x, nx ** -0.5), np.full(H.shape[0] - d_x, ny ** -0.5)]
    t = float(np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1])
    return t * nx, t * ny


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


def check8_region_inclusion(*, d_x: int = 4, d_y: int = 3, seeds=range(5), grid: int = 6) -> list[CheckResult]:
    """THEORY check 8, theorem part: the (C1)-(C2) rectangle with n = 1 lies strictly inside the exact
    stability region {rho < 1} of the hybrid second-moment map (central ZO on x, FO on y, Jacobi).

    For each random PD H: Lambda from ``joint_lambda_on_ray``; rho on a grid x grid lattice of the rectangle
    (corner included); computed = max rho, must be < 1. ``details``: the factor by which the caps can grow
    jointly, and per block (the other step at its cap), before rho reaches 1 (how conservative the caps are).
    """
    out: list[CheckResult] = []
    for seed in seeds:
        H = random_psd_hessian(d_x, d_y, seed=seed)
        L_x, L_y = joint_lambda_on_ray(H, d_x)
        caps = bounds.admissible_step_sizes(L_x, L_y, 1, d_x)
        ex, ey = caps.eta_x, caps.eta_y
        fr = np.linspace(0.0, 1.0, grid + 1)[1:]
        rhos = stability_grid(H, d_x, fr * ex, fr * ey)
        joint = _stable_scale(lambda t: second_moment_radius(H, d_x, t * ex, t * ey))
        x_only = _stable_scale(lambda t: second_moment_radius(H, d_x, t * ex, ey))
        y_only = _stable_scale(lambda t: second_moment_radius(H, d_x, ex, t * ey))
        out.append(one_sided("8: max rho over the Theorem R rectangle < 1", f"random PD H d_x={d_x} d_y={d_y} "
                             f"seed={seed}", float(rhos.max()), 1.0, samples=rhos.size,
                             details={"L_x": float(L_x), "L_y": float(L_y), "cap_x": ex, "cap_y": ey,
                                      "rho_at_corner": float(rhos[-1, -1]), "joint_scale_to_edge": joint,
                                      "x_scale_to_edge": x_only, "y_scale_to_edge": y_only}))
    return out


def check13_s_exact(*, rho: float = 10.0, d_x: int = 64, kappa_y: float = 100.0, expected: float = 1320.0,
                    n_spec: int = 50) -> list[CheckResult]:
    """THEORY 6.4 / check 13 exact part. (i) s_exact(10, 64, 100) = 1320.0 as printed in THEORY (to the printed
    precision, +-0.05). (ii) The same ratio from the contraction factors max_i |1 - eta lambda_i| of GD on a
    log-uniform y-spectrum [1/kappa_y, 1] with n_spec eigenvalues (relative 1e-9): an independent route to the
    closed form."""
    inst = f"separable quadratic rho={rho} d_x={d_x} kappa_y={kappa_y}"
    s = bounds.s_exact(rho, d_x=d_x, kappa_y=kappa_y)
    lam = np.geomspace(1.0 / kappa_y, 1.0, n_spec)
    eta_two = 2.0 / (lam.max() + lam.min())
    eta_one = min(1.0 / (rho * 1.0 * (d_x + 2)), eta_two)
    rate = lambda eta: float(np.max(np.abs(1.0 - eta * lam)))  # noqa: E731
    s_spec = math.log(rate(eta_two)) / math.log(rate(eta_one))
    return [two_sided("13: s_exact closed form = THEORY's printed value", inst, s, expected, atol=0.05),
            two_sided("13: s_exact = ratio of GD contraction factors on the spectrum", inst, s_spec, s, rtol=1e-9,
                      details={"asymptotic_2rho(d_x+2)": 2 * rho * (d_x + 2),
                               "s_theory_n1": bounds.s_theory(rho, n=1, d_x=d_x)})]


@dataclass(frozen=True)
class FixedPointF:
    """Result of the check-14 fixed point F = (8/delta)(Delta0 + T N_epoch(eta(F))) (THEORY 5.1, check 14).

    ``history`` is F_0 = 8 Delta0/delta, F_1, ... of the plain iteration; ``monotone`` says whether it was
    monotone (THEORY claims so); ``method`` is 'iteration' or 'bisection' (used when the iteration oscillates
    without converging). F is None when no finite fixed point was found (the map grows faster than F).
    """

    F: float | None
    iterations: int
    history: tuple[float, ...]
    monotone: bool
    converged: bool
    method: str
    L_x: float | None
    G: float | None
    G_x_max: float | None
    eta_x: float | None
    eta_y: float | None
    N_epoch: float | None


def check14_F_fixed_point(*, T: int, delta: float = 0.1, mu: float = 1e-3, theta: float = 1.0, objective=None,
                          rtol: float = 1e-12, max_iter: int = 200) -> FixedPointF:
    """Solve F <- (8/delta)(Delta0 + T N_epoch(eta(F))) on the quartic instance (check 14).

    eta(F) = theta x the (C1)-(C2) caps with L_x = 3 R_x^2 = 3 sqrt(4F) from ``sublevel_constants(F)``, the exact
    L_y, sigma_x^2, sigma_y^2 of the instance, and Delta0 = f(z_0) - f*. Default instance: ``quartic`` with
    d_x = 20, n = 8 (THEORY check 14).
    """
    from ..objectives.synthetic import make_quartic

    obj = make_quartic(dx=20, dy=5, n=8) if objective is None else objective
    c = obj.constants
    x0, y0 = obj.initial_point()
    gap0 = float(obj.loss(x0, y0)) - c.f_star
    T = int(T)
    if T < 1:
        raise ValueError(f"T must be a positive integer, got {T}")

    def step_sizes(F: float) -> tuple[float, float, float]:
        L_x = obj.sublevel_constants(F).L_x
        caps = bounds.admissible_step_sizes(L_x, c.L_y, obj.n, obj.d_x)
        return L_x, theta * caps.eta_x, theta * caps.eta_y

    def phi(F: float) -> float:
        L_x, ex, ey = step_sizes(F)
        N = bounds.N_epoch(ex, ey, mu, n=obj.n, d_x=obj.d_x, L_x=L_x, L_y=c.L_y, sx2=c.sigma2_x, sy2=c.sigma2_y)
        return 8.0 / delta * (gap0 + T * N)

    F = 8.0 * gap0 / delta
    hist = [F]
    converged = False
    for _ in range(max_iter):
        nxt = phi(F)
        hist.append(nxt)
        if not math.isfinite(nxt) or nxt > 1e300:
            break
        if abs(nxt - F) <= rtol * abs(nxt):
            converged, F = True, nxt
            break
        F = nxt
    diffs = np.diff(hist)
    monotone = bool(np.all(diffs >= 0) or np.all(diffs <= 0))
    method = "iteration"
    if not converged:
        # F - phi(F) is increasing when phi is non-increasing (an oscillating iteration): bisect for its root
        lo, hi = hist[0], max(hist)
        if phi(hi) <= hi and phi(lo) >= lo:
            while hi - lo > rtol * hi:
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if phi(mid) > mid else (lo, mid)
            F, converged, method = 0.5 * (lo + hi), True, "bisection"
    if not converged:
        return FixedPointF(None, len(hist) - 1, tuple(hist), monotone, False, method, None, None, None, None, None,
                           None)
    L_x, ex, ey = step_sizes(F)
    N = bounds.N_epoch(ex, ey, mu, n=obj.n, d_x=obj.d_x, L_x=L_x, L_y=c.L_y, sx2=c.sigma2_x, sy2=c.sigma2_y)
    sub = obj.sublevel_constants(F)
    return FixedPointF(F, len(hist) - 1, tuple(hist), monotone, True, method, L_x, sub.G, sub.G_x_max, ex, ey, N)


def run_exact_checks(*, n_points: int = 10_000, seeds=range(5)) -> pd.DataFrame:
    """Every check of this package that needs no optimizer run, as one table: check 5 (s = 0, 0.3, 0.9 and the
    bilinear counterexample), check 6, check 8 and check 13. Expected 'fail' rows: the seed's lemmas (BD) and
    (G3) for s > 0 and on b x y -- they show THEORY 3.2's counterexamples, not a toolkit error."""
    from .assumptions import check5_bilinear, check5_block_descent, check6_generalized_smoothness

    rows: list[CheckResult] = []
    for s in (0.0, 0.3, 0.9):
        rows += check5_block_descent(s, n_pairs=n_points)
    rows.append(check5_bilinear())
    rows += check6_generalized_smoothness(n_points=n_points)
    rows += check8_region_inclusion(seeds=seeds)
    rows += check13_s_exact()
    return results_table(rows)
