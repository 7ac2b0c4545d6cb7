"""The case table: for each PEP-expressible case of Theorem R, the PEP worst case, B_R, their ratio and a measured
run of a quadratic with the same constants, as one pandas DataFrame.

Units: everything is in the rescaled coordinates of THEORY 6.2 step 1 (Lambda = I, eta_b = c_b); a problem with
joint constants Lambda maps onto a case by c_b = eta_b Lambda_b, s2_b = sigma_b^2 / Lambda_b, Delta0 unchanged,
and B_R is invariant under that map.

B_R of the skeleton: the PEP has exact gradients in both blocks, which is Theorem R's algorithm in the limit of
infinitely many ZO directions with mu = 0 (q -> inf, mu = 0): the ZO terms vanish and (C2) drops out, leaving
optimisation + reshuffling terms, computed by ``bounds.B_ref_terms`` (q set so that (C2) holds; the two terms
kept do not depend on q).

Sample orders: "expectation" (one PEP over all permutation sequences with shared components) is Theorem R's
LHS, E over pi for a fixed f, and is the gating comparison; "max" (worst sequence, the worst case of an adversarial
order such as incremental gradient) is reported only: B_R rests on the without-replacement identity for a uniform
permutation, which an adversarial order does not satisfy.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import torch

from .. import bounds
from ..run_statistics import mean_se, step_weighted_average
from .problems import PEPCase, pep_value, perm_sequences, reduces_to_one_function

COLUMNS = (
    "case", "n", "T", "c_x", "c_y", "s2_x", "s2_y", "update", "orders", "relaxation",
    "pep", "B_R", "ratio", "measured", "measured_se", "measured_pct_of_pep",
    "status", "solver", "accuracy", "gap", "formulation", "seconds",
)  # fmt: skip


def skeleton_bound(case: PEPCase) -> float:
    """B_R at q -> inf, mu = 0 (see the module docstring); inf without (R2) (sigma unbounded)."""
    if case.s2_x is None:
        return math.inf
    q = max(1, math.ceil(96 * case.c_x))  # makes (C2) hold; the terms kept below do not depend on q
    t = bounds.B_ref_terms(
        case.c_x, case.c_y, 0.0, case.T, n=case.n, d_x=0, Lambda_x=1.0, Lambda_y=1.0,
        sx2=case.s2_x, sy2=case.s2_y, gap0=case.gap0, q=q,
    )  # fmt: skip
    return t.optimisation + t.reshuffling


def quadratic_for(case: PEPCase, *, d_b: int = 2, seed: int = 0):
    """A block quadratic meeting the case's assumptions: 0 <= H <= I (so Lambda = I), centres scaled so that the
    larger block variance equals the case's, z_0 on H's top eigenvector at gap Delta0 (the T = 1 worst case)."""
    from ...objectives.quadratic import BlockQuadratic

    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((2 * d_b, 2 * d_b)))
    evals = np.linspace(1.0, 0.2, 2 * d_b)
    H = (Q * evals) @ Q.T
    centres = rng.standard_normal((case.n, 2 * d_b))
    centres -= centres.mean(0)
    dev = centres @ H
    sx, sy = (dev[:, :d_b] ** 2).sum(1).mean(), (dev[:, d_b:] ** 2).sum(1).mean()
    s2x, s2y = (case.s2_x, case.s2_y) if case.s2_x is not None else (1.0, 1.0)
    scale = min(math.sqrt(s2x / sx) if sx > 0 else 0.0, math.sqrt(s2y / sy) if sy > 0 else 0.0)
    z0 = Q[:, 0] * math.sqrt(2.0 * case.gap0 / evals[0])  # f(z_0) - f* = Delta0 (centre mean is 0)
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    return BlockQuadratic(H, centres * scale, d_b, x0=t(z0[:d_b]), y0=t(z0[d_b:]))


def measured_lhs(case: PEPCase, *, seeds: int = 64) -> tuple[float, float]:
    """Seed mean and standard error of Theorem R's LHS for FO RR-SGD (``run_hybrid_sgd``, method fo_full) on
    ``quadratic_for(case)``: a point below the tight worst case, as every instance is."""
    from ...optim.batched_run import run_hybrid_sgd
    from ...optim.hybrid_sgd import HybridSGDConfig

    obj = quadratic_for(case)
    S = 1 if case.n == 1 else seeds  # one permutation only: the run is deterministic
    cfg = HybridSGDConfig(
        method="fo_full", eta_x=case.c_x, eta_y=case.c_y, epochs=case.T, order="rr", update=case.update, seed=16
    )
    res = run_hybrid_sgd(obj, cfg, seeds=S)
    return mean_se(step_weighted_average(res.metrics, case.T, case.c_x, case.c_y))


# rescaled variances of the no-(R2) witness: each step of 100x moves the LHS by about 100x once it dominates
WITNESS_S2 = (1e2, 1e4, 1e6, 1e8)


def variance_witness(case: PEPCase, s2_values=WITNESS_S2) -> pd.DataFrame:
    """Without (R2): the measured LHS of ``quadratic_for`` at growing rescaled variance, every instance meeting
    (R1) and Delta0. From T = 2 on it grows like sigma^2 (the first epoch's end moves by O(c^2 sigma)), so no
    finite worst case exists: what B_R = inf says, shown by instances rather than by a solver's status."""
    rows = []
    for v in s2_values:
        m, se = measured_lhs(replace(case, s2_x=float(v), s2_y=float(v)))
        rows.append({"s2": float(v), "lhs": m, "lhs_se": se})
    return pd.DataFrame(rows)


def _worst_over_orders(case: PEPCase, orders: str, solver, options):
    """The solve for Theorem R's expectation, or the max over permutation sequences (None if any fails)."""
    # zero variance: every order follows the same path, so the max over orders is the expectation
    if orders == "expectation" or case.n == 1 or reduces_to_one_function(case):
        return pep_value(case, solver=solver, **options)
    results = [pep_value(case, seq, solver=solver, **options) for seq in perm_sequences(case.n, case.T)]
    bad = [r for r in results if not r.converged]
    return bad[0] if bad else max(results, key=lambda r: r.value)


def case_row(name: str, case: PEPCase, *, orders: str = "expectation", solver=None, measure=True, **options) -> dict:
    """One row of the table (see ``COLUMNS``); a PEP that did not converge has pep = NaN and its status."""
    t0 = time.perf_counter()
    res = _worst_over_orders(case, orders, solver, options)
    B = skeleton_bound(case)
    pep = res.value if res.converged else math.nan
    m, se = measured_lhs(case) if measure else (math.nan, math.nan)
    row = {k: v for k, v in asdict(case).items() if k != "gap0"}
    row.update(case=name, orders=orders, pep=pep, B_R=B, ratio=B / pep if res.converged else math.nan)
    row.update(measured=m, measured_se=se, measured_pct_of_pep=100 * m / pep if res.converged else math.nan)
    row.update(status=res.status, solver=res.solver, accuracy=res.accuracy, gap=res.gap)
    row["formulation"] = "one function, n T steps (s2 = 0)" if reduces_to_one_function(case) else "components"
    row["seconds"] = time.perf_counter() - t0
    return row


def standard_cases(mode: str = "quick") -> list[tuple[str, PEPCase, str]]:
    """(name, case, orders): deterministic (n = 1), RR n = 2 and n = 3, with and without (R2), Jacobi and
    Gauss-Seidel, at the (C1) caps c = 1/(8n). Quick keeps every solve at seconds (RR n = 2 at T <= 2 with
    sigma^2 = 0 only for T = 2); full adds the RR solves that take minutes each on two cores (n = 3 among them)."""
    quick = mode == "quick"
    out = []
    for upd in ("jacobi", "gauss_seidel"):
        det = PEPCase(n=1, T=1, c_x=1 / 8, c_y=1 / 8, s2_x=0.0, s2_y=0.0, update=upd)
        out += [
            (f"deterministic {upd}", replace(det, T=T), "expectation") for T in ((1, 2, 4) if quick else (1, 2, 5, 10))
        ]
    rr2 = PEPCase(n=2, T=1, c_x=1 / 16, c_y=1 / 16, s2_x=0.0, s2_y=0.0)
    out += [("RR n=2 sigma2=0", replace(rr2, T=T), "expectation") for T in ((1, 2) if quick else (1, 2, 3))]
    out += [
        ("RR n=2 sigma2=0.5", replace(rr2, T=T, s2_x=0.5, s2_y=0.5), "expectation") for T in ((1,) if quick else (1, 2))
    ]
    out.append(("RR n=2 sigma2=0.5", replace(rr2, s2_x=0.5, s2_y=0.5), "max"))
    out.append(("RR n=2 no (R2)", replace(rr2, s2_x=None, s2_y=None), "expectation"))
    if not quick:
        out.append(("RR n=2 sigma2=0.5", replace(rr2, T=2, s2_x=0.5, s2_y=0.5), "max"))
        out.append(("RR n=2 sigma2=0 gauss_seidel", replace(rr2, T=2, update="gauss_seidel"), "expectation"))
        out.append(("RR n=2 no (R2)", replace(rr2, T=2, s2_x=None, s2_y=None), "expectation"))
        # six permutations of three components: minutes on two cores, so full mode only
        out.append(("RR n=3 sigma2=0.5", PEPCase(n=3, T=1, c_x=1 / 24, c_y=1 / 24, s2_x=0.5, s2_y=0.5), "expectation"))
    return out


def case_table(mode: str = "quick", *, cases=None, solver=None, measure=True, **options) -> pd.DataFrame:
    """The PEP table (see the module docstring); ``cases`` defaults to ``standard_cases(mode)``."""
    cases = standard_cases(mode) if cases is None else cases
    rows = [case_row(name, c, orders=o, solver=solver, measure=measure, **options) for name, c, o in cases]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def counterexamples(table: pd.DataFrame, bound_column: str = "B_R") -> pd.DataFrame:
    """Rows whose bound is below the PEP worst case of Theorem R's expectation (a failed check). The PEP
    value is an upper bound on the tight worst case, so a row here is a counterexample only after the
    tightness of its relaxation is confirmed; a bound above the PEP value is certified."""
    ok = table.status == "optimal"
    return table[ok & (table.orders == "expectation") & (table[bound_column] < table.pep)]
