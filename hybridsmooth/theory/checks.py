"""The result type of every numerical check (THEORY 7), its verdict rules, a table, and Clopper-Pearson bounds.

The checks themselves live in ``claims`` (one module per numbered check), the assumption measurements in
``assumptions``, and the list of claims in ``suite``.

Verdicts (THEORY 7, conventions):

* two-sided: ``pass`` iff |computed - theoretical| <= tolerance;
* one-sided upper: ``pass`` iff computed + k se <= bound; the slack is bound/computed and a pass with
  slack > 1e3 is reported as ``vacuous pass``, never silently;
* one-sided lower: ``pass`` iff computed - k se >= bound; slack computed/bound, same vacuity rule.

Each result also carries the verdict it is *expected* to have, decided where the row is made:

* ``pass``   -- a bound or identity that must hold; a failure is an error of the toolkit or of THEORY;
* ``fail``   -- the row tests a statement THEORY shows to be false (the paper's (BD) and (G3), "use the L of f");
  its failure is the demonstration;
* ``report`` -- measured and shown, never gating.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import pandas as pd

from .arguments import nonneg

Verdict = Literal["pass", "fail", "vacuous pass"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "vacuous pass")
Expected = Literal["pass", "fail", "report"]
EXPECTED: tuple[str, ...] = ("pass", "fail", "report")
VACUOUS_SLACK = 1e3


@dataclass(frozen=True)
class CheckResult:
    """One check: what was computed, what THEORY predicts, the tolerance, and the verdict.

    ``seeds`` and ``samples`` say how much randomness went in (0 for exact algebra); ``slack`` is
    bound/computed for one-sided checks (None for two-sided); ``details`` holds anything a reader needs to
    reproduce or understand the result (e.g. a counterexample pair); ``expected`` is the verdict the row should
    have (see the module docstring).
    """

    check: str
    instance: str
    computed: float
    theoretical: float
    tolerance: float
    verdict: Verdict
    seeds: int = 0
    samples: int = 0
    slack: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    expected: Expected = "pass"

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.expected not in EXPECTED:
            raise ValueError(f"expected must be one of {EXPECTED}, got {self.expected!r}")

    @property
    def passed(self) -> bool:
        """True for 'pass' and 'vacuous pass' (the bound holds either way)."""
        return self.verdict != "fail"


def two_sided(
    check: str,
    instance: str,
    computed: float,
    theoretical: float,
    *,
    atol: float = 0.0,
    rtol: float = 0.0,
    se: float = 0.0,
    k: float = 5.0,
    seeds: int = 0,
    samples: int = 0,
    details: dict | None = None,
    expected: Expected = "pass",
) -> CheckResult:
    """Two-sided check with tolerance atol + rtol |theoretical| + k se (each part defaults to 0)."""
    tol = nonneg("atol", atol) + nonneg("rtol", rtol) * abs(theoretical) + nonneg("k", k) * nonneg("se", se)
    computed, theoretical = float(computed), float(theoretical)
    ok = math.isfinite(computed) and abs(computed - theoretical) <= tol
    return CheckResult(
        check,
        instance,
        computed,
        theoretical,
        tol,
        "pass" if ok else "fail",
        seeds,
        samples,
        None,
        dict(details or {}),
        expected,
    )


def one_sided(
    check: str,
    instance: str,
    computed: float,
    bound: float,
    *,
    se: float = 0.0,
    k: float = 4.0,
    atol: float = 0.0,
    sense: Literal["upper", "lower"] = "upper",
    seeds: int = 0,
    samples: int = 0,
    details: dict | None = None,
    expected: Expected = "pass",
) -> CheckResult:
    """One-sided check: upper, computed + k se <= bound + atol; lower, computed - k se >= bound - atol.

    ``atol`` is a stated absolute tolerance (e.g. float rounding for exact suprema); the slack
    (bound/computed for upper, computed/bound for lower) is None unless both numbers are positive.
    """
    if sense not in ("upper", "lower"):
        raise ValueError(f"sense must be 'upper' or 'lower', got {sense!r}")
    tol = nonneg("k", k) * nonneg("se", se) + nonneg("atol", atol)
    computed, bound = float(computed), float(bound)
    if sense == "upper":
        ok = computed + k * se <= bound + atol
        slack = bound / computed if computed > 0 and bound > 0 else None
    else:
        ok = computed - k * se >= bound - atol
        slack = computed / bound if computed > 0 and bound > 0 else None
    ok = ok and not math.isnan(computed)
    verdict: Verdict = "fail"
    if ok:
        verdict = "vacuous pass" if slack is not None and slack > VACUOUS_SLACK else "pass"
    return CheckResult(
        check,
        instance,
        computed,
        bound,
        tol,
        verdict,
        seeds,
        samples,
        slack,
        dict(details or {}, sense=sense),
        expected,
    )


def sampled_max_check(check: str, instance: str, values, stated: float, *, details: dict | None = None) -> CheckResult:
    """One-sided upper check of the largest sampled value against a stated constant, with a float-rounding
    tolerance relative to the constant (absolute below 1); ``values`` is a tensor of the sampled quantity."""
    return one_sided(
        check,
        instance,
        float(values.max()),
        float(stated),
        atol=1e-9 * max(1.0, stated),
        samples=int(values.numel()),
        details=details,
    )


def results_table(results: Iterable[CheckResult]) -> pd.DataFrame:
    """One row per check, columns in the order of ``CheckResult``'s fields (details kept as a dict)."""
    rows = [asdict(r) for r in results]
    columns = [f for f in CheckResult.__dataclass_fields__]
    return pd.DataFrame(rows, columns=columns)


