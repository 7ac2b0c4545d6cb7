"""Check 9 (THEORY 7.9; statement in THEORY 3.2): Jacobi vs Gauss-Seidel, a falsifier of (BD).

Instance: H = [[I, b I], [b I, I]] (m + m blocks), b = 0.6, per-block steps eta_b = gamma/L_b with gamma = 1.5,
inside (2/(1 + s), 2), the range the paper's lemma certifies as descending.

Statement: the Jacobi iteration matrix I - gamma H has spectral radius |1 - gamma(1 + b)| = 1.4 (divergence), so
the paper's certificate fails (expected ``fail`` whenever gamma(1 + b) > 2); Gauss-Seidel at the same steps has
radius 0.5 (block SOR, Ostrowski-Reich); Theorem R's steps (gamma <= 1/8) converge because H <= 2 Lambda.
Exact eigenvalues; simulated growth rates within 2%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...objectives.base import Objective
from ...objectives.quadratic import BlockQuadratic
from ...optim.batched_run import run_hybrid_sgd
from ...optim.hybrid_sgd import HybridSGDConfig
from ..checks import CheckResult, one_sided, two_sided

KEY = "9"
TITLE = "Jacobi vs Gauss-Seidel falsifier of (BD)"
SUMMARY = (
    "H = [[1, b], [b, 1]] blocks, b = 0.6, per-block steps 1.5/L_b: Jacobi diverges (radius 1.4) although "
    "the paper's (BD) certifies descent; Gauss-Seidel converges (0.5) (THEORY 3.2, check 9)."
)
FIGURES: tuple[str, ...] = ()


def _iteration(H: np.ndarray, m: int, update: str, g: float) -> np.ndarray:
    if update == "jacobi":
        return np.eye(2 * m) - g * H
    Mx = np.eye(2 * m) - g * np.vstack([H[:m], np.zeros((m, 2 * m))])
    My = np.eye(2 * m) - g * np.vstack([np.zeros((m, 2 * m)), H[m:]])
    return My @ Mx


def _update_rows(
    obj: Objective, H, m: int, update: str, expected: float, gamma: float, epochs: int, inst: str
) -> list[CheckResult]:
    radius = float(np.max(np.abs(np.linalg.eigvals(_iteration(H, m, update, gamma)))))
    res = run_hybrid_sgd(
        obj,
        HybridSGDConfig(
            method="fo_full", eta_x=gamma, eta_y=gamma, epochs=epochs, update=update, divergence_factor=1e300
        ),
        seeds=None,
    )
    g = res.metrics.grad_norm.to_numpy()
    ks = np.arange(20, len(g))
    rate = float(np.exp(np.polyfit(ks, np.log(g[ks]), 1)[0]))
    return [
        two_sided(f"9: {update} spectral radius (exact)", inst, radius, expected, rtol=1e-10),
        two_sided(
            f"9: {update} simulated growth rate = spectral radius, 2%", inst, rate, radius, rtol=0.02, samples=len(ks)
        ),
    ]


def check9_jacobi_vs_gauss_seidel(
    *, b: float = 0.6, gamma: float = 1.5, m: int = 5, epochs: int = 120
) -> list[CheckResult]:
    """The rows of check 9 (see the module docstring)."""
    H = np.block([[np.eye(m), b * np.eye(m)], [b * np.eye(m), np.eye(m)]])
    z0 = np.random.default_rng(0).standard_normal(2 * m)
    obj = BlockQuadratic(H, np.zeros((1, 2 * m)), m, x0=torch.tensor(z0[:m]), y0=torch.tensor(z0[m:]))
    inst = f"coupled quadratic b={b} m={m} gamma={gamma}"
    out = []
    for update, expected in (("jacobi", abs(1 - gamma * (1 + b))), ("gauss_seidel", 0.5)):
        out += _update_rows(obj, H, m, update, expected, gamma, epochs, inst)
    # the paper's lemma certifies descent for gamma in (2/(1+s), 2); Jacobi diverges once gamma (1 + b) > 2
    out.append(
        one_sided(
            "9: paper's lemma (BD) certifies descent: Jacobi radius <= 1",
            inst,
            out[0].computed,
            1.0,
            details={"certified_gamma_range": (2 / (1 + b), 2.0)},
            expected="fail" if gamma * (1 + b) > 2 else "pass",
        )
    )
    out.append(one_sided("9: repair (Gauss-Seidel at the same steps) radius < 1", inst, out[2].computed, 1.0))
    theo = float(np.max(np.abs(np.linalg.eigvals(_iteration(H, m, "jacobi", 1 / 8)))))
    out.append(one_sided("9: Theorem R steps (gamma = 1/8) Jacobi radius < 1", inst, theo, 1.0))
    return out


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check9_jacobi_vs_gauss_seidel()


def report_sentence(rows: pd.DataFrame) -> str:
    return ""
