"""The standard suite of THEORY 7 checks: the list of claim modules (``theory.claims``), and the functions that
run them, with the assumption checks of given problems, into one table.

Every row carries the verdict it is expected to have (``CheckResult.expected``: pass, fail or report), decided by
the claim module that made it; ``run_suite`` returns one row per result, and the command line exits non-zero
only when a row expected to pass fails (``gating_failures``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import pandas as pd

from .checks import EXPECTED, CheckResult, Expected, results_table
from .claims import (
    check04_second_moments,
    check05_block_descent,
    check06_generalized_smoothness,
    check08_region_inclusion,
    check09_jacobi_gauss_seidel,
    check11_reference_bound,
    check12a_rate_slope,
    check12b_interpolating_slope,
    check13_two_step_speedup,
    check14_high_probability,
    check15_individual_smoothness,
    check16_pep_worst_case,
)
from .problem_checks import problem_assumption_checks
from .sizes import check_size

__all__ = [
    "CLAIMS",
    "EXPECTED",
    "Expected",
    "REGISTRY",
    "SUITE_COLUMNS",
    "as_expected",
    "gating_failures",
    "parse_only",
    "problem_assumption_checks",
    "run_exact_checks",
    "run_suite",
]

SUITE_COLUMNS: tuple[str, ...] = (
    "check",
    "instance",
    "computed",
    "theoretical",
    "tolerance",
    "verdict",
    "expected",
    "slack",
    "seeds",
    "samples",
    "seconds",
)

CLAIMS = (
    check04_second_moments,
    check05_block_descent,
    check06_generalized_smoothness,
    check08_region_inclusion,
    check09_jacobi_gauss_seidel,
    check11_reference_bound,
    check12a_rate_slope,
    check12b_interpolating_slope,
    check13_two_step_speedup,
    check14_high_probability,
    check15_individual_smoothness,
    check16_pep_worst_case,
)

# claim modules by the key ``--only`` takes
REGISTRY: dict = {claim.KEY: claim for claim in CLAIMS}


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


def _rows(key: str, results: list[CheckResult], seconds: float) -> pd.DataFrame:
    df = results_table(results)
    df.insert(0, "key", key)
    df["seconds"] = seconds
    return df


def _problem_frame(problem, size: str) -> pd.DataFrame:
    if isinstance(problem, str):
        from ..problems import make_problem

        spec, obj = problem, make_problem(problem)
    else:
        spec, obj = problem.spec or type(problem).__name__, problem
    start = time.perf_counter()
    results = problem_assumption_checks(obj, spec=spec, size=size)
    return _rows("problem", results, time.perf_counter() - start)


def run_suite(only=None, size: str = "fast", seeds: int | None = None, problems=None) -> pd.DataFrame:
    """Run the selected checks (all when ``only`` is None) and, for each problem (spec string or objective), its
    assumption checks. Columns: ``SUITE_COLUMNS`` first, then ``key`` (claim key or 'problem') and
    ``details``. ``seconds`` is the wall time of the row's whole check."""
    check_size(size)
    keys = parse_only(only) if (only is not None or not problems) else []
    frames = []
    for key in keys:
        start = time.perf_counter()
        results = REGISTRY[key].run(size, seeds)
        frames.append(_rows(key, results, time.perf_counter() - start))
    frames += [_problem_frame(problem, size) for problem in problems or ()]
    if not frames:
        return pd.DataFrame(columns=list(SUITE_COLUMNS) + ["key", "details"])
    df = pd.concat(frames, ignore_index=True)
    return df[list(SUITE_COLUMNS) + ["key", "details"]]


def run_exact_checks(*, n_points: int = 10_000, seeds=range(5)) -> pd.DataFrame:
    """The checks that need no optimizer run, as one table: check 5 (s = 0, 0.3, 0.9 and the bilinear
    counterexample), check 6, check 8 and check 13's exact part. Rows expected to fail (``expected``): the paper's
    lemmas (BD) and (G3) for s > 0 and on b x y -- THEORY 3.2's counterexamples, not a toolkit error."""
    rows: list[CheckResult] = []
    for s in (0.0, 0.3, 0.9):
        rows += check05_block_descent.check5_block_descent(s, n_pairs=n_points)
    rows.append(check05_block_descent.check5_bilinear())
    rows += check06_generalized_smoothness.check6_generalized_smoothness(n_points=n_points)
    rows += check08_region_inclusion.check8_region_inclusion(seeds=seeds)
    rows += check13_two_step_speedup.check13_s_exact()
    return results_table(rows)


def as_expected(df: pd.DataFrame) -> pd.Series:
    """Per row: the verdict matches the expectation ('report' rows always match)."""
    passed = df.verdict != "fail"
    return (df.expected == "report") | ((df.expected == "pass") & passed) | ((df.expected == "fail") & ~passed)


def gating_failures(df: pd.DataFrame) -> pd.DataFrame:
    """Rows expected to pass that failed: the only rows that make ``hybridsmooth check`` exit non-zero."""
    return df[(df.expected == "pass") & (df.verdict == "fail")]
