"""Check 12b (THEORY 7.12b; predicted slopes of THEORY 6.5): the rate slope with an interpolating x-block.

Instance: f_i(x, y) = h(x, y) + g_i(y), so that grad_x f_i = grad_x f and sigma_x = 0, with Cauchy-type h and
g_i (d_x = 4, d_y = 2, n = 16); eta_b = min(cap_b, cap_b (32/T)^(1/3)), mu = 1e-4.

Statement: Theorem R (relative ZO noise) guarantees Phi <= C T^(-2/3): the upper end of the 95% bootstrap interval
of the slope of log Phi(T) is <= -2/3 + 0.1. The bounded-gradient analysis (the paper's style) guarantees only
T^(-1/3) for this schedule; ``details['supports']`` names the analysis the interval agrees with.
"""

from __future__ import annotations

import pandas as pd

from ..checks import CheckResult
from ..run_statistics import SlopeFit
from ..sizes import Size
from ..slope_cases import measure_slope, slope_sentence, slope_upper_end_row

KEY = "12b"
TITLE = "rate slope, interpolating x-block"
SUMMARY = (
    "Slope of log Phi(T) under eta ~ T^-1/3 with sigma_x = 0: Theorem R predicts <= -2/3 + 0.1, the "
    "bounded-gradient analysis only -1/3 (check 12b)."
)
FIGURES: tuple[str, ...] = ("rate_slopes",)


def _supports(fit: SlopeFit) -> str:
    if fit.high <= -2 / 3 + 0.1:
        return "Theorem R (relative ZO noise): T^(-2/3), no eps^-4 when sigma_x = 0"
    if fit.low <= -1 / 3 <= fit.high:
        return "the bounded-gradient analysis: T^(-1/3)"
    return "neither prediction cleanly"


def check12b_interpolating_slope(*, size: Size = "fast", seeds: int | None = None) -> list[CheckResult]:
    """One row (see the module docstring)."""
    sm = measure_slope("12b", size, seeds)
    Ts = sm.Ts
    inst = f"interpolating d_x=4 d_y=2 n=16 (sigma_x=0); eta_b = min(cap_b, cap_b (32/T)^(1/3)), T={Ts[0]}..{Ts[-1]}"
    predictions = {"predicted_theorem_R": -2 / 3, "predicted_bounded_gradient": -1 / 3, "supports": _supports(sm.fit)}
    return [
        slope_upper_end_row(
            sm, "12b: slope of log Phi (95% bootstrap upper end) <= -2/3 + 0.1", inst, -2 / 3 + 0.1, predictions
        )
    ]


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check12b_interpolating_slope(size=size, seeds=seeds)


def report_sentence(rows: pd.DataFrame) -> str:
    return slope_sentence(rows)
