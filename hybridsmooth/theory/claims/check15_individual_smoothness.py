"""Check 15 (THEORY 7.15; THEORY 6.1's (R1), where L plays the role of L_max): individual vs average smoothness,
a falsifier for using the L of f.

Instance: n = 2, f_1 = (K/2) y^2, f_2 = ((2 - K)/2) y^2, so f = 1/2 y^2, L_f = 1 and L_max = K; K = 100
(``falsifier``).

Statement: the RR epoch multiplier (1 - eta K)(1 - eta (2 - K)) equals -37.4 at eta = 1/(8 n L_f) = 1/16
(divergence: the step rule "use the L of f" is false, expected ``fail``) and 0.995 at eta = 1/(16 K)
(convergence, the repair with the per-sample L). Exact; the simulation matches it to 1e-10.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...objectives.counterexamples import make_falsifier
from ...optim.batched_run import run_hybrid_sgd
from ...optim.hybrid_sgd import HybridSGDConfig
from ..checks import CheckResult, one_sided, two_sided

KEY = "15"
TITLE = "individual vs average smoothness"
SUMMARY = (
    "n = 2, f_1 = K/2 y^2, f_2 = (2-K)/2 y^2: RR at 1/(8 n L_f) diverges (multiplier -37.4), at 1/(16 K) "
    "converges (THEORY check 15)."
)
FIGURES: tuple[str, ...] = ()


def _simulated_row(K: float, eta: float, label: str, epochs: int) -> CheckResult:
    obj = make_falsifier(K=K, dx=0, dy=1)
    exact = obj.epoch_multiplier(eta)
    T = 2 if abs(exact) > 1 else epochs
    res = run_hybrid_sgd(obj, HybridSGDConfig(method="fo_peft", eta_y=eta, epochs=T, divergence_factor=1e300), seeds=2)
    g = res.metrics[res.metrics.seed == 0].grad_norm.to_numpy()
    ratios = g[1:] / g[:-1]
    worst = float(np.max(np.abs(ratios - abs(exact)) / abs(exact)))
    return two_sided(
        "15: simulated |epoch multiplier| = exact (1e-10 relative)",
        f"falsifier K={K:g} eta={label}",
        float(ratios[-1]),
        abs(exact),
        rtol=1e-10,
        samples=len(ratios),
        details={"multiplier": exact, "worst_relative_error": worst},
    )


def check15_individual_smoothness(*, K: float = 100.0, epochs: int = 40) -> list[CheckResult]:
    """The rows of check 15 (see the module docstring)."""
    out = [
        _simulated_row(K, eta, label, epochs)
        for eta, label in ((1.0 / 16, "1/(8 n L_f)"), (1.0 / (16 * K), "1/(16 K)"))
    ]
    obj = make_falsifier(K=K, dx=0, dy=1)
    out.append(
        one_sided(
            "15: RR at eta = 1/(8 n L_f) converges (using L of f)",
            f"falsifier K={K:g}",
            abs(obj.epoch_multiplier(1.0 / 16)),
            1.0,
            details={"multiplier": obj.epoch_multiplier(1.0 / 16)},
            expected="fail",
        )
    )
    out.append(
        one_sided(
            "15: RR at eta = 1/(16 L_max) converges (repair: per-sample L)",
            f"falsifier K={K:g}",
            abs(obj.epoch_multiplier(1.0 / (16 * K))),
            1.0,
        )
    )
    return out


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check15_individual_smoothness()


def report_sentence(rows: pd.DataFrame) -> str:
    return ""
