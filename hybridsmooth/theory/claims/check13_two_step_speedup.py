"""Check 13 (THEORY 7.13; predictions of THEORY 6.4): two step sizes vs one.

Instance: separable quadratic f = 1/2 L_x ||x||^2 + 1/2 y^T diag(lam) y, L_y = 1, lam log-uniform on
[1/kappa_y, 1], n = 1, central ZO. Configurations "two steps" (eta_x0, eta_y0) = (1/(L_x (d_x + 2)),
2/(L_y + m_y)) and "one step" eta_1 = min(eta_x0, eta_y0).

Statement: (exact) s_exact(10, 64, 100) = 1320.0 as printed in THEORY (+-0.05), and the same ratio follows from
the GD contraction factors on the spectrum (relative 1e-9); (simulated) the epochs until ||grad_y f||^2 <=
1e-6 x initial (y-target) and until E||grad f||^2 <= 1e-6 x initial (full target), one step over two steps,
equal the ratios computed exactly from the deterministic y-recursion and the mean-square x-recursion within 10%.
fast: rho in {1, 3}, d_x = 8, kappa_y = 10; full: rho in {1, 3, 10}, d_x in {8, 16}, kappa_y = 20 (THEORY's
kappa_y = 100 and rho up to 100 need ~10^5-10^6 epochs per run; s_exact covers them exactly).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ...objectives.base import Objective
from ...objectives.quadratic import BlockQuadratic
from ...optim.batched_run import run_hybrid_sgd
from ...optim.hybrid_sgd import HybridSGDConfig
from .. import predictions
from ..checks import CheckResult, two_sided
from ..recursions import isotropic_zo_rate
from ..sizes import Size, check_size, seed_count

KEY = "13"
TITLE = "two step sizes vs one"
SUMMARY = (
    "s_exact closed form, and simulated epochs-to-target ratios of two step sizes vs one on separable "
    "quadratics against the exact recursions, 10% (THEORY 6.4, check 13)."
)
FIGURES: tuple[str, ...] = ("speedup_vs_rho",)
TARGETS = ("y-target", "full target")


def check13_s_exact(
    *, rho: float = 10.0, d_x: int = 64, kappa_y: float = 100.0, expected: float = 1320.0, n_spec: int = 50
) -> list[CheckResult]:
    """The exact part: s_exact against THEORY's printed value, and against the ratio of the contraction factors
    max_i |1 - eta lambda_i| of GD on a log-uniform y-spectrum [1/kappa_y, 1] with n_spec eigenvalues."""
    inst = f"separable quadratic rho={rho} d_x={d_x} kappa_y={kappa_y}"
    s = predictions.s_exact(rho, d_x=d_x, kappa_y=kappa_y)
    lam = np.geomspace(1.0 / kappa_y, 1.0, n_spec)
    eta_two = 2.0 / (lam.max() + lam.min())
    eta_one = min(1.0 / (rho * 1.0 * (d_x + 2)), eta_two)
    rate = lambda eta: float(np.max(np.abs(1.0 - eta * lam)))  # noqa: E731
    s_spec = math.log(rate(eta_two)) / math.log(rate(eta_one))
    return [
        two_sided("13: s_exact closed form = THEORY's printed value", inst, s, expected, atol=0.05),
        two_sided(
            "13: s_exact = ratio of GD contraction factors on the spectrum",
            inst,
            s_spec,
            s,
            rtol=1e-9,
            details={
                "asymptotic_2rho(d_x+2)": 2 * rho * (d_x + 2),
                "s_theory_n1": predictions.s_theory(rho, n=1, d_x=d_x),
            },
        ),
    ]


def separable_quadratic(rho: float, d_x: int, d_y: int, kappa_y: float, seed: int) -> tuple[BlockQuadratic, np.ndarray]:
    """f = 1/2 L_x ||x||^2 + 1/2 y^T diag(lam) y, L_y = 1, lam log-uniform on [1/kappa_y, 1], n = 1."""
    lam = np.geomspace(1.0 / kappa_y, 1.0, d_y)
    H = np.zeros((d_x + d_y, d_x + d_y))
    H[:d_x, :d_x] = rho * np.eye(d_x)
    H[d_x:, d_x:] = np.diag(lam)
    z0 = np.random.default_rng(seed).standard_normal(d_x + d_y)
    obj = BlockQuadratic(H, np.zeros((1, d_x + d_y)), d_x, x0=torch.as_tensor(z0[:d_x]), y0=torch.as_tensor(z0[d_x:]))
    return obj, lam


def first_below(curve: np.ndarray, factor: float) -> int | None:
    hit = np.flatnonzero(curve <= factor * curve[0])
    return int(hit[0]) if len(hit) else None


def exact_gradient_curves(
    obj: BlockQuadratic, lam: np.ndarray, rho: float, eta_x: float, eta_y: float, epochs: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact E||grad_x f_k||^2 (mean-square recursion, isotropic: r_x(eta)^k, THEORY 6.4) and the deterministic
    ||grad_y f_k||^2 = sum_i lam_i^2 (1 - eta_y lam_i)^(2k) y0_i^2, k = 0..epochs (n = 1, central ZO)."""
    x0, y0 = (v.numpy() for v in obj.initial_point())
    k = np.arange(epochs + 1)
    gx = rho**2 * float(x0 @ x0) * isotropic_zo_rate(rho, obj.d_x, eta_x) ** k
    gy = ((lam**2 * y0**2)[None, :] * (1 - eta_y * lam)[None, :] ** (2 * k[:, None])).sum(1)
    return gx, gy


