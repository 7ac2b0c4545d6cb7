"""Generalized (L0, L1) smoothness fits, the sublevel-set gradient bound, and honest suprema (THEORY 3.3, 3.4).

From pairs (u_i, L_i) = (||grad f(z_i)||, local ||grad^2_bb f(z_i)||) fit ell_b(u) = L0 + L1 u:

* ``fit_affine_envelope``: the upper envelope, an LP
      minimise sum_i (L0 + L1 u_i)   subject to   L0 + L1 u_i >= L_i,  L0 >= 0,  L1 >= 0;
* ``fit_affine_quantile``: quantile regression at level q (the same LP family, pinball loss), which lets a
  fraction 1 - q of the points lie above the line and so is less hostage to one outlier;
* ``bootstrap_affine_fit``: percentile intervals for (L0, L1) by resampling the pairs.

``g_safe`` is THEORY 3.3's bound on ||grad f|| over G_F for affine ell_b:

    G_safe = 2F(L1x + L1y) + sqrt(4F^2 (L1x + L1y)^2 + 2F (L0x + L0y)).

A maximum over N sampled points is only a lower bound on a supremum (THEORY 3.4); ``supremum_bound``
reports it with N and a Robson-Whitlock upper confidence value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.optimize import linprog


@dataclass(frozen=True)
class AffineFit:
    """ell(u) = L0 + L1 u, with bootstrap percentile intervals where computed."""

    L0: float
    L1: float
    method: str
    n: int
    L0_interval: tuple[float, float] | None = None
    L1_interval: tuple[float, float] | None = None
    level: float | None = None

    def __call__(self, u):
        return self.L0 + self.L1 * np.asarray(u, dtype=float)


def _pairs(u, L) -> tuple[np.ndarray, np.ndarray]:
    u, L = np.asarray(u, dtype=float).reshape(-1), np.asarray(L, dtype=float).reshape(-1)
    if u.shape != L.shape or len(u) < 2:
        raise ValueError(f"need matching arrays of at least 2 pairs (u, L), got {u.shape} and {L.shape}")
    if not (np.all(np.isfinite(u)) and np.all(np.isfinite(L)) and np.all(u >= 0)):
        raise ValueError("pairs must be finite with u = ||grad f|| >= 0")
    return u, L


def fit_affine_envelope(u, L) -> AffineFit:
    """Smallest-area affine upper envelope with non-negative coefficients (an LP, solved by HiGHS)."""
    u, L = _pairs(u, L)
    res = linprog(
        c=[len(u), u.sum()],
        A_ub=np.column_stack([-np.ones_like(u), -u]),
        b_ub=-L,
        bounds=[(0, None), (0, None)],
        method="highs",
    )
    if res.status != 0:
        raise ValueError(f"envelope LP failed: {res.message}")
    L0, L1 = (float(v) for v in res.x)
    # HiGHS meets constraints to ~1e-9 absolute; lift L0 so that every point is truly below the line
    L0 += max(0.0, float(np.max(L - (L0 + L1 * u))))
    return AffineFit(L0, L1, "envelope-lp", len(u))


def fit_affine_quantile(u, L, *, q: float = 0.9) -> AffineFit:
    """Linear quantile regression L ~ L0 + L1 u at level q with L0, L1 >= 0 (LP with the pinball loss)."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile level q must lie in (0, 1), got {q}")
    u, L = _pairs(u, L)
    n = len(u)
    # variables: L0, L1, p_1..p_n (excess above the line), m_1..m_n (shortfall below)
    c = np.concatenate([[0.0, 0.0], np.full(n, q), np.full(n, 1.0 - q)])
    A_eq = np.hstack([np.ones((n, 1)), u[:, None], np.eye(n), -np.eye(n)])
    res = linprog(c, A_eq=A_eq, b_eq=L, bounds=[(0, None)] * (2 + 2 * n), method="highs")
    if res.status != 0:
        raise ValueError(f"quantile LP failed: {res.message}")
    return AffineFit(float(res.x[0]), float(res.x[1]), f"quantile-{q:g}", n)


def bootstrap_affine_fit(
    u,
    L,
    *,
    fit: Literal["envelope", "quantile"] = "envelope",
    q: float = 0.9,
    n_boot: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> AffineFit:
    """The point fit on all pairs, with percentile bootstrap intervals at ``level`` for L0 and L1."""
    u, L = _pairs(u, L)
    if not 0.0 < level < 1.0 or n_boot < 10:
        raise ValueError(f"need level in (0, 1) and n_boot >= 10, got {level}, {n_boot}")
    fitter: Callable = fit_affine_envelope if fit == "envelope" else (lambda a, b: fit_affine_quantile(a, b, q=q))
    if fit not in ("envelope", "quantile"):
        raise ValueError(f"unknown fit {fit!r}; accepted: envelope, quantile")
    point = fitter(u, L)
    rng = np.random.default_rng(seed)
    draws = np.array(
        [[f.L0, f.L1] for f in (fitter(u[i], L[i]) for i in (rng.integers(0, len(u), len(u)) for _ in range(n_boot)))]
    )
    a = (1.0 - level) / 2
    lo, hi = np.quantile(draws, [a, 1 - a], axis=0)
    return AffineFit(
        point.L0, point.L1, point.method, point.n, (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1])), level
    )


def g_safe(F: float, fit_x: AffineFit, fit_y: AffineFit) -> float:
    """THEORY 3.3: sup{u : u^2 <= 2 (ell_x + ell_y)(2u) F} for affine ell_b (a bound on ||grad f|| on G_F)."""
    if not (F > 0 and math.isfinite(F)):
        raise ValueError(f"F must be a finite positive number, got {F}")
    L1, L0 = fit_x.L1 + fit_y.L1, fit_x.L0 + fit_y.L0
    return 2 * F * L1 + math.sqrt(4 * F**2 * L1**2 + 2 * F * L0)


@dataclass(frozen=True)
class SupremumEstimate:
    """A sampled maximum (a lower bound on the supremum) with N and an upper confidence value."""

    maximum: float
    n: int
    upper: float
    level: float
    method: str


def supremum_bound(values, *, level: float = 0.95) -> SupremumEstimate:
    """max_i v_i and the Robson-Whitlock (1964) upper confidence value for the end point of the distribution:

        upper = v_(N) + (level / (1 - level)) (v_(N) - v_(N-1)),

    which covers the end point with probability ~ level when the density is positive and bounded near it
    (a weaker tail, e.g. a density vanishing at the end point, needs a larger factor). It says nothing
    about regions the sampler never visits.
    """
    v = np.sort(np.asarray(values, dtype=float).reshape(-1))
    if len(v) < 2 or not np.all(np.isfinite(v)):
        raise ValueError(f"need at least 2 finite values, got {len(v)}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    gap = v[-1] - v[-2]
    return SupremumEstimate(float(v[-1]), len(v), float(v[-1] + level / (1 - level) * gap), level, "robson-whitlock")
