"""The sublevel level F of THEORY 5.1 on the quartic instance of check 14, as the fixed point
F = (8/delta)(Delta0 + T N_epoch(eta(F))): the step sizes depend on F through L_x = 3 R_x^2 on G_F, and
F depends on the step sizes through sigma' = T N_epoch."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..objectives.base import Objective
from .bounds import RefConstants, initial_gap


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


def _iterate(phi: Callable[[float], float], F0: float, *, rtol: float, max_iter: int) -> tuple[float, list, bool]:
    F, hist = F0, [F0]
    for _ in range(max_iter):
        nxt = phi(F)
        hist.append(nxt)
        if not math.isfinite(nxt) or nxt > 1e300:
            break
        if abs(nxt - F) <= rtol * abs(nxt):
            return nxt, hist, True
        F = nxt
    return F, hist, False


def _bisect(phi: Callable[[float], float], lo: float, hi: float, *, rtol: float) -> float | None:
    # F - phi(F) is increasing when phi is non-increasing (an oscillating iteration): bisect for its root
    if not (phi(hi) <= hi and phi(lo) >= lo):
        return None
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if phi(mid) > mid else (lo, mid)
    return 0.5 * (lo + hi)


def check14_F_fixed_point(
    *,
    T: int,
    delta: float = 0.1,
    mu: float = 1e-3,
    theta: float = 1.0,
    objective: Objective = None,
    rtol: float = 1e-12,
    max_iter: int = 200,
) -> FixedPointF:
    """Solve F <- (8/delta)(Delta0 + T N_epoch(eta(F))) on the quartic instance (check 14).

    eta(F) = theta x the (C1)-(C2) caps with Lambda_x = L_x(F) = 3 R_x^2 = 3 sqrt(4F) from
    ``sublevel_constants(F)``, Lambda_y = the exact L_y, sigma_x^2, sigma_y^2 of the instance, and
    Delta0 = f(z_0) - f*. Default instance: ``quartic`` with d_x = 20, n = 8 (THEORY check 14).
    """
    from ..objectives.quartic import make_quartic

    obj = make_quartic(dx=20, dy=5, n=8) if objective is None else objective
    L_y = obj.constants.L_y
    gap0 = initial_gap(obj)
    T = int(T)
    if T < 1:
        raise ValueError(f"T must be a positive integer, got {T}")

    def constants(F: float) -> tuple[RefConstants, float, float]:
        rc = RefConstants.from_problem(obj, gap0=gap0, Lambda=(obj.sublevel_constants(F).L_x, L_y))
        caps = rc.caps()
        return rc, theta * caps.eta_x, theta * caps.eta_y

    def phi(F: float) -> float:
        rc, ex, ey = constants(F)
        return 8.0 / delta * (gap0 + T * rc.N_epoch(ex, ey, mu))

    F, hist, converged = _iterate(phi, 8.0 * gap0 / delta, rtol=rtol, max_iter=max_iter)
    diffs = np.diff(hist)
    monotone = bool(np.all(diffs >= 0) or np.all(diffs <= 0))
    method = "iteration"
    if not converged:
        root = _bisect(phi, hist[0], max(hist), rtol=rtol)
        if root is not None:
            F, converged, method = root, True, "bisection"
    if not converged:
        return FixedPointF(
            None, len(hist) - 1, tuple(hist), monotone, False, method, None, None, None, None, None, None
        )
    rc, ex, ey = constants(F)
    sub = obj.sublevel_constants(F)
    return FixedPointF(
        F,
        len(hist) - 1,
        tuple(hist),
        monotone,
        True,
        method,
        rc.Lambda_x,
        sub.G,
        sub.G_x_max,
        ex,
        ey,
        rc.N_epoch(ex, ey, mu),
    )
