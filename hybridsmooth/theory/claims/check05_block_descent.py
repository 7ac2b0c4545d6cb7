"""Check 5 (THEORY 7.5; statement in THEORY 3.2 and 3.3): the block descent lemma (BD) and (G3) on a coupled
quadratic -- the paper's lemma is false.

Instance: H = [[a I_m, B], [B^T, c I_m]], m = 5, a = 2, c = 0.5, ||B|| = s sqrt(ac), s in {0, 0.3, 0.9}
(problem ``coupled2``), plus f = b x y (THEORY 3.2 counterexample 1).

Statement: (H1)-(H2) hold with L_x = a, L_y = c; sup (BD) ratio = s and sup (G3) ratio = 1 + s exactly
(eigenvalues), so the paper's (BD) with Lambda = diag(L_x, L_y) and its (G3) fail for every s > 0 (expected
``fail``; ``pass`` at s = 0); sampled ratios never exceed the exact suprema by > 1e-9, and the top eigenvector
of Lambda^{-1/2} H Lambda^{-1/2} attains them; (G1)-(G2) hold; the repairs (BD) with 2 Lambda (H >= 0) and with
Lambda' = diag(L_x + tau L_xy, L_y + L_xy/tau), tau = sqrt(a/c), hold.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ...objectives.base import Objective
from ...objectives.counterexamples import make_bilinear, make_coupled2
from ..assumptions import generalized_smooth
from ..assumptions.block_descent import bd_residual
from ..assumptions.block_smooth import secant_ratio_x, secant_ratio_y
from ..assumptions.joint import joint_condition_range
from ..checks import CheckResult, one_sided, two_sided
from ..sampling import random_unit_directions

KEY = "5"
TITLE = "block descent lemma (BD) and (G3) on a coupled quadratic"
SUMMARY = (
    "H = [[a I, B], [B^T, c I]] with ||B|| = s sqrt(ac): exact eigenvalues and 10^4 random pairs; the paper's "
    "lemma (BD) with Lambda = diag(L_x, L_y) and its (G3) fail for every s > 0 and on b x y; the repairs "
    "(BD) with 2 Lambda and with the cross bound hold (THEORY 3.2, 3.3)."
)
FIGURES: tuple[str, ...] = ()


class _Pairs:
    """Random pairs (z1 = z2 + Delta, Delta uniform in direction, length log-uniform over 4 decades) and the
    extremal pair z2* = 0, z1* = Lambda^{-1/2} v_top, split into blocks of size m."""

    def __init__(self, N: int, m: int, gen: torch.Generator, v_top: np.ndarray):
        d = 2 * m
        self.m = m
        self.z2 = torch.randn(N, d, generator=gen, dtype=torch.float64)
        length = 10 ** (4 * torch.rand(N, 1, generator=gen, dtype=torch.float64) - 2)
        self.z1 = self.z2 + random_unit_directions(N, d, gen) * length
        self.z2_star = torch.zeros(d, dtype=torch.float64)
        self.z1_star = torch.as_tensor(v_top)

    def split(self, z):
        return z[..., : self.m], z[..., self.m :]

    def ratios(self, obj: Objective, L_x: float, L_y: float):
        """(BD) ratios on the random pairs and at the extremal pair."""
        _, ratio = bd_residual(obj, self.split(self.z1), self.split(self.z2), L_x=L_x, L_y=L_y)
        _, r_top = bd_residual(obj, self.split(self.z1_star), self.split(self.z2_star), L_x=L_x, L_y=L_y)
        return ratio, float(r_top)


def _bd_rows(
    obj: Objective, pairs: _Pairs, L_x: float, L_y: float, sup_bd: float, inst: str, s: float
) -> list[CheckResult]:
    ratio, r_top = pairs.ratios(obj, L_x, L_y)
    N = len(ratio)
    frac = float((ratio > 1e-9).double().mean())  # above float rounding of the residual
    z1s, z2s = pairs.z1_star.tolist(), pairs.z2_star.tolist()
    residual = float(bd_residual(obj, pairs.split(pairs.z1_star), pairs.split(pairs.z2_star), L_x=L_x, L_y=L_y)[0])
    return [
        one_sided(
            "5: sampled (BD) ratio <= exact sup",
            inst,
            float(ratio.max()),
            sup_bd,
            atol=1e-9,
            samples=N,
            details={"fraction_violating_BD": frac, "median_ratio": float(ratio.median())},
        ),
        two_sided(
            "5: top-eigvec pair attains sup (BD)", inst, r_top, sup_bd, atol=1e-9, details={"z1": z1s, "z2": z2s}
        ),
        # the paper's lemma: (BD) with Lambda = diag(L_x, L_y), the constants of (H1)-(H2); false once s > 0
        one_sided(
            "5: paper's lemma (BD) with Lambda holds",
            inst,
            max(float(ratio.max()), r_top),
            0.0,
            atol=1e-9,
            samples=N + 1,
            details={
                "counterexample": "BD",
                "counterexample_z1": z1s,
                "counterexample_z2": z2s,
                "residual_ratio": r_top,
                "residual": residual,
            },
            expected="fail" if s > 0 else "pass",
        ),
    ]


def _secant_rows(
    obj: Objective, m: int, N: int, gen: torch.Generator, L_x: float, L_y: float, inst: str
) -> list[CheckResult]:
    # (H1)-(H2) hold with L_x = a, L_y = c: the paper's lemma's hypotheses are met
    x1, x2, y = (torch.randn(N, m, generator=gen, dtype=torch.float64) for _ in range(3))
    hx = secant_ratio_x(obj, x1, x2, y)
    hy = secant_ratio_y(obj, y, x1, x2)
    return [
        one_sided("5: (H1) secant ratio <= L_x", inst, float(hx.max()), L_x, atol=1e-9 * L_x, samples=N),
        one_sided("5: (H2) secant ratio <= L_y", inst, float(hy.max()), L_y, atol=1e-9 * L_y, samples=N),
    ]


def _repair_rows(
    obj: Objective, pairs: _Pairs, H, a: float, c: float, s: float, top_eig: float, inst: str
) -> list[CheckResult]:
    N = len(pairs.z1)
    ratio2, r2_top = pairs.ratios(obj, 2 * a, 2 * c)
    tau, L_xy = math.sqrt(a / c), s * math.sqrt(a * c)
    Lpx, Lpy = a + tau * L_xy, c + L_xy / tau
    ratio3, r3_top = pairs.ratios(obj, Lpx, Lpy)
    _, hi3 = joint_condition_range(H, L_x=Lpx, L_y=Lpy, d_x=pairs.m)
    return [
        one_sided(
            "5: repaired (BD) with 2 Lambda holds",
            inst,
            max(float(ratio2.max()), r2_top),
            0.0,
            atol=1e-9,
            samples=N + 1,
            details={"repair": True, "exact_lambda_max_2Lambda": float(top_eig / 2)},
        ),
        one_sided(
            "5: repaired (BD) with cross bound (L_x + tau L_xy, L_y + L_xy/tau) holds",
            inst,
            max(float(ratio3.max()), r3_top),
            0.0,
            atol=1e-9,
            samples=N + 1,
            details={"repair": True, "tau": tau, "Lambda_prime": (Lpx, Lpy), "exact_lambda_max": hi3},
        ),
    ]


def _g_rows(
    obj: Objective, pairs: _Pairs, L_x: float, L_y: float, sup_g3: float, inst: str, s: float
) -> list[CheckResult]:
    # (G1)-(G3) at random points and at the (G3) extremal point z = D_ell^{-1/2} v_top
    ell_x = lambda u: torch.full_like(u, L_x)  # noqa: E731
    ell_y = lambda u: torch.full_like(u, L_y)  # noqa: E731
    pts = torch.cat([pairs.z2, pairs.z1_star[None]], 0)
    sides = generalized_smooth.generalized_smoothness_sides(
        obj, *pairs.split(pts), ell_x=ell_x, ell_y=ell_y, f_star=0.0
    )
    g3 = generalized_smooth.side_ratio(sides, "G3")
    n = len(g3)
    return [
        generalized_smooth.check(sides, "G1", label="5: (G1) ratio <= 1", instance=inst),
        generalized_smooth.check(sides, "G2", label="5: (G2) ratio <= 1", instance=inst),
        one_sided("5: sampled (G3) ratio <= exact sup 1+s", inst, float(g3.max()), sup_g3, atol=1e-9, samples=n),
        two_sided(
            "5: top-eigvec point attains sup (G3)",
            inst,
            float(g3[-1]),
            sup_g3,
            atol=1e-9,
            details={"z": pairs.z1_star.tolist()},
        ),
        one_sided(
            "5: paper's lemma (G3) holds",
            inst,
            float(g3.max()),
            1.0,
            atol=1e-9,
            samples=n,
            details={"counterexample": "G3", "counterexample_z": pairs.z1_star.tolist()},
            expected="fail" if s > 0 else "pass",
        ),
    ]


def check5_block_descent(
    s: float, *, m: int = 5, a: float = 2.0, c: float = 0.5, n_pairs: int = 10_000, seed: int = 0
) -> list[CheckResult]:
    """The rows of check 5 for one coupling s (see the module docstring); the paper's lemma's row carries the
    exact counterexample pair."""
    inst = f"coupled2 m={m} a={a} c={c} s={s}"
    obj = make_coupled2(m=m, a=a, c=c, s=s, n=1, seed=seed)
    H = obj.H.numpy()
    gen = torch.Generator().manual_seed(seed)
    lam = np.r_[np.full(m, a), np.full(m, c)]
    ev, V = np.linalg.eigh(H / np.sqrt(np.outer(lam, lam)))
    sup_bd, sup_g3 = ev[-1] - 1.0, ev[-1]
    out = [
        two_sided("5: sup (BD) ratio = s (exact eig)", inst, sup_bd, s, atol=1e-8),
        two_sided("5: sup (G3) ratio = 1+s (exact eig)", inst, sup_g3, 1.0 + s, atol=1e-8),
    ]
    # the top eigenvector pair attains the sup: Delta = Lambda^{-1/2} v_top
    pairs = _Pairs(n_pairs, m, gen, V[:, -1] / np.sqrt(lam))
    out += _bd_rows(obj, pairs, a, c, sup_bd, inst, s)
    out += _secant_rows(obj, m, n_pairs, gen, a, c, inst)
    out += _repair_rows(obj, pairs, H, a, c, s, ev[-1], inst)
    out += _g_rows(obj, pairs, a, c, sup_g3, inst, s)
    return out


def check5_bilinear(*, b: float = 1.0, dx: float = 1.0, dy: float = 1.0) -> CheckResult:
    """THEORY 3.2 counterexample 1: f = b x y has L_x = L_y = 0, yet the (BD) residual is b dx dy > 0.

    The paper's lemma with Lambda = 0 asserts residual <= 0 (expected ``fail`` whenever b dx dy > 0); ``computed`` is
    the residual at the pair z2 = (0, 0), z1 = (dx, dy), and ``details`` carries the exact value b dx dy.
    """
    obj = make_bilinear(b=b, m=1)
    z2 = (torch.zeros(1, dtype=torch.float64), torch.zeros(1, dtype=torch.float64))
    z1 = (torch.tensor([dx], dtype=torch.float64), torch.tensor([dy], dtype=torch.float64))
    r, _ = bd_residual(obj, z1, z2, L_x=0.0, L_y=0.0)
    return one_sided(
        "5: paper's lemma (BD) on b x y with L_x = L_y = 0",
        f"bilinear b={b}",
        float(r),
        0.0,
        atol=0.0,
        samples=1,
        details={"counterexample": "bilinear", "z1": (dx, dy), "z2": (0.0, 0.0), "exact_residual": b * dx * dy},
        expected="fail" if b * dx * dy > 0 else "pass",
    )


def run(size: str, seeds: int | None) -> list[CheckResult]:
    n = 2000 if size == "fast" else 10_000
    rows: list[CheckResult] = []
    for s in (0.0, 0.3, 0.9):
        rows += check5_block_descent(s, n_pairs=n)
    rows.append(check5_bilinear())
    return rows


def report_sentence(rows: pd.DataFrame) -> str:
    return ""


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _counterexample(r, d: dict) -> list[str]:
    if r["verdict"] != "fail":
        return []
    if d.get("counterexample") == "BD":
        z1 = ", ".join(f"{v:.4g}" for v in d.get("counterexample_z1", []))
        z2 = ", ".join(f"{v:.4g}" for v in d.get("counterexample_z2", []))
        return [
            f"- (BD) counterexample on {r['instance']}: z1 = ({z1}), z2 = ({z2}); the residual "
            f"f(z1) - f(z2) - <grad f(z2), z1 - z2> - 1/2 (z1 - z2)^T Lambda (z1 - z2) = "
            f"{_fmt(d.get('residual'))} > 0, i.e. {_fmt(d.get('residual_ratio'))} times 1/2 D^T Lambda D "
            "(THEORY 3.2: exactly s)."
        ]
    if d.get("counterexample") == "G3":
        z = ", ".join(f"{v:.4g}" for v in d.get("counterexample_z", []))
        return [
            f"- (G3) counterexample on {r['instance']}: at z = ({z}) the ratio LHS/RHS of (G3) is "
            f"{_fmt(r['computed'])} > 1, while (G1) and (G2) hold there (THEORY 3.3: sup = 1 + s)."
        ]
    if d.get("counterexample") == "bilinear":
        return [
            f"- (BD) on f = b x y with L_x = L_y = 0: residual {_fmt(r['computed'])} > 0 "
            "(THEORY 3.2, counterexample 1)."
        ]
    return []


def report_notes(rows: pd.DataFrame) -> list[str]:
    """The (BD) and (G3) counterexamples and the repairs, written out from the rows' details."""
    out = []
    for _, r in rows.iterrows():
        out += _counterexample(r, r["details"] if isinstance(r["details"], dict) else {})
    repairs = rows[[isinstance(d, dict) and d.get("repair", False) for d in rows.details]]
    if len(repairs):
        held = bool((repairs.verdict != "fail").all())
        out.append(
            "- Repairs: (BD) with 2 Lambda (valid when grad^2 f >= 0) and with "
            "Lambda' = diag(L_x + tau L_xy, L_y + L_xy/tau) (valid when ||grad^2_xy f|| <= L_xy) "
            + ("hold on every instance." if held else "**fail on some instance** (see the table).")
        )
        out.append(
            "- For simultaneous (Jacobi) updates the theory needs the joint condition grad^2 f <= Lambda "
            "(THEORY 3.5, (R1)); Gauss-Seidel updates need only (H1)-(H2) (check 9)."
        )
        out.append(
            "- (G3) repair: (G3) follows from (BD) with the constants ell_b(2g) (THEORY 3.3); on a PSD "
            "quadratic "
            "it holds iff H <= diag(ell_x I, ell_y I), so ell_b scaled by 1 + s (or by 2, H >= 0) restores it; "
            "(G1)-(G2), which the paper derives from one-block arguments, hold throughout."
        )
    return out
