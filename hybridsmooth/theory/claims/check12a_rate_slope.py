"""Check 12a (THEORY 7.12a; predicted slopes of THEORY 6.5): the rate slope with sigma_x > 0.

(1) One-sided: on a Cauchy sum (d_x = 4, d_y = 2, n = 16, targets 0.3 N(0, 1), a well-conditioned nonconvex sum
whose asymptotic regime starts inside the T range), eta_b = min(cap_b, cap_b sqrt(32/T)) with the caps of
``practical_caps``: the upper end of the 95% bootstrap interval of the slope of log Phi(T) is <= -1/2 + 0.1.

(2) Two-sided: ZO-SGD (central, with replacement, x-block only) on a quadratic finite sum with
eta = min(cap, cap sqrt(16/T)), cap = 1/(L (d + 2)): the measured Phi(T) equals the exact second-moment recursion

    per step   P' = P - eta (A P + P A) + eta^2 [tr(A (P + S) A) I + 2 A (P + S) A]

within 5 se at each T, and the exact Phi has asymptotic slope -1/2 +- 0.05 (T = 2^14..2^18).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ...objectives.quadratic import BlockQuadratic
from ...optim.batched_run import run_hybrid_sgd
from ...optim.hybrid_sgd import HybridSGDConfig
from ..checks import CheckResult, two_sided
from ..run_statistics import mean_se, phi_per_seed
from ..sizes import Size, check_size, seed_count
from ..slope_cases import measure_slope, slope_sentence, slope_upper_end_row

KEY = "12a"
TITLE = "rate slope, sigma_x > 0"
SUMMARY = (
    "Slope of log Phi(T) under eta ~ T^-1/2 on a Cauchy sum: <= -1/2 + 0.1; "
    "and the two-sided version: ZO-SGD with replacement on a quadratic, Phi(T) against the exact "
    "second-moment recursion (5 se) and its asymptotic slope -1/2 +- 0.05 (THEORY 6.5, check 12a)."
)
FIGURES: tuple[str, ...] = ("rate_slopes",)


def check12a_rate_slope(*, size: Size = "fast", seeds: int | None = None) -> list[CheckResult]:
    """Part (1) of the module docstring: one row."""
    sm = measure_slope("12a", size, seeds)
    Ts = sm.Ts
    inst = f"Cauchy d_x=4 d_y=2 n=16 target=0.3; eta_b = min(cap_b, cap_b sqrt(32/T)), T={Ts[0]}..{Ts[-1]}"
    return [
        slope_upper_end_row(
            sm, "12a: slope of log Phi (95% bootstrap upper end) <= -1/2 + 0.1", inst, -0.4, {"predicted": -0.5}
        )
    ]


def zo_sgd_epoch_map(A: np.ndarray, S: np.ndarray, eta: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact epoch map of the second moment P = E x x^T for central ZO-SGD with replacement on
    f_i(x) = 1/2 (x - c_i)^T A (x - c_i), mean c_i = 0, S = (1/n) sum c_i c_i^T (the per-step map of the module
    docstring; E[(u^T a)^2 u u^T] = ||a||^2 I + 2 a a^T for Gaussian u). On row-major vec(P) the step is
    P' = M P + b; returns (M^n, sum_{j<n} M^j b), so that P_{t+1} = M^n P_t + b_n at epoch starts."""
    d = A.shape[0]
    I = np.eye(d)
    A2 = A @ A
    M = (
        np.kron(I, I)
        - eta * (np.kron(A, I) + np.kron(I, A))
        + eta**2 * (np.outer(I.reshape(-1), A2.reshape(-1)) + 2 * np.kron(A, A))
    )
    ASA = A @ S @ A
    b = eta**2 * (np.trace(ASA) * I.reshape(-1) + 2 * ASA.reshape(-1))
    Mn, bn = np.eye(d * d), np.zeros(d * d)
    for _ in range(n):
        Mn, bn = M @ Mn, M @ bn + b
    return Mn, bn


def exact_phi_zo_sgd(A: np.ndarray, S: np.ndarray, x0: np.ndarray, eta: float, n: int, T: int) -> float:
    """Phi(T) = (1/T) sum_{t<T} E||A x_t||^2 at epoch starts from the exact map of ``zo_sgd_epoch_map``."""
    Mn, bn = zo_sgd_epoch_map(A, S, eta, n)
    a2 = (A @ A).reshape(-1)
    P = np.outer(x0, x0).reshape(-1)
    total = 0.0
    for _ in range(T):
        total += float(a2 @ P)
        P = Mn @ P + bn
    return total / T


def _quadratic_sum(d: int, n: int):
    A = np.diag(np.geomspace(0.2, 1.0, d))
    rng = np.random.default_rng(12)
    C = rng.standard_normal((n, d))
    C -= C.mean(0)
    x0 = np.ones(d)
    obj = BlockQuadratic(A, C, d, x0=torch.as_tensor(x0), y0=torch.zeros(0, dtype=torch.float64))
    return obj, A, C.T @ C / n, x0


def check12a_quadratic_exact(*, size: Size = "fast", seeds: int | None = None) -> list[CheckResult]:
    """Part (2) of the module docstring: one row per T and the asymptotic slope."""
    size = check_size(size)
    n_seeds = seed_count(seeds, 200 if size == "fast" else 500)
    Ts = [16, 32, 64] if size == "fast" else [16, 32, 64, 128, 256, 512]
    d, n = 4, 8
    obj, A, S, x0 = _quadratic_sum(d, n)
    cap, T_ref = 1.0 / (1.0 * (d + 2)), 16
    eta = lambda T: cap * min(1.0, math.sqrt(T_ref / T))  # noqa: E731
    inst = "quadratic d=4 n=8 spectrum [0.2, 1], ZO-SGD central with replacement, eta = cap min(1, sqrt(16/T))"
    out = []
    for T in Ts:
        res = run_hybrid_sgd(
            obj, HybridSGDConfig(method="zo_full", eta_x=eta(T), epochs=T, order="sgd", seed=121), seeds=n_seeds
        )
        m, se = mean_se(phi_per_seed(res.metrics, T))
        out.append(
            two_sided(
                "12a: Phi(T) simulated = exact second-moment recursion (5 se)",
                f"{inst}; T={T}",
                m,
                exact_phi_zo_sgd(A, S, x0, eta(T), n, T),
                se=se,
                k=5.0,
                seeds=n_seeds,
                samples=n_seeds * T,
            )
        )
    big = [2**k for k in range(14, 19)]
    slope = float(np.polyfit(np.log(big), np.log([exact_phi_zo_sgd(A, S, x0, eta(T), n, T) for T in big]), 1)[0])
    out.append(
        two_sided(
            "12a: asymptotic slope of the exact Phi(T) = -1/2 +- 0.05",
            f"{inst}; T=2^14..2^18",
            slope,
            -0.5,
            atol=0.05,
            details={"Ts": big},
        )
    )
    return out


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check12a_rate_slope(size=size, seeds=seeds) + check12a_quadratic_exact(size=size, seeds=seeds)


def report_sentence(rows: pd.DataFrame) -> str:
    return slope_sentence(rows)
