"""Seeded, chunked Monte Carlo moments of the ZO estimators with standard errors, and the verdicts built from
them (THEORY 4.6, section 7 conventions).

* ``monte_carlo_moments`` / ``monte_carlo_smoothing_gap``: the same seed and chunking give the same numbers;
* ``two_sided_check`` / ``one_sided_check`` turn (measured, se, theory) into a ``theory.checks.CheckResult``
  with the slack reported;
* ``second_moment_bound_checks``: check 4 at one point, against the bounds of ``moments``.
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
from .moments import (
    d1_second_moment_bound,
    d2_error_bound,
    ns4_second_moment_bound,
    ns5_central_second_moment_bound,
    z_seed_2_rhs,
)

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
    _check_moment_inputs(x, n_samples, antithetic, control_variate, grad)
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
        signs = (1.0, -1.0) if antithetic else (1.0,)
        parts = [
            _unit_columns(
                loss_fn, x.expand(m, d), u if s > 0 else -u, mu, form, f0, grad, control_variate, second_moment
            )
            for s in signs
        ]
        acc.add(sum(parts) / len(parts))
        done += m
    return _moments_from_columns(acc, d, n_units, antithetic, grad is not None, second_moment)


def _check_moment_inputs(x: Tensor, n_samples: int, antithetic: bool, control_variate: bool, grad) -> None:
    if x.dim() != 1:
        raise ValueError(f"monte_carlo_moments takes one point x of shape (d,), got {tuple(x.shape)}")
    if n_samples < 2 or (antithetic and n_samples < 4):
        raise ValueError(f"n_samples must be >= 2 (>= 4 with antithetic pairs), got {n_samples}")
    if control_variate and grad is None:
        raise ValueError("control_variate needs the exact gradient: pass grad=")


def _unit_columns(
    loss_fn, xb: Tensor, us: Tensor, mu: float, form: Form, f0, grad, control_variate: bool, second_moment: bool
) -> Tensor:
    """One row per direction of ``us`` (shape (1, m, d)): g_hat, ||g_hat||^2, then ||g_hat - grad||^2 and the
    bias sample when ``grad`` is given, then g_hat g_hat^T flattened when ``second_moment``."""
    m, d = xb.shape
    est = zo_gradient_along(loss_fn, xb, us, mu=mu, form=form, loss_at_x=f0).grad  # (m, d)
    cols = [est, (est * est).sum(-1, keepdim=True)]
    if grad is not None:
        err = est - grad
        cols.append((err * err).sum(-1, keepdim=True))
        cv = est - (us[0] @ grad).unsqueeze(-1) * us[0] if control_variate else err
        cols.append(cv)
    if second_moment:
        cols.append((est.unsqueeze(-1) * est.unsqueeze(-2)).reshape(m, d * d))
    return torch.cat(cols, dim=-1)


def _moments_from_columns(
    acc: _Running, d: int, n_units: int, antithetic: bool, with_grad: bool, second_moment: bool
) -> MonteCarloMoments:
    """Cut the running column means and standard errors back into the fields of ``MonteCarloMoments``."""
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
    if with_grad:
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
