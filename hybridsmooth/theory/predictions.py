"""Predictions of Theorem R beyond the bound (THEORY 6.4, 6.5): the speed-up of two step sizes over one on the
separable quadratic, and the predicted log-log slopes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from .arguments import count, dim, pos

# --- 6.4: two step sizes vs one ---------------------------------------------------------------------------


def s_theory(rho: float, *, n: int, d_x: int, q: int = 1) -> float:
    """s_theory(rho) = max(1, rho max(1, 12 (d_x+1)/(q n))): ratio of the (C1)-(C2) adapter caps with two step
    sizes vs one shared step (THEORY 6.4). Information only: the caps are loose by block-dependent factors."""
    rho = pos("rho", rho)
    n, d_x, q = count("n", n), dim("d_x", d_x), count("q", q)
    return max(1.0, rho * max(1.0, 12.0 * (d_x + 1) / (q * n)))


def s_exact(rho: float, *, d_x: int, kappa_y: float, one_step: Literal["optimal", "edge"] = "optimal") -> float:
    """Exact y-target speed-up of two step sizes over one on the separable quadratic (THEORY 6.4), n = 1:

        eta_x0 = 1/(L_x (d_x+2)),  eta_y0 = 2/(L_y + m_y),  eta_1 = min(eta_x0, eta_y0),
        s_exact = log((kappa_y-1)/(kappa_y+1)) / log(1 - eta_1 m_y)   (~ 2 rho (d_x+2) when large).

    one_step="edge" uses the supremum of x-stable single steps, 2 eta_x0, instead (about half the ratio).
    Depends only on rho = L_x/L_y, d_x and kappa_y = L_y/m_y (we set L_y = 1).
    """
    rho, kappa_y, d_x = pos("rho", rho), pos("kappa_y", kappa_y), dim("d_x", d_x)
    if kappa_y <= 1:
        raise ValueError(f"kappa_y must exceed 1 (a y-spectrum [m_y, L_y] with m_y < L_y), got {kappa_y}")
    if one_step not in ("optimal", "edge"):
        raise ValueError(f"unknown one_step {one_step!r}; accepted: optimal, edge")
    L_y, m_y = 1.0, 1.0 / kappa_y
    L_x = rho * L_y
    eta_x0 = 1.0 / (L_x * (d_x + 2))
    eta_y0 = 2.0 / (L_y + m_y)
    eta_1 = min(eta_x0 if one_step == "optimal" else 2.0 * eta_x0, eta_y0)
    return math.log((kappa_y - 1) / (kappa_y + 1)) / math.log1p(-eta_1 * m_y)


# --- 6.5: predicted slopes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlopePrediction:
    """A log-log slope predicted by THEORY 6.5: ``quantity`` against ``against`` in ``regime`` under ``schedule``."""

    regime: str
    schedule: str
    quantity: str
    against: str
    slope: float
    note: str


PREDICTED_SLOPES: tuple[SlopePrediction, ...] = (
    SlopePrediction(
        "constant steps, before the floor",
        "eta fixed",
        "Phi(T)",
        "T",
        -1.0,
        "optimisation term 3 Delta0/(eta n T); -1/2 for the RMS gradient",
    ),
    SlopePrediction("ZO-variance dominated (sigma_x > 0)", "eta ~ T^(-1/2)", "Phi(T)", "T", -0.5, "the eps^-4 rate"),
    SlopePrediction(
        "ZO-variance dominated (sigma_x > 0)",
        "eta ~ T^(-1/2)",
        "RMS gradient, min_t ||grad f||",
        "T",
        -0.25,
        "the eps^-4 rate",
    ),
    SlopePrediction("sigma_x = 0 or FO only", "eta ~ T^(-1/3)", "Phi(T)", "T", -2.0 / 3.0, "the eps^-3 RR rate"),
    SlopePrediction("sigma_x = 0 or FO only", "eta ~ T^(-1/3)", "RMS gradient", "T", -1.0 / 3.0, "the eps^-3 RR rate"),
    SlopePrediction(
        "FO block, RR",
        "fixed large T",
        "noise floor E||grad f||^2",
        "eta",
        2.0,
        "at most O(eta^2); exactly O(eta^3) at epoch starts for equal-Hessian quadratics (check 10)",
    ),
    SlopePrediction(
        "FO block, RR, equal Hessians, epoch starts",
        "fixed large T",
        "noise floor E||grad f||^2",
        "eta",
        3.0,
        "exact (check 10)",
    ),
    SlopePrediction(
        "FO block, with-replacement SGD",
        "fixed large T",
        "noise floor E||grad f||^2",
        "eta",
        1.0,
        "no without-replacement cancellation",
    ),
    SlopePrediction(
        "ZO block, sigma_x > 0 (or forward ZO, mu > 0, on a quadratic)",
        "fixed large T",
        "noise floor E||grad f||^2",
        "eta",
        1.0,
        "ZO variance term is linear in eta after dividing by eta",
    ),
)