# --- Clopper-Pearson ------------------------------------------------------------------------------------


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (exact up to rounding; no scipy)."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    logs = [
        math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * lp + (n - j) * lq for j in range(k + 1)
    ]
    m = max(logs)
    return min(1.0, math.exp(m) * math.fsum(math.exp(v - m) for v in logs))


def _check_counts(successes: int, trials: int) -> tuple[int, int]:
    if isinstance(trials, bool) or int(trials) != trials or trials < 1:
        raise ValueError(f"trials must be a positive integer, got {trials!r}")
    if isinstance(successes, bool) or int(successes) != successes or not 0 <= successes <= trials:
        raise ValueError(f"successes must be an integer in [0, trials={trials}], got {successes!r}")
    return int(successes), int(trials)


def clopper_pearson_upper(successes: int, trials: int, *, level: float = 0.95) -> float:
    """One-sided exact upper confidence bound p_U: the p with P(X <= successes; trials, p) = 1 - level.

    Equals the ``level`` quantile of Beta(successes + 1, trials - successes) (1 when successes = trials); found
    here by bisection on the binomial cdf, which is decreasing in p.
    """
    k, n = _check_counts(successes, trials)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if k == n:
        return 1.0
    target = 1.0 - level
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _binom_cdf(k, n, mid) > target else (lo, mid)
        if hi - lo < 1e-15:
            break
    return 0.5 * (lo + hi)


def clopper_pearson_interval(successes: int, trials: int, *, level: float = 0.95) -> tuple[float, float]:
    """Two-sided exact interval at ``level``: each tail (1 - level)/2."""
    k, n = _check_counts(successes, trials)
    tail = (1.0 - level) / 2
    upper = clopper_pearson_upper(k, n, level=1 - tail)
    lower = 0.0 if k == 0 else 1.0 - clopper_pearson_upper(n - k, n, level=1 - tail)
    return lower, upper


def rate_check(
    check: str,
    instance: str,
    successes: int,
    trials: int,
    bound: float,
    *,
    level: float = 0.95,
    details: dict | None = None,
    seeds: int = 0,
    expected: Expected = "pass",
) -> CheckResult:
    """One-sided rate check: the empirical rate's Clopper-Pearson upper bound must not exceed ``bound``
    (THEORY check 14 reports every empirical rate this way)."""
    k, n = _check_counts(successes, trials)
    upper = clopper_pearson_upper(k, n, level=level)
    return one_sided(
        check,
        instance,
        upper,
        bound,
        seeds=seeds,
        samples=n,
        details=dict(details or {}, rate=k / n, successes=k, level=level),
        expected=expected,
    )
