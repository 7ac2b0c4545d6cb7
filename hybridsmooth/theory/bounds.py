"""Theorem R's bound B_R and epoch complexity (THEORY 6.1-6.3): the constants it needs, its terms, what it
implies for stationarity, and the number of epochs to reach a target. The step-size conditions (C1)-(C2) it
rests on are in ``step_sizes``; the predictions of 6.4 and 6.5 are in ``predictions``.

Setting (THEORY 6.1): hybrid RR, Jacobi updates, fo_point = clean, Gaussian ZO with q directions, under
(R1) -Lambda <= grad^2 f_i <= Lambda and (R2) block sample variances sigma_x^2, sigma_y^2. In the formulas below
(THEORY's notation) L_x, L_y stand for the (R1) constants Lambda_x, Lambda_y (THEORY 6.1: "L_x and L_y play the
role of L_x,max and L_y,max"); every function here takes them as the keyword arguments ``Lambda_x``, ``Lambda_y``
(not the block constants ``Constants.L_x``, ``L_y``), and ``RefConstants`` names its fields the same and builds
them from a problem. With Lt := max(eta_x L_x, eta_y L_y) and (C1)-(C2) holding,

    B_R = 3 Delta0/(n T) + 5 n Lt^2 (eta_x sx2 + eta_y sy2) + 26 (d_x + 1)/q L_x eta_x^2 sx2
          + (5/2)/q L_x^3 mu^2 eta_x^2 d_x (d_x + 2)(d_x + 4) + (3/4) L_x^2 mu^2 eta_x (d_x + 3)^3

bounds (1/T) sum_t E[eta_x ||grad_x f(z_t)||^2 + eta_y ||grad_y f(z_t)||^2]. Every function takes the
constants keyword-only and raises ValueError (one line, naming the condition and the numbers) on bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..objectives.base import Objective
from .arguments import count, dim, nonneg, open_unit, pos
from .caps import C1_FACTOR, CAP_RTOL
from .step_sizes import StepSizeCaps, admissible_step_sizes, require_step_sizes

__all__ = [
    "RefConstants",
    "initial_gap",
    "BoundTerms",
    "B_ref_terms",
    "B_ref",
    "B_ref_bounded_gradient",
    "N_epoch",
    "StationarityBounds",
    "stationarity_bounds",
    "T_required_ref",
    "default_mu",
    "TunedComplexity",
    "T_required_ref_tuned",
    "T_tuned_closed_form",
    "rounding_noise_terms",
]


@dataclass(frozen=True)
class RefConstants:
    """The constants Theorem R needs (THEORY 6.1): n samples, ZO dimension d_x, the joint (R1) constants
    Lambda_x, Lambda_y (THEORY 3.5; not the block constants L_x, L_y of (H1)-(H2)), the (R2) sample variances
    sigma2_x, sigma2_y, the initial gap Delta0 = f(z_0) - f*, and q ZO directions."""

    n: int
    d_x: int
    Lambda_x: float
    Lambda_y: float
    sigma2_x: float
    sigma2_y: float
    gap0: float
    q: int = 1

    def __post_init__(self):
        count("n", self.n)
        dim("d_x", self.d_x)
        pos("Lambda_x", self.Lambda_x)
        pos("Lambda_y", self.Lambda_y)
        nonneg("sigma2_x", self.sigma2_x)
        nonneg("sigma2_y", self.sigma2_y)
        nonneg("gap0", self.gap0)
        count("q", self.q)

    @classmethod
    def from_problem(
        cls, objective: Objective, *, gap0: float | None = None, Lambda: tuple[float, float] | None = None, q: int = 1
    ) -> RefConstants:
        """Read an objective's stated ``Constants``: (R1) from ``joint_L_x``, ``joint_L_y`` (or ``Lambda`` when
        the caller found a smaller valid pair, e.g. on the ray of the block norms), (R2) from ``sigma2_x``,
        ``sigma2_y``, and Delta0 = f(z_0) - f_star unless ``gap0`` is given."""
        c = objective.constants
        lam_x, lam_y = Lambda if Lambda is not None else (c.joint_L_x, c.joint_L_y)
        gap0 = initial_gap(objective) if gap0 is None else gap0
        return cls(
            n=objective.n,
            d_x=objective.d_x,
            Lambda_x=lam_x,
            Lambda_y=lam_y,
            sigma2_x=c.sigma2_x,
            sigma2_y=c.sigma2_y,
            gap0=gap0,
            q=q,
        )

    def caps(self) -> StepSizeCaps:
        return admissible_step_sizes(self.Lambda_x, self.Lambda_y, self.n, self.d_x, self.q)

    def bound_terms(self, eta_x: float, eta_y: float, mu: float, T: float) -> BoundTerms:
        return B_ref_terms(eta_x, eta_y, mu, T, **self._keywords())

    def N_epoch(self, eta_x: float, eta_y: float, mu: float) -> float:
        kw = self._keywords()
        kw.pop("gap0")
        return N_epoch(eta_x, eta_y, mu, **kw)

    def _keywords(self) -> dict:
        return dict(
            n=self.n,
            d_x=self.d_x,
            Lambda_x=self.Lambda_x,
            Lambda_y=self.Lambda_y,
            sx2=self.sigma2_x,
            sy2=self.sigma2_y,
            gap0=self.gap0,
            q=self.q,
        )


def initial_gap(objective: Objective) -> float:
    """Delta0 = f(z_0) - f_star from the objective's start point and stated f_star (an over-estimate when f_star
    is only a lower bound, which keeps B_R valid)."""
    x0, y0 = objective.initial_point()
    return float(objective.loss(x0, y0)) - objective.constants.f_star


def _consts(n, d_x, Lambda_x, Lambda_y, sx2, sy2, gap0, q) -> RefConstants:
    return RefConstants(n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, sigma2_x=sx2, sigma2_y=sy2, gap0=gap0, q=q)


# --- the bound and its pieces ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BoundTerms:
    """The five terms of B_R (THEORY 6.1); ``total`` is their sum, ``floor`` the sum without the 1/T term."""

    optimisation: float  # 3 Delta0 / (n T)
    reshuffling: float  # 5 n Lt^2 (eta_x sx2 + eta_y sy2)
    zo_variance: float  # 26 (d_x + 1)/q L_x eta_x^2 sx2
    zo_remainder: float  # (5/2)/q L_x^3 mu^2 eta_x^2 d_x (d_x + 2)(d_x + 4)
    smoothing_bias: float  # (3/4) L_x^2 mu^2 eta_x (d_x + 3)^3

    @property
    def floor(self) -> float:
        return self.reshuffling + self.zo_variance + self.zo_remainder + self.smoothing_bias

    @property
    def total(self) -> float:
        return self.optimisation + self.floor


def B_ref_terms(
    eta_x: float,
    eta_y: float,
    mu: float,
    T: float,
    *,
    n: int,
    d_x: int,
    Lambda_x: float,
    Lambda_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    q: int = 1,
) -> BoundTerms:
    """The terms of B_R; raises ValueError if (C1)-(C2) fail (the bound is only proved under them).
    T = inf gives the noise floor (optimisation term 0)."""
    c = _consts(n, d_x, Lambda_x, Lambda_y, sx2, sy2, gap0, q)
    require_step_sizes(eta_x, eta_y, n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, q=q)
    mu, T = nonneg("mu", mu), pos("T", T, allow_inf=True)
    Lt = max(eta_x * c.Lambda_x, eta_y * c.Lambda_y)
    dx = c.d_x
    return BoundTerms(
        optimisation=3.0 * c.gap0 / (c.n * T),
        reshuffling=5.0 * c.n * Lt**2 * (eta_x * c.sigma2_x + eta_y * c.sigma2_y),
        zo_variance=26.0 * (dx + 1) / c.q * c.Lambda_x * eta_x**2 * c.sigma2_x,
        zo_remainder=2.5 / c.q * c.Lambda_x**3 * mu**2 * eta_x**2 * dx * (dx + 2) * (dx + 4),
        smoothing_bias=0.75 * c.Lambda_x**2 * mu**2 * eta_x * (dx + 3) ** 3,
    )


def B_ref(
    eta_x: float,
    eta_y: float,
    mu: float,
    T: float,
    *,
    n: int,
    d_x: int,
    Lambda_x: float,
    Lambda_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    q: int = 1,
) -> float:
    """B_R of THEORY 6.1 (bound on the step-weighted average squared gradient); see ``B_ref_terms``."""
    return B_ref_terms(
        eta_x, eta_y, mu, T, n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, sx2=sx2, sy2=sy2, gap0=gap0, q=q
    ).total


def B_ref_bounded_gradient(
    eta_x: float,
    eta_y: float,
    mu: float,
    T: float,
    *,
    n: int,
    d_x: int,
    Lambda_x: float,
    Lambda_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    G_x_max: float,
) -> float:
    """The bounded-gradient variant (THEORY 6.1, the paper's style): (C1) only, ZO variance via G_x,max (S9):

        3 Delta0/(nT) + 3 n Lt^2 (eta_x sx2 + eta_y sy2)
        + 4 L_x eta_x^2 [2 (d_x+1) G_x,max^2 + (mu^2 L_x^2 / 2) d_x (d_x+2)(d_x+4)] + (3/4) L_x^2 mu^2 eta_x (d_x+3)^3.

    Valid only while the iterates stay where (S9) holds (what the stopping time tau_1 controls).
    """
    c = _consts(n, d_x, Lambda_x, Lambda_y, sx2, sy2, gap0, 1)
    G_x_max = nonneg("G_x_max", G_x_max)
    eta_x, eta_y = pos("eta_x", eta_x), pos("eta_y", eta_y)
    mu, T = nonneg("mu", mu), pos("T", T, allow_inf=True)
    Lt = max(eta_x * c.Lambda_x, eta_y * c.Lambda_y)
    if C1_FACTOR * c.n * Lt > 1 + CAP_RTOL:
        raise ValueError(f"step sizes violate (C1): 8 n Lt = 8*{c.n}*{Lt:.4g} = {8 * c.n * Lt:.4g} > 1")
    dx = c.d_x
    return (
        3.0 * c.gap0 / (c.n * T)
        + 3.0 * c.n * Lt**2 * (eta_x * c.sigma2_x + eta_y * c.sigma2_y)
        + 4.0
        * c.Lambda_x
        * eta_x**2
        * (2.0 * (dx + 1) * G_x_max**2 + 0.5 * mu**2 * c.Lambda_x**2 * dx * (dx + 2) * (dx + 4))
        + 0.75 * c.Lambda_x**2 * mu**2 * eta_x * (dx + 3) ** 3
    )


def N_epoch(
    eta_x: float,
    eta_y: float,
    mu: float,
    *,
    n: int,
    d_x: int,
    Lambda_x: float,
    Lambda_y: float,
    sx2: float,
    sy2: float,
    q: int = 1,
) -> float:
    """Per-epoch additive error of the descent inequality (THEORY 6.2 step 5); sigma' = T * N_epoch (5.1):

        N_epoch = 1.6 n^2 Lt^2 st2 + 4.8 a (eta_x L_x) n eta_x sx2 + 1.6 (eta_x L_x) n eta_x s_mu + 1.03 n beta^2,
        a = 2 (d_x + 1)/q, s_mu = (mu^2 L_x^2 / 2) d_x (d_x+2)(d_x+4)/q, beta^2 = eta_x (mu^2/4) L_x^2 (d_x+3)^3.

    q directions divide the zero-mean ZO parts (a and s_mu) by q, as in 6.1; q = 1 is THEORY's formula.
    """
    c = _consts(n, d_x, Lambda_x, Lambda_y, sx2, sy2, 0.0, q)
    eta_x, eta_y, mu = pos("eta_x", eta_x), pos("eta_y", eta_y), nonneg("mu", mu)
    Lt = max(eta_x * c.Lambda_x, eta_y * c.Lambda_y)
    a = 2.0 * (c.d_x + 1) / c.q
    s_mu = mu**2 * c.Lambda_x**2 / 2.0 * c.d_x * (c.d_x + 2) * (c.d_x + 4) / c.q
    beta2 = eta_x * mu**2 / 4.0 * c.Lambda_x**2 * (c.d_x + 3) ** 3
    return (
        1.6 * c.n**2 * Lt**2 * (eta_x * c.sigma2_x + eta_y * c.sigma2_y)
        + 4.8 * a * eta_x * c.Lambda_x * c.n * eta_x * c.sigma2_x
        + 1.6 * eta_x * c.Lambda_x * c.n * eta_x * s_mu
        + 1.03 * c.n * beta2
    )


@dataclass(frozen=True)
class StationarityBounds:
    """Consequences of B_R (THEORY 6.1): min_t E||grad f||^2 <= B/eta_min; per block (1/T) sum E||grad_b f||^2
    <= B/eta_b; with probability >= 1 - delta, (1/T) sum ||grad f||^2 <= B/(delta eta_min) (Markov)."""

    B: float
    full: float
    x_block: float
    y_block: float
    high_probability: float | None
    delta: float | None


def stationarity_bounds(B: float, eta_x: float, eta_y: float, *, delta: float | None = None) -> StationarityBounds:
    B, eta_x, eta_y = nonneg("B", B), pos("eta_x", eta_x), pos("eta_y", eta_y)
    eta_min = min(eta_x, eta_y)
    hp = None
    if delta is not None:
        delta = open_unit("delta", delta)
        hp = B / (delta * eta_min)
    return StationarityBounds(B, B / eta_min, B / eta_x, B / eta_y, hp, delta)


# --- epoch complexity -------------------------------------------------------------------------------------


def T_required_ref(
    eps: float,
    delta: float,
    eta_x: float,
    eta_y: float,
    mu: float,
    *,
    n: int,
    d_x: int,
    Lambda_x: float,
    Lambda_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    q: int = 1,
) -> int | None:
    """Smallest T with B_R/(delta eta_min) <= eps^2 (Markov; THEORY 6.3); None if the noise floor is above it."""
    eps, delta = pos("eps", eps), pos("delta", delta)
    if delta > 1:
        raise ValueError(f"delta must lie in (0, 1], got {delta}")
    floor = B_ref_terms(
        eta_x, eta_y, mu, math.inf, n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, sx2=sx2, sy2=sy2, gap0=gap0, q=q
    ).floor
    budget = delta * min(eta_x, eta_y) * eps**2 - floor
    if budget <= 0:
        return None
    return max(1, math.ceil(3.0 * gap0 / (n * budget)))


def default_mu(eps: float, delta: float, *, Lambda_x: float, d_x: int) -> float:
    """mu with (3/4) L_x^2 mu^2 (d_x+3)^3 = delta eps^2 / 4: the smoothing bias takes a quarter of the budget."""
    return eps * math.sqrt(delta / 3.0) / (Lambda_x * (d_x + 3) ** 1.5)


@dataclass(frozen=True)
class TunedComplexity:
    """Result of ``T_required_ref_tuned``: the least T over the grid, the scale theta of the caps and mu."""

    T: int
    theta: float
    mu: float
    eta_x: float
    eta_y: float


def T_required_ref_tuned(
    eps: float,
    delta: float,
    *,
    n: int,
    d_x: int,
    Lambda_x: float,
    Lambda_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    mu: float | None = None,
    q: int = 1,
    n_grid: int = 97,
) -> TunedComplexity | None:
    """Scale both caps by theta = 10^(-k/8), k = 0..n_grid-1, and keep the least T_required_ref (THEORY 6.3).

    Default mu: ``default_mu``. None if no grid point reaches eps (floor above eps^2 everywhere).
    """
    eps, delta = pos("eps", eps), pos("delta", delta)
    _consts(n, d_x, Lambda_x, Lambda_y, sx2, sy2, gap0, q)
    mu = default_mu(eps, delta, Lambda_x=Lambda_x, d_x=d_x) if mu is None else nonneg("mu", mu)
    caps = admissible_step_sizes(Lambda_x, Lambda_y, n, d_x, q)
    best = None
    for k in range(count("n_grid", n_grid)):
        theta = 10.0 ** (-k / 8)
        ex, ey = theta * caps.eta_x, theta * caps.eta_y
        T = T_required_ref(
            eps, delta, ex, ey, mu, n=n, d_x=d_x, Lambda_x=Lambda_x, Lambda_y=Lambda_y, sx2=sx2, sy2=sy2, gap0=gap0, q=q
        )
        if T is not None and (best is None or T < best.T):
            best = TunedComplexity(T, theta, mu, ex, ey)
    return best


def T_tuned_closed_form(
    eps: float, delta: float, *, n: int, d_x: int, Lambda_x: float, sx2: float, gap0: float, q: int = 1
) -> float:
    """ZO-variance-dominated leading order T = 312 (d_x+1)/q L_x sx2 Delta0 / (n delta^2 eps^4) (THEORY 6.3),
    ignoring the caps and the other floor terms (a lower bound on what the grid search can reach is not implied)."""
    eps, delta = pos("eps", eps), pos("delta", delta)
    return 312.0 * (d_x + 1) / q * Lambda_x * sx2 * gap0 / (n * delta**2 * eps**4)


def rounding_noise_terms(
    error_sq: float, eta_x: float, *, d_x: int, Lambda_x: float, sx2: float, q: int = 1
) -> tuple[float, float]:
    """(rounding term, ZO variance term) of B_R when every step also adds a rounding error e_t to x
    (low-precision weights, ``zo.precision``), with s^2 = E||e_t||^2 = ``error_sq`` per step.

    [DERIVED, in the proof of THEORY 6.2] x_{t+1} = x_t - eta_x g_t + e_t. In the rescaled coordinates
    w = D^{-1/2} z, e_t enters the epoch's noise m as e_t / sqrt(eta_x); if e_t is conditionally mean-zero
    and orthogonal across steps (like the ZO noise zeta_k), step 3's n^2 eta_x L_x E||m||^2 gains
    n^2 eta_x L_x (n s^2 / eta_x) / n^2 = n L_x s^2 per epoch, and after dividing by 3 n T / 8 (step 5),
    (8/3) L_x s^2 <= 3 L_x s^2 adds to B_R. Unlike every other term it does not shrink with eta_x: the
    rounding floor. A biased rounding (E e_t != 0) adds a drift term like the smoothing bias: not covered.
    Next to it, the ZO variance term 26 (d_x + 1)/q L_x eta_x^2 sx2; their ratio does not involve L_x."""
    nonneg("error_sq", error_sq)
    nonneg("eta_x", eta_x)
    dim("d_x", d_x)
    pos("Lambda_x", Lambda_x)
    nonneg("sx2", sx2)
    count("q", q)
    return 3.0 * Lambda_x * error_sq, 26.0 * (d_x + 1) / q * Lambda_x * eta_x**2 * sx2
