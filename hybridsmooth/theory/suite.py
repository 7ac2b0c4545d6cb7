"""The standard suite of THEORY 7 checks as a registry, and the assumption checks of a given problem.

Each entry runs one numbered check at ``size="fast"`` (seconds) or ``"full"`` and says what verdict each of its
rows is *expected* to have:

* ``pass``   -- a bound or identity that must hold; a failure is an error of the toolkit or of THEORY;
* ``fail``   -- the row tests a statement THEORY shows to be false (the seed's block descent lemma (BD) and
  (G3), "use the L of f" in check 15); its failure is the demonstration, and the repair rows expect ``pass``;
* ``report`` -- measured and shown, never gating (e.g. check 14's misuse falsifier, whose outcome THEORY leaves
  open).

``run_suite`` returns one row per result; the command line exits non-zero only when a row expected to pass
fails (``gating_failures``).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Literal

import numpy as np
import pandas as pd
import torch

from . import simulated_checks as sim
from .checks import CheckResult, one_sided, results_table
from .exact_checks import check8_region_inclusion, check13_s_exact

Expected = Literal["pass", "fail", "report"]
EXPECTED: tuple[str, ...] = ("pass", "fail", "report")
SUITE_COLUMNS: tuple[str, ...] = ("check", "instance", "computed", "theoretical", "tolerance", "verdict", "expected",
                                  "slack", "seeds", "samples", "seconds")


@dataclass(frozen=True)
class SuiteCheck:
    """One numbered check: ``run(size, seeds)`` gives its rows, ``expected(row)`` each row's expected verdict,
    ``summary`` the instance and what is measured (the report's paragraph starts from it)."""

    key: str
    title: str
    summary: str
    run: Callable[[str, int | None], list[CheckResult]]
    expected: Callable[[CheckResult], Expected]
    figures: tuple[str, ...] = ()


def _all_pass(_: CheckResult) -> Expected:
    return "pass"


# --- check 4: ZO second-moment bounds (THEORY 4.1-4.4) ------------------------------------------------------------

def check4_second_moment_bounds(*, size: str = "fast", seeds: int | None = None) -> list[CheckResult]:
    """THEORY check 4: E||g - grad||^2 <= (D-2) <= (Z-seed-2) and E||g||^2 <= (D-1), (NS-4), one-sided
    (mean + 4 se), on the quadratic, cos-sum, log-cosh and signed quadratic, both Gaussian forms,
    mu in {1e-3, 0.3}. One row per (instance, d, form, bound): the worst slack over points and mu (a failing
    case is shown if there is one). ``seeds`` is unused (the Monte Carlo sample count is the size)."""
    from ..zo.instances import cos_sum_instance, log_cosh_instance, quadratic_instance, signed_quadratic_instance
    from ..zo.moments import second_moment_bound_checks

    sim._size(size)
    dims, n_points, N = ((1, 10), 2, 4000) if size == "fast" else ((1, 10, 100), 6, 20000)

    def quad(d):
        gen = torch.Generator().manual_seed(d)
        M = torch.randn(d, d, generator=gen, dtype=torch.float64)
        return quadratic_instance((M + M.T) / math.sqrt(2 * d), torch.randn(d, generator=gen, dtype=torch.float64))

    makers = {"quadratic": quad, "cos-sum w=2": lambda d: cos_sum_instance(d, 2.0), "log-cosh": log_cosh_instance,
              "signed quadratic L=1": lambda d: signed_quadratic_instance(d, 1.0)}
    keys = ("D-2", "Z-seed-2", "D-1", "NS-4")
    out = []
    for name, make in makers.items():
        for d in dims:
            inst = make(d)
            gen = torch.Generator().manual_seed(400 + d)
            points = [torch.zeros(d, dtype=torch.float64)] + [torch.randn(d, generator=gen, dtype=torch.float64)
                                                               for _ in range(n_points - 1)]
            for form in ("central", "forward"):
                worst: dict = {}
                for p, x in enumerate(points):
                    for m, mu in enumerate((1e-3, 0.3)):
                        res = second_moment_bound_checks(inst.loss, x, grad=inst.grad(x), L=inst.L, mu=mu, form=form,
                                                         n_samples=N, seed=1000 * p + m + 17 * d)
                        for k in keys:
                            c = res[k]
                            score = (not c.passed, -c.slack)
                            if k not in worst or score > worst[k][0]:
                                worst[k] = (score, c, mu)
                for k in keys:
                    _, c, mu = worst[k]
                    out.append(one_sided(f"4: ({k}) one-sided, mean + 4 se <= bound", f"{name} d={d} {form} "
                                         f"(worst of {n_points} points x mu in {{1e-3, 0.3}}; at mu={mu:g})",
                                         c.measured, c.bound, se=c.se, k=c.k, samples=N * n_points * 2))
    return out


# --- problem assumption checks (hybridsmooth check PROBLEM ...) ------------------------------------------------------

def problem_assumption_checks(objective, *, spec: str = "", size: str = "fast", seed: int = 0,
                              dense_limit: int = 400) -> list[tuple[CheckResult, Expected]]:
    """The assumption checks that apply to one problem, each against the problem's *stated* constants
    (``objective.constants``), at points z_0 + r N(0, I) (r = 1 + ||z_0||, float64):

    * (H1)/(H2): secant ratios on pairs that differ in one block <= L_x, L_y  (expected pass: stated constants);
    * (V): exact sample variances <= sigma2_x, sigma2_y                        (expected pass);
    * (R1): eig(Lambda^{-1/2} grad^2 f_i Lambda^{-1/2}) in [-1, 1] with the stated joint Lambda, dense Hessians,
      d <= ``dense_limit`` only                                                (expected pass);
    * (BD) with Lambda = diag(L_x, L_y): lambda_max(Lambda^{-1/2} grad^2 f Lambda^{-1/2}) <= 1, dense
      Hessians (report: the seed's lemma, which (H1)-(H2) do not imply, THEORY 3.2).

    A maximum over sampled points is a lower bound on the supremum (THEORY 3.4): a pass here is evidence, not
    proof; a fail is a counterexample. Problems whose calls do not accept a batch dimension are skipped with
    a ``report`` row saying so.
    """
    from .assumptions import dense_hessian, joint_condition_range, sample_variance, secant_ratio_x, secant_ratio_y

    sim._size(size)
    N, n_dense = (64, 4) if size == "fast" else (1024, 16)
    c = objective.constants
    name = spec or getattr(objective, "name", type(objective).__name__)
    out: list[tuple[CheckResult, Expected]] = []
    x0, y0 = objective.initial_point()
    x0, y0 = x0.detach().to(torch.float64), y0.detach().to(torch.float64)
    gen = torch.Generator().manual_seed(seed)
    r = 1.0 + float(torch.sqrt((x0**2).sum() + (y0**2).sum()))

    def pts(v, k):
        return v + r * torch.randn((k,) + tuple(v.shape), generator=gen, dtype=v.dtype)

    try:
        xs, ys, xs2, ys2 = pts(x0, N), pts(y0, N), pts(x0, N), pts(y0, N)
        with torch.no_grad():
            hx = secant_ratio_x(objective, xs, xs2, ys) if objective.d_x else None
            hy = secant_ratio_y(objective, xs, ys, ys2) if objective.d_y else None
            vx, vy = sample_variance(objective, xs, ys)
    except (RuntimeError, TypeError, ValueError, IndexError) as err:
        out.append((CheckResult("assumptions: batched evaluation", name, math.nan, math.nan, 0.0, "fail",
                                details={"error": f"{type(err).__name__}: {err}"}), "report"))
        return out
    for label, ratio, L in (("(H1) secant ratio <= stated L_x", hx, c.L_x),
                            ("(H2) secant ratio <= stated L_y", hy, c.L_y)):
        if ratio is None or L is None:
            continue
        out.append((one_sided(f"assumptions: {label}", name, float(ratio.max()), float(L), atol=1e-9 * max(1.0, L),
                              samples=N, details={"note": "sampled max is a lower bound on the sup"}), "pass"))
    for label, v, s2 in (("(V) sample variance x <= stated sigma2_x", vx, c.sigma2_x),
                         ("(V) sample variance y <= stated sigma2_y", vy, c.sigma2_y)):
        if s2 is None:
            continue
        out.append((one_sided(f"assumptions: {label}", name, float(v.max()), float(s2), atol=1e-9 * max(1.0, s2),
                              samples=N), "pass"))
    d = objective.d_x + objective.d_y
    if d > dense_limit or objective.d_x == 0 or objective.d_y == 0:
        return out
    Hs_full, r1_lo, r1_hi = [], math.inf, -math.inf
    for j in range(n_dense):
        xj, yj = (x0, y0) if j == 0 else (pts(x0, 1)[0], pts(y0, 1)[0])
        Hs_full.append(dense_hessian(objective, xj, yj).numpy())
        if c.joint_L_x and c.joint_L_y and c.joint_L_x > 0 and c.joint_L_y > 0:
            for i in range(min(objective.n, 16)):
                lo, hi = joint_condition_range(dense_hessian(objective, xj, yj, i).numpy(), L_x=c.joint_L_x,
                                               L_y=c.joint_L_y, d_x=objective.d_x)
                r1_lo, r1_hi = min(r1_lo, lo), max(r1_hi, hi)
    if math.isfinite(r1_hi):
        worst = max(r1_hi, -r1_lo)
        out.append((one_sided("assumptions: (R1) max |eig(Lambda^-1/2 H_i Lambda^-1/2)| <= 1 (stated joint Lambda)",
                              name, worst, 1.0, atol=1e-9, samples=n_dense * min(objective.n, 16),
                              details={"eig_range": (r1_lo, r1_hi), "joint_L": (c.joint_L_x, c.joint_L_y)}), "pass"))
    if c.L_x is not None and c.L_y is not None:
        # (BD) with Lambda holds iff grad^2 f - Lambda <= 0 (THEORY 3.2); this form also covers L = 0 (b x y)
        lam = np.r_[np.full(objective.d_x, float(c.L_x)), np.full(objective.d_y, float(c.L_y))]
        top = max(float(np.linalg.eigvalsh(H - np.diag(lam))[-1]) for H in Hs_full)
        out.append((one_sided("assumptions: (BD) lambda_max(grad^2 f - diag(L_x I, L_y I)) <= 0", name, top, 0.0,
                              atol=1e-9 * max(1.0, float(lam.max(initial=0.0))), samples=n_dense,
                              details={"note": "the seed's block descent lemma; (H1)-(H2) do not imply it "
                                               "(THEORY 3.2)"}), "report"))
    return out


# --- the registry -------------------------------------------------------------------------------------------------

def _seed_lemma_fails(r: CheckResult) -> Expected:
    # the seed's (BD)/(G3) hold only without coupling (s = 0)
    if "seed lemma" in r.check and "s=0.0" not in r.instance:
        return "fail"
    return "pass"


def _check5(size: str, seeds: int | None) -> list[CheckResult]:
    from .assumptions import check5_bilinear, check5_block_descent

    n = 2000 if size == "fast" else 10_000
    rows: list[CheckResult] = []
    for s in (0.0, 0.3, 0.9):
        rows += check5_block_descent(s, n_pairs=n)
    rows.append(check5_bilinear())
    return rows


def _check6(size: str, seeds: int | None) -> list[CheckResult]:
    from .assumptions import check6_generalized_smoothness

    return check6_generalized_smoothness(n_points=2000 if size == "fast" else 10_000)


def _check13(size: str, seeds: int | None) -> list[CheckResult]:
    return check13_s_exact() + sim.check13_two_step_speedup(size=size, seeds=seeds)


def _check14_expected(r: CheckResult) -> Expected:
    return "report" if "misuse falsifier" in r.check else "pass"


def _check15_expected(r: CheckResult) -> Expected:
    return "fail" if "using L of f" in r.check else "pass"


REGISTRY: dict[str, SuiteCheck] = {c.key: c for c in (
    SuiteCheck("4", "ZO second-moment bounds", "Monte Carlo E||g - grad||^2 and E||g||^2 against (D-2), (Z-seed-2), "
               "(D-1) and (NS-4) on four one-block instances, both Gaussian forms (THEORY 4.1-4.4).",
               lambda size, seeds: check4_second_moment_bounds(size=size, seeds=seeds), _all_pass),
    SuiteCheck("5", "block descent lemma (BD) and (G3) on a coupled quadratic",
               "H = [[a I, B], [B^T, c I]] with ||B|| = s sqrt(ac): exact eigenvalues and 10^4 random pairs; the "
               "seed's "
               "lemma (BD) with Lambda = diag(L_x, L_y) and its (G3) fail for every s > 0 and on b x y; the repairs "
               "(BD) with 2 Lambda and with the cross bound hold (THEORY 3.2, 3.3).", _check5, _seed_lemma_fails),
    SuiteCheck("6", "generalized (ell_x, ell_y) lemma", "(G1)-(G3) at sampled points of 1/4||x||^4 + L_y/2||y||^2, "
               "the sublevel-set gradient bound G and the fitted envelope exponent 2/3 (THEORY 3.3).", _check6,
               _all_pass),
    SuiteCheck("8", "Theorem R region inside the exact stability region",
               "Spectral radius of the exact hybrid second-moment map on the (C1)-(C2) rectangle (n = 1) for random "
               "PD Hessians must stay below 1 (THEORY check 8).",
               lambda size, seeds: check8_region_inclusion(seeds=range(3 if size == "fast" else 10)), _all_pass,
               ("stability_region",)),
    SuiteCheck("9", "Jacobi vs Gauss-Seidel falsifier of (BD)",
               "H = [[1, b], [b, 1]] blocks, b = 0.6, per-block steps 1.5/L_b: Jacobi diverges (radius 1.4) although "
               "the seed's (BD) certifies descent; Gauss-Seidel converges (0.5) (THEORY 3.2, check 9).",
               lambda size, seeds: sim.check9_jacobi_vs_gauss_seidel(), _seed_lemma_fails),
    SuiteCheck("11", "reference bound B_R", "Seed-mean of (1/T) sum_t [eta_x ||grad_x f||^2 + eta_y ||grad_y f||^2] "
               "+ 4 se against B_R on coupled quadratics and Cauchy sums at 100/50/10% of the caps (THEORY 6.1, "
               "check 11).", lambda size, seeds: sim.check11_reference_bound(size=size, seeds=seeds), _all_pass,
               ("bound_vs_measured",)),
    SuiteCheck("12a", "rate slope, sigma_x > 0",
               "Slope of log Phi(T) under eta ~ T^-1/2 on a Cauchy sum: <= -1/2 + 0.1; "
               "and the two-sided version: ZO-SGD with replacement on a quadratic, Phi(T) against the exact "
               "second-moment recursion (5 se) and its asymptotic slope -1/2 +- 0.05 (THEORY 6.5, check 12a).",
               lambda size, seeds: (sim.check12a_rate_slope(size=size, seeds=seeds)
                                    + sim.check12a_quadratic_exact(size=size, seeds=seeds)),
               _all_pass, ("rate_slopes",)),
    SuiteCheck("12b", "rate slope, interpolating x-block", "Slope of log Phi(T) under eta ~ T^-1/3 with sigma_x = 0: "
               "Theorem R predicts <= -2/3 + 0.1, the bounded-gradient analysis only -1/3 (check 12b).",
               lambda size, seeds: sim.check12b_interpolating_slope(size=size, seeds=seeds), _all_pass,
               ("rate_slopes",)),
    SuiteCheck("13", "two step sizes vs one", "s_exact closed form, and simulated epochs-to-target ratios of two step "
               "sizes vs one on separable quadratics against the exact recursions, 10% (THEORY 6.4, check 13).",
               _check13, _all_pass, ("speedup_vs_rho",)),
    SuiteCheck("14", "stopping times and high-probability claims", "Quartic instance: P(tau1 < T), P(tau2 < T), "
               "E||eps_t||^2 against the seed's bracket, the eps-fraction at T_required_seed, each with "
               "Clopper-Pearson upper bounds; and the misuse falsifier (THEORY 5.1, 5.2, check 14).",
               lambda size, seeds: sim.check14_high_probability(size=size, seeds=seeds), _check14_expected),
    SuiteCheck("15", "individual vs average smoothness", "n = 2, f_1 = K/2 y^2, f_2 = (2-K)/2 y^2: RR at "
               "1/(8 n L_f) diverges (multiplier -37.4), at 1/(16 K) converges (THEORY check 15).",
               lambda size, seeds: sim.check15_individual_smoothness(), _check15_expected),
)}


def parse_only(only: str | Iterable[str] | None) -> list[str]:
    """Check keys from '8,11' or an iterable; ValueError naming the accepted keys for anything else."""
    if only is None:
        return list(REGISTRY)
    items = [s.strip() for s in (only.split(",") if isinstance(only, str) else only)]
    items = [s for s in items if s]
    bad = [s for s in items if s not in REGISTRY]
    if bad or not items:
        raise ValueError(f"unknown check {', '.join(bad) if bad else '(empty)'}; accepted: {', '.join(REGISTRY)}")
    return list(dict.fromkeys(items))


def _rows(key: str, results: list[CheckResult], expected: list[str], seconds: float) -> pd.DataFrame:
    df = results_table(results)
    df.insert(0, "key", key)
    df["expected"] = expected
    df["seconds"] = seconds
    return df


def run_suite(only=None, size: str = "fast", seeds: int | None = None, problems=None) -> pd.DataFrame:
    """Run the selected checks (all when ``only`` is None) and, for each problem (spec string or objective), its
    assumption checks. Columns: ``SUITE_COLUMNS`` first, then ``key`` (registry key or 'problem') and
    ``details``. ``seconds`` is the wall time of the row's whole check."""
    sim._size(size)
    keys = parse_only(only) if (only is not None or not problems) else []
    frames = []
    for key in keys:
        entry = REGISTRY[key]
        start = time.perf_counter()
        results = entry.run(size, seeds)
        frames.append(_rows(key, results, [entry.expected(r) for r in results], time.perf_counter() - start))
    for problem in problems or ():
        if isinstance(problem, str):
            from ..problems import make_problem

            spec, obj = problem, make_problem(problem)
        else:
            spec, obj = getattr(problem, "spec", "") or type(problem).__name__, problem
        start = time.perf_counter()
        pairs = problem_assumption_checks(obj, spec=spec, size=size)
        frames.append(_rows("problem", [p[0] for p in pairs], [p[1] for p in pairs], time.perf_counter() - start))
    if not frames:
        return pd.DataFrame(columns=list(SUITE_COLUMNS) + ["key", "details"])
    df = pd.concat(frames, ignore_index=True)
    return df[list(SUITE_COLUMNS) + ["key", "details"]]


def as_expected(df: pd.DataFrame) -> pd.Series:
    """Per row: the verdict matches the expectation ('report' rows always match)."""
    passed = df.verdict != "fail"
    return (df.expected == "report") | ((df.expected == "pass") & passed) | ((df.expected == "fail") & ~passed)


def gating_failures(df: pd.DataFrame) -> pd.DataFrame:
    """Rows expected to pass that failed: the only rows that make ``hybridsmooth check`` exit non-zero."""
    return df[(df.expected == "pass") & (df.verdict == "fail")]
