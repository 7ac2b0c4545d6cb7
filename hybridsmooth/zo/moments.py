"""Exact ZO moments, the ZO bounds as functions, and Monte Carlo moments with standard errors.

Notation (THEORY 4): phi is a function of one block x in R^d, g := grad phi(x), L its gradient-Lipschitz
constant, mu > 0 the smoothing radius, u ~ N(0, I_d), v Rademacher. Estimators (THEORY 2.2):
g_C = [phi(x+mu u) - phi(x-mu u)]/(2mu) u,  g_F = [phi(x+mu u) - phi(x)]/mu u,  g_S = central along v.

Three groups:

* closed forms on quadratics phi = 1/2 x^T A x + b^T x (THEORY 4.3) and moments of ||u||;
* the bounds of THEORY 4.1 (seed), 4.2 (Nesterov-Spokoiny / Ghadimi-Lan) and 4.4 (derived here), each as
  the right-hand side it asserts;
* ``monte_carlo_moments`` / ``monte_carlo_smoothing_gap``: seeded, chunked Monte Carlo with standard
  errors, and ``two_sided_check`` / ``one_sided_check`` that turn (measured, se, theory) into a
  ``theory.checks.CheckResult`` with the slack reported (THEORY 4.6, section 7 conventions).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..rng import derive_seed
from ..theory.checks import CheckResult, one_sided, two_sided
from .estimators import Form, check_form, check_mu, draw_directions, zo_gradient_along

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


# ---------------------------------------------------------------------------------------------------
# Verdicts (THEORY 4.6, section 7 conventions)
# ---------------------------------------------------------------------------------------------------

# The project has one verdict vocabulary, ``theory.checks.CheckResult``; these are its Monte Carlo constructors.
# ``details`` keeps the numbers a caller needs beyond the result: the standard error ``se``, the multiplier ``k``
# and, for two-sided checks, the z-score ``z``.


def two_sided_check(
    measured: float,
    se: float,
    exact: float,
    *,
    k: float = 5.0,
    rtol: float = 1e-10,
    atol: float = 0.0,
    check: str = "Monte Carlo = exact",
    instance: str = "",
) -> CheckResult:
    """Pass when |measured - exact| <= k se + rtol |exact| + atol; rtol and atol are float-rounding allowances for
    the cases where the estimator is deterministic (se = 0), e.g. Rademacher at d = 1."""
    measured, se, exact = float(measured), float(se), float(exact)
    gap = abs(measured - exact)
    z = gap / se if se > 0 else (0.0 if gap == 0 else math.inf)
    return two_sided(
        check, instance, measured, exact, atol=atol, rtol=rtol, se=se, k=k, details={"se": se, "k": k, "z": z}
    )


def one_sided_check(
    measured: float, se: float, bound: float, *, k: float = 4.0, check: str = "Monte Carlo <= bound", instance: str = ""
) -> CheckResult:
    """Pass when measured + k se <= bound; slack = bound / measured (None when measured <= 0), and a pass with
    slack > 1e3 is a ``vacuous pass``."""
    return one_sided(check, instance, measured, bound, se=se, k=k, details={"se": float(se), "k": k})


# ---------------------------------------------------------------------------------------------------
# Monte Carlo
# ---------------------------------------------------------------------------------------------------


@dataclass
class _Running:
    """Column-wise running mean and sum of squared deviations (Chan et al. merge), float64."""

    count: int = 0
    mean: Tensor | None = None
    m2: Tensor | None = None

    def add(self, rows: Tensor) -> None:
        n_b = rows.shape[0]
        mean_b = rows.mean(0)
        m2_b = ((rows - mean_b) ** 2).sum(0)
        if self.mean is None:
            self.count, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.count + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta**2 * (self.count * n_b / n)
        self.count = n

    def se(self) -> Tensor:
        return torch.sqrt(self.m2 / (self.count - 1) / self.count)


@dataclass(frozen=True)
class MonteCarloMoments:
    """Sample moments of a single-direction ZO estimator at one point, each with its standard error.

    n_directions: directions evaluated; n_units: independent units (antithetic pairs count once).
    mean, mean_se:       E g_hat per coordinate.
    sq_norm(_se):        E||g_hat||^2.
    err_sq_norm(_se):    E||g_hat - grad||^2        (when ``grad`` was given).
    bias, bias_se:       E g_hat - grad            (when ``grad`` was given; control-variate estimate
                                                    E[g_hat - (grad^T u) u] when ``control_variate``).
    second_moment(_se):  E[g_hat g_hat^T]           (when ``second_moment`` was requested).
    """

    n_directions: int
    n_units: int
    mean: Tensor
    mean_se: Tensor
    sq_norm: float
    sq_norm_se: float
    err_sq_norm: float | None = None
    err_sq_norm_se: float | None = None
    bias: Tensor | None = None
    bias_se: Tensor | None = None
    second_moment: Tensor | None = None
    second_moment_se: Tensor | None = None

    def covariance(self) -> Tensor:
        """E[g g^T] - E g E g^T from the sample moments (needs ``second_moment``)."""
        if self.second_moment is None:
            raise ValueError("covariance needs monte_carlo_moments(..., second_moment=True)")
        return self.second_moment - torch.outer(self.mean, self.mean)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(derive_seed(seed))
    return gen


def _rows_per_chunk(chunk: int, columns: int) -> int:
    # keep one chunk's statistics under ~4M float64 entries (32 MB), whatever d is
    return max(2, min(chunk, (1 << 22) // max(columns, 1)))


def monte_carlo_moments(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    mu: float,
    form: Form,
    n_samples: int,
    seed: int,
    grad: Tensor | None = None,
    chunk: int = 8192,
    antithetic: bool = False,
    control_variate: bool = False,
    second_moment: bool = False,
) -> MonteCarloMoments:
    """Moments of the single-direction estimator g_hat(u) at ``x`` (shape (d,)) over ``n_samples`` directions.

    ``loss_fn`` maps (..., d) -> (...). Directions are drawn in chunks from a private generator seeded
    by ``seed`` (same seed, same chunking -> same numbers); each chunk is one batched evaluation.

    antithetic:      evaluate u and -u and average each pair (n_samples/2 units). For the forward form the
                     pair average is exactly the central estimator, which removes the odd O(mu) part of
                     the noise. For the central form it changes nothing: g_C(-u) = g_C(u) identically,
                     so pairs are duplicates (the se accounts for that by counting pairs).
    control_variate: estimate the bias as the mean of g_hat(u) - (grad^T u) u, which has the same mean
                     (E (g^T u) u = g for Gaussian and Rademacher u) but drops the O(sqrt(d)||g||) noise of
                     g_hat. Only this resolves the O(mu^2) bias of the central form at small mu (THEORY 4.6).
    """
    mu, form = check_mu(mu), check_form(form)
    if x.dim() != 1:
        raise ValueError(f"monte_carlo_moments takes one point x of shape (d,), got {tuple(x.shape)}")
    if n_samples < 2 or (antithetic and n_samples < 4):
        raise ValueError(f"n_samples must be >= 2 (>= 4 with antithetic pairs), got {n_samples}")
    if control_variate and grad is None:
        raise ValueError("control_variate needs the exact gradient: pass grad=")
    d = x.shape[0]
    n_units = n_samples // 2 if antithetic else n_samples
    columns = d + 2 + (d if grad is not None else 0) + (d * d if second_moment else 0)
    rows = _rows_per_chunk(chunk, columns)
    gen = _generator(seed, x.device)
    f0 = loss_fn(x) if form == "forward" else None
    acc = _Running()
    done = 0
    while done < n_units:
        m = min(rows, n_units - done)
        u = draw_directions((1, m, d), form=form, generator=gen, dtype=x.dtype, device=x.device)
        xb = x.expand(m, d)
        signs = (1.0, -1.0) if antithetic else (1.0,)
        parts = []
        for s in signs:
            us = u if s > 0 else -u
            est = zo_gradient_along(loss_fn, xb, us, mu=mu, form=form, loss_at_x=f0).grad  # (m, d)
            cols = [est, (est * est).sum(-1, keepdim=True)]
            if grad is not None:
                err = est - grad
                cols.append((err * err).sum(-1, keepdim=True))
                cv = est - (us[0] @ grad).unsqueeze(-1) * us[0] if control_variate else err
                cols.append(cv)
            if second_moment:
                cols.append((est.unsqueeze(-1) * est.unsqueeze(-2)).reshape(m, d * d))
            parts.append(torch.cat(cols, dim=-1))
        acc.add(sum(parts) / len(parts))
        done += m
    mean, se = acc.mean, acc.se()
    out = dict(
        n_directions=n_units * (2 if antithetic else 1),
        n_units=n_units,
        mean=mean[:d],
        mean_se=se[:d],
        sq_norm=float(mean[d]),
        sq_norm_se=float(se[d]),
    )
    pos = d + 1
    if grad is not None:
        out.update(
            err_sq_norm=float(mean[pos]),
            err_sq_norm_se=float(se[pos]),
            bias=mean[pos + 1 : pos + 1 + d],
            bias_se=se[pos + 1 : pos + 1 + d],
        )
        pos += 1 + d
    if second_moment:
        out.update(second_moment=mean[pos:].reshape(d, d), second_moment_se=se[pos:].reshape(d, d))
    return MonteCarloMoments(**out)


@dataclass(frozen=True)
class ScalarEstimate:
    """A Monte Carlo mean with its standard error over ``n_units`` independent units."""

    mean: float
    se: float
    n_units: int


def monte_carlo_smoothing_gap(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    mu: float,
    n_samples: int,
    seed: int,
    chunk: int = 8192,
    antithetic: bool = True,
) -> ScalarEstimate:
    """phi_mu(x) - phi(x) = E_u phi(x + mu u) - phi(x) by Monte Carlo (THEORY 4.2 NS-1, check 3).

    With ``antithetic`` (default) each unit is [phi(x+mu u) + phi(x-mu u)]/2 - phi(x), which cancels the
    first-order term mu g^T u whose noise would swamp the O(mu^2) gap at small mu.
    """
    mu = check_mu(mu)
    if x.dim() != 1:
        raise ValueError(f"monte_carlo_smoothing_gap takes one point x of shape (d,), got {tuple(x.shape)}")
    n_units = n_samples // 2 if antithetic else n_samples
    if n_units < 2:
        raise ValueError(f"n_samples must give at least 2 units, got {n_samples}")
    d = x.shape[0]
    gen = _generator(seed, x.device)
    f0 = loss_fn(x)
    acc = _Running()
    done = 0
    rows = _rows_per_chunk(chunk, d)
    while done < n_units:
        m = min(rows, n_units - done)
        u = torch.randn((m, d), generator=gen, dtype=x.dtype, device=x.device)
        if antithetic:
            unit = 0.5 * (loss_fn(x + mu * u) + loss_fn(x - mu * u)) - f0
        else:
            unit = loss_fn(x + mu * u) - f0
        acc.add(unit.unsqueeze(-1))
        done += m
    return ScalarEstimate(mean=float(acc.mean[0]), se=float(acc.se()[0]), n_units=n_units)


def second_moment_bound_checks(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    grad: Tensor,
    L: float,
    mu: float,
    form: Form,
    n_samples: int,
    seed: int,
    k: float = 4.0,
) -> dict[str, CheckResult]:
    """Check 4 at one point: measure E||g_hat - grad||^2 and E||g_hat||^2, test them one-sidedly against
    (D-2), (Z-seed-2), (D-1), (NS-4) and (NS-5) (THEORY 4.1, 4.2, 4.4), each with its slack.

    (NS-5) is stated for convex phi only; it is returned for every phi so that its status on nonconvex
    instances is visible, and callers decide whether to require it.
    """
    mc = monte_carlo_moments(loss_fn, x, mu=mu, form=form, n_samples=n_samples, seed=seed, grad=grad)
    d, g2 = x.shape[0], float(grad @ grad)
    err, err_se, sq, sq_se = mc.err_sq_norm, mc.err_sq_norm_se, mc.sq_norm, mc.sq_norm_se
    return {
        "D-2": one_sided_check(err, err_se, d2_error_bound(g2, mu=mu, L=L, d=d), k=k, check="(D-2)"),
        "Z-seed-2": one_sided_check(err, err_se, z_seed_2_rhs(g2, mu=mu, L=L, d=d), k=k, check="(Z-seed-2)"),
        "D-1": one_sided_check(sq, sq_se, d1_second_moment_bound(g2, mu=mu, L=L, d=d), k=k, check="(D-1)"),
        "NS-4": one_sided_check(sq, sq_se, ns4_second_moment_bound(g2, mu=mu, L=L, d=d), k=k, check="(NS-4)"),
        "NS-5": one_sided_check(sq, sq_se, ns5_central_second_moment_bound(g2, mu=mu, L=L, d=d), k=k, check="(NS-5)"),
    }