def exact_epochs(obj: Objective, lam, rho: float, ex: float, ey: float, target: float) -> tuple[int, int]:
    """Exact (y-target, full-target) epochs of the separable instance, doubling the horizon until both targets
    are reached."""
    horizon = 64
    while True:
        gx, gy = exact_gradient_curves(obj, lam, rho, ex, ey, horizon)
        y_k, full_k = first_below(gy, target), first_below(gx + gy, target)
        if y_k is not None and full_k is not None:
            return y_k, full_k
        horizon *= 2


def _simulated_epochs(
    obj: Objective, ex: float, ey: float, T: int, S: int, target: float
) -> tuple[int | None, int | None]:
    res = run_hybrid_sgd(obj, HybridSGDConfig(eta_x=ex, eta_y=ey, epochs=T, form="central", mu=1e-3, seed=13), seeds=S)
    m = res.metrics.assign(y2=res.metrics.grad_y_norm**2, z2=res.metrics.grad_norm**2)
    m = m.groupby("epoch")[["y2", "z2"]].mean()
    return first_below(m.y2.to_numpy(), target), first_below(m.z2.to_numpy(), target)


def _case_rows(rho: float, d_x: int, kappa_y: float, S: int, target: float) -> list[CheckResult]:
    d_y = 8
    obj, lam = separable_quadratic(rho, d_x, d_y, kappa_y, seed=13)
    eta_x0, eta_y0 = 1.0 / (rho * (d_x + 2)), 2.0 / (1.0 + 1.0 / kappa_y)
    exact, sim = {}, {}
    for name, (ex, ey) in {"two": (eta_x0, eta_y0), "one": (min(eta_x0, eta_y0),) * 2}.items():
        exact[name] = exact_epochs(obj, lam, rho, ex, ey, target)
        # simulate 10% past the slower target
        sim[name] = _simulated_epochs(obj, ex, ey, int(1.1 * max(exact[name])) + 2, S, target)
    inst = f"separable quadratic rho={rho:g} d_x={d_x} d_y={d_y} kappa_y={kappa_y:g} n=1"
    out = []
    for j, label in enumerate(TARGETS):
        ex_ratio = exact["one"][j] / exact["two"][j]
        missing = sim["one"][j] is None or sim["two"][j] is None
        sim_ratio = math.nan if missing else sim["one"][j] / sim["two"][j]
        out.append(
            two_sided(
                f"13: {label} epoch ratio one/two steps (simulated) = exact, 10%",
                inst,
                sim_ratio,
                ex_ratio,
                rtol=0.10,
                seeds=S,
                samples=S,
                details={
                    "epochs_exact": {k: v[j] for k, v in exact.items()},
                    "epochs_simulated": {k: v[j] for k, v in sim.items()},
                    "s_exact_rate_ratio": predictions.s_exact(rho, d_x=d_x, kappa_y=kappa_y),
                    "s_theory_n1": predictions.s_theory(rho, n=1, d_x=d_x),
                    "eta_x0": eta_x0,
                    "eta_y0": eta_y0,
                },
            )
        )
    return out


def check13_two_step_speedup(
    *, size: Size = "fast", seeds: int | None = None, target: float = 1e-6
) -> list[CheckResult]:
    """The simulated part (see the module docstring): two rows per case."""
    size = check_size(size)
    S = seed_count(seeds, 50 if size == "fast" else 200)
    cases = (
        [(r, 8, 10.0) for r in (1.0, 3.0)]
        if size == "fast"
        else [(r, dx, 20.0) for dx in (8, 16) for r in (1.0, 3.0, 10.0)]
    )
    return [row for rho, d_x, kappa_y in cases for row in _case_rows(rho, d_x, kappa_y, S, target)]


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check13_s_exact() + check13_two_step_speedup(size=size, seeds=seeds)


def report_sentence(rows: pd.DataFrame) -> str:
    return ""
