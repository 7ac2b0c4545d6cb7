"""Closed-form ZO moments and the ZO bounds as functions (THEORY 4.1-4.4); their Monte Carlo counterparts are
in ``monte_carlo``.

Notation (THEORY 4): phi is a function of one block x in R^d, g := grad phi(x), L its gradient-Lipschitz
constant, mu > 0 the smoothing radius, u ~ N(0, I_d), v Rademacher. Estimators (THEORY 2.2):
g_C = [phi(x+mu u) - phi(x-mu u)]/(2mu) u,  g_F = [phi(x+mu u) - phi(x)]/mu u,  g_S = central along v.

* moments of ||u|| and closed forms on quadratics phi = 1/2 x^T A x + b^T x (THEORY 4.3);
* the bounds of THEORY 4.1 (seed), 4.2 (Nesterov-Spokoiny / Ghadimi-Lan) and 4.4 (derived here), each as
  the right-hand side it asserts.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# ---------------------------------------------------------------------------------------------------
# Moments of the direction
# ---------------------------------------------------------------------------------------------------


def gaussian_norm_moment(d: int, p: float) -> float:
    """E||u||^p = 2^{p/2} Gamma((d+p)/2) / Gamma(d/2) for u ~ N(0, I_d) (chi distribution), p > -d.

    Special cases (THEORY 4.3): E||u||^2 = d, E||u||^4 = d(d+2), E||u||^6 = d(d+2)(d+4),
    E||u||^8 = d(d+2)(d+4)(d+6), E||u||^3 = 2 sqrt2 Gamma((d+3)/2)/Gamma(d/2). (NS-6) brackets it.
    """
    if d < 1 or not p > -d:
        raise ValueError(f"need d >= 1 and p > -d, got d={d}, p={p}")
    return math.exp(0.5 * p * math.log(2.0) + math.lgamma(0.5 * (d + p)) - math.lgamma(0.5 * d))


def ns6_norm_moment_bounds(d: int, p: float) -> tuple[float, float]:
    """(NS-6) bracket (lower, upper) on E||u||^p: (0, d^{p/2}) for p in [0, 2]; (d^{p/2}, (d+p)^{p/2}) for p >= 2."""
    if p < 0:
        raise ValueError(f"(NS-6) is stated for p >= 0, got {p}")
    if p <= 2:
        return 0.0, d ** (p / 2)
    return d ** (p / 2), (d + p) ** (p / 2)


def rademacher_norm_moment(d: int, p: float) -> float:
    """E||v||^p = d^{p/2} exactly: every Rademacher vector has ||v||^2 = d."""
    return float(d) ** (p / 2)


# ---------------------------------------------------------------------------------------------------
# Exact moments on quadratics (THEORY 4.3)
# ---------------------------------------------------------------------------------------------------


def quadratic_curvature_term(A: Tensor) -> float:
    """T_A := (tr A)^2 + 2 tr(A^2) = E[(u^T A u)^2] for symmetric A (THEORY 4.3)."""
    return float(torch.trace(A) ** 2 + 2 * (A * A.T).sum())


def quadratic_forward_curvature_outer(a: Tensor) -> Tensor:
    """E[(u^T A u)^2 u u^T] for diagonal A = diag(a): diag_k((tr A)^2 + 2 tr(A^2) + 4 a_k tr A + 8 a_k^2).
    THEORY 4.3."""
    tr, tr2 = a.sum(), (a * a).sum()
    return torch.diag(tr**2 + 2 * tr2 + 4 * a * tr + 8 * a * a)


def quadratic_forward_cross_vector(g: Tensor, A: Tensor) -> Tensor:
    """E[(g^T u)(u^T A u) u] = tr(A) g + 2 A g (Isserlis; derived here).

    This vector is of degree 4 in u and does NOT vanish, contrary to the wording of THEORY 4.3. What
    vanishes is the scalar cross term of E||g_F||^2, E[(g^T u)(u^T A u) ||u||^2] = 0 (degree 5, odd),
    which is why E||g_F||^2 has no term linear in mu.
    """
    return torch.trace(A) * g + 2 * (A @ g)


def quadratic_central_second_moment(g_norm2: float, d: int) -> float:
    """E||g_C||^2 = (d + 2)||g||^2 on a quadratic, for every mu (g_C = (g^T u) u exactly). THEORY 4.3."""
    return (d + 2) * g_norm2


def quadratic_central_error(g_norm2: float, d: int) -> float:
    """E||g_C - g||^2 = (d + 1)||g||^2 on a quadratic. THEORY 4.3."""
    return (d + 1) * g_norm2


def quadratic_central_covariance(g: Tensor) -> Tensor:
    """Cov(g_C) = ||g||^2 I + g g^T on a quadratic (Isserlis). THEORY 4.3."""
    return (g @ g) * torch.eye(g.shape[-1], dtype=g.dtype, device=g.device) + torch.outer(g, g)


def quadratic_central_sq_norm_variance(g_norm2: float, d: int) -> float:
    """Var(||g_C||^2) = [3(d+4)(d+6) - (d+2)^2] ||g||^4 on a quadratic (sets MC error bars). THEORY 4.3."""
    return (3 * (d + 4) * (d + 6) - (d + 2) ** 2) * g_norm2**2


def quadratic_forward_second_moment(g_norm2: float, d: int, *, mu: float, T_A: float) -> float:
    """E||g_F||^2 = (d + 2)||g||^2 + (mu^2/4)(d + 4) T_A on a quadratic (the cross term vanishes). THEORY 4.3."""
    return (d + 2) * g_norm2 + 0.25 * mu**2 * (d + 4) * T_A


def quadratic_forward_error(g_norm2: float, d: int, *, mu: float, T_A: float) -> float:
    """E||g_F - g||^2 = (d + 1)||g||^2 + (mu^2/4)(d + 4) T_A on a quadratic. THEORY 4.3."""
    return (d + 1) * g_norm2 + 0.25 * mu**2 * (d + 4) * T_A


def quadratic_smoothing_gap(A: Tensor, mu: float) -> float:
    """phi_mu - phi = (mu^2/2) tr A on a quadratic, at every x (NS-1 with equality when A = L I). THEORY 4.3."""
    return 0.5 * mu**2 * float(torch.trace(A))


def rademacher_second_moment(g_norm2: float, d: int) -> float:
    """E||g_S||^2 = d ||g||^2 on a quadratic (||v||^2 = d, E(g^T v)^2 = ||g||^2). THEORY 4.3."""
    return d * g_norm2


def rademacher_error(g_norm2: float, d: int) -> float:
    """E||g_S - g||^2 = (d - 1)||g||^2 on a quadratic. THEORY 4.3."""
    return (d - 1) * g_norm2


def rademacher_covariance(g: Tensor) -> Tensor:
    """Cov(g_S) = ||g||^2 I + g g^T - 2 diag(g^2) on a quadratic.

    Derived here (not in THEORY): E[v_a v_b v_c v_e] = 1 when the indices pair up, like Isserlis but with
    E v^4 = 1 instead of 3, so E[(g^T v)^2 v v^T] = ||g||^2 I + 2 g g^T - 2 diag(g^2); subtract g g^T.
    Its trace is (d - 1)||g||^2, matching ``rademacher_error``.
    """
    eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
    return (g @ g) * eye + torch.outer(g, g) - 2 * torch.diag(g * g)


# ---------------------------------------------------------------------------------------------------
# Bounds, as the right-hand sides they assert
# ---------------------------------------------------------------------------------------------------


def z_seed_1_rhs(*, mu: float, L: float, d: int, g_norm: float) -> float:
    """(Z-seed-1) E<g, grad_hat phi - grad phi> <= (mu/2) L (d + 3)^{3/2} ||g||, any fixed g. THEORY 4.1."""
    return 0.5 * mu * L * (d + 3) ** 1.5 * g_norm


def z_seed_2_rhs(grad_norm2: float, *, mu: float, L: float, d: int) -> float:
    """(Z-seed-2) E||grad_hat phi - grad phi||^2 <= 32 d ||grad phi||^2 + 108 mu^2 L^2 d^4. THEORY 4.1."""
    return 32 * d * grad_norm2 + 108 * mu**2 * L**2 * d**4


def ns1_smoothing_gap_bound(*, mu: float, L: float, d: int) -> float:
    """(NS-1) |phi_mu(x) - phi(x)| <= (mu^2/2) L d (and phi_mu >= phi when phi is convex). THEORY 4.2."""
    return 0.5 * mu**2 * L * d


def ns2_bias_bound(*, mu: float, L: float, d: int) -> float:
    """(NS-2) ||grad phi_mu(x) - grad phi(x)|| <= (mu/2) L (d + 3)^{3/2}. THEORY 4.2."""
    return 0.5 * mu * L * (d + 3) ** 1.5


def ns4_second_moment_bound(grad_norm2: float, *, mu: float, L: float, d: int) -> float:
    """(NS-4) E||g_F||^2 <= 2(d + 4)||grad phi||^2 + (mu^2/2) L^2 (d + 6)^3 (forward form). THEORY 4.2."""
    return 2 * (d + 4) * grad_norm2 + 0.5 * mu**2 * L**2 * (d + 6) ** 3


def ns5_central_second_moment_bound(grad_norm2: float, *, mu: float, L: float, d: int) -> float:
    """(NS-5) E||g_C||^2 <= 2(d + 4)||grad phi||^2 + (mu^2/8) L^2 (d + 6)^3 (stated by NS for convex phi).
    THEORY 4.2."""
    return 2 * (d + 4) * grad_norm2 + 0.125 * mu**2 * L**2 * (d + 6) ** 3


def d1_second_moment_bound(grad_norm2: float, *, mu: float, L: float, d: int) -> float:
    """(D-1) E||g_hat||^2 <= 2(d + 2)||grad phi||^2 + (mu^2 L^2/2) d(d+2)(d+4), both forms, nonconvex. THEORY 4.4.

    From |rho| <= (L/2) mu ||u||^2 for the remainder rho = (finite difference) - g^T u and E||u||^6.
    """
    return 2 * (d + 2) * grad_norm2 + 0.5 * mu**2 * L**2 * d * (d + 2) * (d + 4)


def d2_error_bound(grad_norm2: float, *, mu: float, L: float, d: int) -> float:
    """(D-2) E||g_hat - grad phi||^2 <= 2(d + 1)||grad phi||^2 + (mu^2 L^2/2) d(d+2)(d+4); implies (Z-seed-2).
    THEORY 4.4."""
    return 2 * (d + 1) * grad_norm2 + 0.5 * mu**2 * L**2 * d * (d + 2) * (d + 4)
