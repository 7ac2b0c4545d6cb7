"""The reference theorem (Theorem R, THEORY 6): step-size conditions, the bound B_R and the epoch complexity
(the predictions of 6.4 and 6.5 are in ``predictions``).

Setting (THEORY 6.1): hybrid RR, Jacobi updates, fo_point = clean, Gaussian ZO with q directions, under
(R1) -Lambda <= grad^2 f_i <= Lambda and (R2) block sample variances sigma_x^2, sigma_y^2. Below and in the
keyword arguments L_x, L_y of every function here stand for the (R1) constants Lambda_x, Lambda_y (THEORY 6.1:
"L_x and L_y play the role of L_x,max and L_y,max"); ``RefConstants`` names them Lambda_x, Lambda_y and builds
them from a problem. The caps themselves are computed in ``theory.caps``. With Lt := max(eta_x L_x, eta_y L_y):

    (C1)  8 n Lt <= 1                      (C2)  96 (d_x + 1)/q * eta_x L_x <= 1

    B_R = 3 Delta0/(n T) + 5 n Lt^2 (eta_x sx2 + eta_y sy2) + 26 (d_x + 1)/q L_x eta_x^2 sx2
          + (5/2)/q L_x^3 mu^2 eta_x^2 d_x (d_x + 2)(d_x + 4) + (3/4) L_x^2 mu^2 eta_x (d_x + 3)^3

bounds (1/T) sum_t E[eta_x ||grad_x f(z_t)||^2 + eta_y ||grad_y f(z_t)||^2]. Every function takes the
constants keyword-only and raises ValueError (one line, naming the condition and the numbers) on bad input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from ..objectives.base import Objective
from .caps import C1_FACTOR, C2_FACTOR, CAP_RTOL, theorem_r_caps, theorem_r_lhs

__all__ = [
    "C1_FACTOR",
    "C2_FACTOR",
    "RefConstants",
    "initial_gap",
    "StepSizeConditions",
    "StepSizeCaps",
    "step_size_conditions",
    "require_step_sizes",
    "admissible_step_sizes",
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
]


# --- input validation ------------------------------------------------------------------------------------


def _nonneg(name: str, value: float) -> float:
    value = float(value)
    if math.isnan(value) or value < 0 or value == math.inf:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return value


def _pos(name: str, value: float, *, allow_inf: bool = False) -> float:
    value = float(value)
    if math.isnan(value) or value <= 0 or (value == math.inf and not allow_inf):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return value


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _dim(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


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
        _count("n", self.n)
        _dim("d_x", self.d_x)
        _pos("Lambda_x", self.Lambda_x)
        _pos("Lambda_y", self.Lambda_y)
        _nonneg("sigma2_x", self.sigma2_x)
        _nonneg("sigma2_y", self.sigma2_y)
        _nonneg("gap0", self.gap0)
        _count("q", self.q)

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
            L_x=self.Lambda_x,
            L_y=self.Lambda_y,
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


def _consts(n, d_x, L_x, L_y, sx2, sy2, gap0, q) -> RefConstants:
    return RefConstants(n=n, d_x=d_x, Lambda_x=L_x, Lambda_y=L_y, sigma2_x=sx2, sigma2_y=sy2, gap0=gap0, q=q)


# --- (C1)-(C2), computed by theory.caps ---------------------------------------------------------------------


@dataclass(frozen=True)
class StepSizeConditions:
    """(C1)-(C2) evaluated at (eta_x, eta_y). Each ``*_lhs`` must be <= 1.

    c1x_lhs = 8 n eta_x L_x, c1y_lhs = 8 n eta_y L_y (their max is (C1)'s 8 n Lt), c2_lhs = 96 (d_x+1)/q eta_x L_x.
    ``binding`` names the largest left-hand side ("C1x", "C1y" or "C2"); ``margin`` = 1/max(lhs) is the factor
    by which both step sizes could grow (> 1: slack, < 1: violated).
    """

    eta_x: float
    eta_y: float
    c1x_lhs: float
    c1y_lhs: float
    c2_lhs: float
    binding: Literal["C1x", "C1y", "C2"]
    margin: float
    holds: bool

    def explanation(self) -> str:
        parts = [
            f"(C1) x: 8 n eta_x L_x = {self.c1x_lhs:.4g}",
            f"(C1) y: 8 n eta_y L_y = {self.c1y_lhs:.4g}",
            f"(C2): 96 (d_x+1)/q eta_x L_x = {self.c2_lhs:.4g}",
        ]
        state = "hold" if self.holds else "are violated"
        return f"conditions {state}; binding {self.binding} (margin {self.margin:.4g}); " + ", ".join(parts)


def step_size_conditions(
    eta_x: float, eta_y: float, *, n: int, d_x: int, L_x: float, L_y: float, q: int = 1
) -> StepSizeConditions:
    """Evaluate (C1)-(C2) (THEORY 6.1; q directions divide (d_x + 1) by q) and say which binds, by how much.
    ``L_x``, ``L_y`` here and in every function of this module are the (R1) constants Lambda_x, Lambda_y."""
    eta_x, eta_y = _pos("eta_x", eta_x), _pos("eta_y", eta_y)
    n, d_x, q = _count("n", n), _dim("d_x", d_x), _count("q", q)
    L_x, L_y = _pos("L_x", L_x), _pos("L_y", L_y)
    lhs = theorem_r_lhs(eta_x, eta_y, n=n, d_x=d_x, Lambda_x=L_x, Lambda_y=L_y, q=q)
    binding = max(lhs, key=lhs.get)
    worst = lhs[binding]
    return StepSizeConditions(
        eta_x, eta_y, lhs["C1x"], lhs["C1y"], lhs["C2"], binding, 1.0 / worst, worst <= 1.0 + CAP_RTOL
    )


def require_step_sizes(
    eta_x: float, eta_y: float, *, n: int, d_x: int, L_x: float, L_y: float, q: int = 1
) -> StepSizeConditions:
    """Like ``step_size_conditions`` but raise ValueError naming every violated condition and its numbers."""
    cond = step_size_conditions(eta_x, eta_y, n=n, d_x=d_x, L_x=L_x, L_y=L_y, q=q)
    if not cond.holds:
        bad = []
        if cond.c1x_lhs > 1 + CAP_RTOL:
            bad.append(f"(C1) 8 n eta_x L_x = 8*{n}*{eta_x:.4g}*{L_x:.4g} = {cond.c1x_lhs:.4g} > 1")
        if cond.c1y_lhs > 1 + CAP_RTOL:
            bad.append(f"(C1) 8 n eta_y L_y = 8*{n}*{eta_y:.4g}*{L_y:.4g} = {cond.c1y_lhs:.4g} > 1")
        if cond.c2_lhs > 1 + CAP_RTOL:
            bad.append(f"(C2) 96 (d_x+1)/q eta_x L_x = 96*{d_x + 1}/{q}*{eta_x:.4g}*{L_x:.4g} = {cond.c2_lhs:.4g} > 1")
        raise ValueError("step sizes violate Theorem R: " + "; ".join(bad))
    return cond


@dataclass(frozen=True)
class StepSizeCaps:
    """The largest step sizes (C1)-(C2) allow, per block, and which condition sets each cap."""

    eta_x: float
    eta_y: float
    binding_x: Literal["C1", "C2"]
    binding_y: Literal["C1"]
    explanation: str


def admissible_step_sizes(L_x: float, L_y: float, n: int, d_x: int, q: int = 1) -> StepSizeCaps:
    """Caps eta_x <= 1/(L_x max(8n, 96(d_x+1)/q)) and eta_y <= 1/(8 n L_y) (THEORY 6.1, 6.4), L_b the (R1) Lambda_b.

    (C1) is separable in the blocks (Lt is a max), so the two caps can be chosen independently.
    """
    L_x, L_y = _pos("L_x", L_x), _pos("L_y", L_y)
    n, d_x, q = _count("n", n), _dim("d_x", d_x), _count("q", q)
    caps = theorem_r_caps(n=n, d_x=d_x, Lambda_x=L_x, Lambda_y=L_y, q=q)
    c1x, c2x = caps.c1_factor, caps.c2_factor
    eta_x, eta_y = caps.eta_x, caps.eta_y
    if caps.binding_x == "C2":
        why_x = (
            f"eta_x <= {eta_x:.4g}: (C2) binds, 96 (d_x+1)/q = {c2x:.4g} > 8 n = {c1x:.4g} "
            "(the ZO variance, not the reshuffling drift, limits the x step)"
        )
    else:
        why_x = (
            f"eta_x <= {eta_x:.4g}: (C1) binds, 8 n = {c1x:.4g} >= 96 (d_x+1)/q = {c2x:.4g} "
            "(the reshuffling drift limits the x step)"
        )
    why_y = f"eta_y <= {eta_y:.4g}: (C1) binds, 8 n L_y = {c1x * L_y:.4g} (the y block has no ZO condition)"
    return StepSizeCaps(eta_x, eta_y, caps.binding_x, "C1", why_x + "; " + why_y)


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
    L_x: float,
    L_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    q: int = 1,
) -> BoundTerms:
    """The terms of B_R; raises ValueError if (C1)-(C2) fail (the bound is only proved under them).
    T = inf gives the noise floor (optimisation term 0)."""
    c = _consts(n, d_x, L_x, L_y, sx2, sy2, gap0, q)
    require_step_sizes(eta_x, eta_y, n=n, d_x=d_x, L_x=L_x, L_y=L_y, q=q)
    mu, T = _nonneg("mu", mu), _pos("T", T, allow_inf=True)
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
    L_x: float,
    L_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    q: int = 1,
) -> float:
    """B_R of THEORY 6.1 (bound on the step-weighted average squared gradient); see ``B_ref_terms``."""
    return B_ref_terms(eta_x, eta_y, mu, T, n=n, d_x=d_x, L_x=L_x, L_y=L_y, sx2=sx2, sy2=sy2, gap0=gap0, q=q).total


def B_ref_bounded_gradient(
    eta_x: float,
    eta_y: float,
    mu: float,
    T: float,
    *,
    n: int,
    d_x: int,
    L_x: float,
    L_y: float,
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
    c = _consts(n, d_x, L_x, L_y, sx2, sy2, gap0, 1)
    G_x_max = _nonneg("G_x_max", G_x_max)
    eta_x, eta_y = _pos("eta_x", eta_x), _pos("eta_y", eta_y)
    mu, T = _nonneg("mu", mu), _pos("T", T, allow_inf=True)
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
    L_x: float,
    L_y: float,
    sx2: float,
    sy2: float,
    q: int = 1,
) -> float:
    """Per-epoch additive error of the descent inequality (THEORY 6.2 step 5); sigma' = T * N_epoch (5.1):

        N_epoch = 1.6 n^2 Lt^2 st2 + 4.8 a (eta_x L_x) n eta_x sx2 + 1.6 (eta_x L_x) n eta_x s_mu + 1.03 n beta^2,
        a = 2 (d_x + 1)/q, s_mu = (mu^2 L_x^2 / 2) d_x (d_x+2)(d_x+4)/q, beta^2 = eta_x (mu^2/4) L_x^2 (d_x+3)^3.

    q directions divide the zero-mean ZO parts (a and s_mu) by q, as in 6.1; q = 1 is THEORY's formula.
    """
    c = _consts(n, d_x, L_x, L_y, sx2, sy2, 0.0, q)
    eta_x, eta_y, mu = _pos("eta_x", eta_x), _pos("eta_y", eta_y), _nonneg("mu", mu)
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
    B, eta_x, eta_y = _nonneg("B", B), _pos("eta_x", eta_x), _pos("eta_y", eta_y)
    eta_min = min(eta_x, eta_y)
    hp = None
    if delta is not None:
        delta = _pos("delta", delta)
        if delta >= 1:
            raise ValueError(f"delta must lie in (0, 1), got {delta}")
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
    L_x: float,
    L_y: float,
    sx2: float,
    sy2: float,
    gap0: float,
    q: int = 1,
) -> int | None:
    """Smallest T with B_R/(delta eta_min) <= eps^2 (Markov; THEORY 6.3); None if the noise floor is above it."""
    eps, delta = _pos("eps", eps), _pos("delta", delta)
    if delta > 1:
        raise ValueError(f"delta must lie in (0, 1], got {delta}")
    floor = B_ref_terms(
        eta_x, eta_y, mu, math.inf, n=n, d_x=d_x, L_x=L_x, L_y=L_y, sx2=sx2, sy2=sy2, gap0=gap0, q=q
    ).floor
    budget = delta * min(eta_x, eta_y) * eps**2 - floor
    if budget <= 0:
        return None
    return max(1, math.ceil(3.0 * gap0 / (n * budget)))


def default_mu(eps: float, delta: float, *, L_x: float, d_x: int) -> float:
    """mu with (3/4) L_x^2 mu^2 (d_x+3)^3 = delta eps^2 / 4: the smoothing bias takes a quarter of the budget."""
    return eps * math.sqrt(delta / 3.0) / (L_x * (d_x + 3) ** 1.5)


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
    L_x: float,
    L_y: float,
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
    eps, delta = _pos("eps", eps), _pos("delta", delta)
    _consts(n, d_x, L_x, L_y, sx2, sy2, gap0, q)
    mu = default_mu(eps, delta, L_x=L_x, d_x=d_x) if mu is None else _nonneg("mu", mu)
    caps = admissible_step_sizes(L_x, L_y, n, d_x, q)
    best = None
    for k in range(_count("n_grid", n_grid)):
        theta = 10.0 ** (-k / 8)
        ex, ey = theta * caps.eta_x, theta * caps.eta_y
        T = T_required_ref(eps, delta, ex, ey, mu, n=n, d_x=d_x, L_x=L_x, L_y=L_y, sx2=sx2, sy2=sy2, gap0=gap0, q=q)
        if T is not None and (best is None or T < best.T):
            best = TunedComplexity(T, theta, mu, ex, ey)
    return best


def T_tuned_closed_form(
    eps: float, delta: float, *, n: int, d_x: int, L_x: float, sx2: float, gap0: float, q: int = 1
) -> float:
    """ZO-variance-dominated leading order T = 312 (d_x+1)/q L_x sx2 Delta0 / (n delta^2 eps^4) (THEORY 6.3),
    ignoring the caps and the other floor terms (a lower bound on what the grid search can reach is not implied)."""
    eps, delta = _pos("eps", eps), _pos("delta", delta)
    return 312.0 * (d_x + 1) / q * L_x * sx2 * gap0 / (n * delta**2 * eps**4)
