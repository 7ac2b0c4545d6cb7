"""Check 6 (THEORY 7.6; statement in THEORY 3.3): the generalized (ell_x, ell_y) lemma on a separable
super-quadratic.

Instance: f = 1/4||x||^4 + 1/2 L_y||y||^2 (``quartic`` with hetero = 0, f* = 0), ell_x(u) = 3 u^(2/3),
ell_y = L_y.

Statement: (G1)-(G3) hold at every point (relative tolerance 1e-12; equality in (G2), (G3) on x = 0); G from
the 3.3 formula (ell_x + ell_y, and max(ell_x, ell_y) under (G3)) >= the true sup of ||grad f|| on G_F (brute
force), which matches ``sublevel_constants``; the log-log upper envelope of (||grad f||, ||grad^2_xx f|| =
3||x||^2) has exponent 2/3 +- 0.05. The affine (L0, L1) envelope and its G_safe are reported in ``details``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...objectives.base import Objective
from ...objectives.quartic import gradient_bound_on_sublevel_set, make_quartic
from ..assumptions.generalized_smooth import fit_power_envelope, generalized_smoothness_sides
from ..checks import CheckResult, one_sided, two_sided
from ..sampling import random_unit_directions

KEY = "6"
TITLE = "generalized (ell_x, ell_y) lemma"
SUMMARY = (
    "(G1)-(G3) at sampled points of 1/4||x||^4 + L_y/2||y||^2, the sublevel-set gradient bound G and the "
    "fitted envelope exponent 2/3 (THEORY 3.3)."
)
FIGURES: tuple[str, ...] = ()


def _brute_force_gradient_sup(F: float, L_y: float, *, grid: int = 200_001) -> float:
    """max ||grad f|| on {1/4 r^4 + 1/2 L_y rho^2 <= F} for f = 1/4||x||^4 + 1/2 L_y||y||^2, by a dense grid on
    the boundary (||grad f||^2 = r^6 + L_y^2 rho^2 increases in both r and rho, so the max is on the boundary)."""
    r = np.linspace(0.0, (4 * F) ** 0.25, grid)
    rho2 = np.clip(2 * (F - 0.25 * r**4) / L_y, 0.0, None)
    return float(np.sqrt(np.max(r**6 + L_y**2 * rho2)))


def _sample_points(N: int, dx: int, dy: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    # radii log-uniform over many decades so ||grad f|| spans a wide range; a tenth of the points on x = 0
    gen = torch.Generator().manual_seed(seed)
    rx = 10 ** (5 * torch.rand(N, 1, generator=gen, dtype=torch.float64) - 3)
    ry = 10 ** (8 * torch.rand(N, 1, generator=gen, dtype=torch.float64) - 6)
    x = random_unit_directions(N, dx, gen) * rx
    y = random_unit_directions(N, dy, gen) * ry
    x[: N // 10] = 0.0
    return x, y


def _g_rows(sides: dict, N: int, inst: str) -> list[CheckResult]:
    out = []
    for k in ("G1", "G2", "G3"):
        lhs, rhs = sides[f"{k}_lhs"], sides[f"{k}_rhs"]
        rel = ((lhs - rhs) / rhs.clamp_min(1e-300)).max()
        on_axis = ((lhs - rhs)[: N // 10] / rhs[: N // 10]).abs().max()
        out.append(
            one_sided(
                f"6: ({k}) relative excess (lhs-rhs)/rhs <= 0",
                inst,
                float(rel),
                0.0,
                atol=1e-12,
                samples=N,
                details={"max_rel_gap_on_x0_axis": float(on_axis)},
            )
        )  # 0 = equality
    return out


def _sublevel_rows(obj: Objective, L_y: float, F_values, inst: str) -> list[CheckResult]:
    out = []
    for F in F_values:
        true_sup = _brute_force_gradient_sup(F, L_y)
        closed = obj.sublevel_constants(F).G
        out.append(
            two_sided(
                "6: brute-force sup ||grad f|| on G_F = closed form", f"{inst} F={F}", true_sup, closed, rtol=1e-6
            )
        )
        G_sum = gradient_bound_on_sublevel_set(lambda u: obj.ell_x(u) + L_y, F)
        G_max = gradient_bound_on_sublevel_set(lambda u: max(obj.ell_x(u), L_y), F)
        out.append(
            one_sided("6: G formula (ell_x + ell_y) >= true sup", f"{inst} F={F}", G_sum, true_sup, sense="lower")
        )
        out.append(
            one_sided(
                "6: G formula (max(ell_x, ell_y), valid under G3) >= true sup",
                f"{inst} F={F}",
                G_max,
                true_sup,
                sense="lower",
            )
        )
    return out


def _envelope_row(g: np.ndarray, Lxx: np.ndarray, L_y: float, F_rep: float, inst: str) -> CheckResult:
    from ...curvature.envelope import AffineFit, fit_affine_envelope, g_safe

    keep = Lxx > 0
    c_hat, p_hat = fit_power_envelope(g[keep], Lxx[keep])
    aff = fit_affine_envelope(g[keep], Lxx[keep])
    return two_sided(
        "6: envelope exponent of ell_x = 2/3",
        inst,
        p_hat,
        2.0 / 3.0,
        atol=0.05,
        samples=int(keep.sum()),
        details={
            "c_hat": c_hat,
            "c_theory": 3.0,
            "affine_L0": aff.L0,
            "affine_L1": aff.L1,
            "affine_G_safe_at_F": (F_rep, g_safe(F_rep, aff, AffineFit(L_y, 0.0, "exact", 0))),
            "fit": "local log-log LP upper envelope",
        },
    )


def check6_generalized_smoothness(
    *,
    dx: int = 5,
    dy: int = 3,
    L_y: float = 1.0,
    n_points: int = 10_000,
    F_values: tuple[float, ...] = (0.1, 1.0, 10.0),
    seed: int = 0,
) -> list[CheckResult]:
    """The rows of check 6 (see the module docstring)."""
    obj = make_quartic(dx=dx, dy=dy, n=1, Ly=L_y, hetero=0.0, seed=seed)
    inst = f"quartic hetero=0 dx={dx} dy={dy} L_y={L_y}"
    x, y = _sample_points(n_points, dx, dy, seed)
    sides = generalized_smoothness_sides(obj, x, y, ell_x=obj.ell_x, ell_y=obj.ell_y, f_star=0.0)
    out = _g_rows(sides, n_points, inst) + _sublevel_rows(obj, L_y, F_values, inst)
    out.append(_envelope_row(sides["g"].numpy(), 3 * (x * x).sum(-1).numpy(), L_y, F_values[-1], inst))
    return out


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check6_generalized_smoothness(n_points=2000 if size == "fast" else 10_000)


def report_sentence(rows: pd.DataFrame) -> str:
    return ""
