"""CheckResult verdict rules, the results table, and Clopper-Pearson bounds against scipy's beta quantiles."""

import pytest
from scipy.stats import beta

from hybridsmooth.theory import checks as C

pytestmark = pytest.mark.theory


def test_one_sided_verdicts_and_vacuity():
    assert C.one_sided("c", "i", 1.0, 2.0).verdict == "pass"
    vac = C.one_sided("c", "i", 1.0, 2000.0)
    assert vac.verdict == "vacuous pass" and vac.slack == pytest.approx(2000.0) and vac.passed
    assert C.one_sided("c", "i", 1.0, 999.0).verdict == "pass"
    assert C.one_sided("c", "i", 3.0, 2.0).verdict == "fail"
    # the standard errors count against the claim: 1.9 + 4*0.1 > 2
    assert C.one_sided("c", "i", 1.9, 2.0, se=0.1).verdict == "fail"
    assert C.one_sided("c", "i", 1.5, 2.0, se=0.1).verdict == "pass"
    low = C.one_sided("c", "i", 5.0, 1.0, sense="lower")
    assert low.verdict == "pass" and low.slack == pytest.approx(5.0)
    assert C.one_sided("c", "i", 0.5, 1.0, sense="lower").verdict == "fail"
    assert C.one_sided("c", "i", float("nan"), 1.0).verdict == "fail"
    # a residual bound of 0 has no slack ratio and is never 'vacuous'
    r = C.one_sided("c", "i", -5.0, 0.0)
    assert r.verdict == "pass" and r.slack is None


def test_two_sided_tolerance_parts():
    assert C.two_sided("c", "i", 1.0 + 4e-9, 1.0, rtol=1e-8).verdict == "pass"
    assert C.two_sided("c", "i", 1.0 + 4e-8, 1.0, rtol=1e-8).verdict == "fail"
    r = C.two_sided("c", "i", 1.4, 1.0, se=0.1, k=5.0)
    assert r.verdict == "pass" and r.tolerance == pytest.approx(0.5)
    assert C.two_sided("c", "i", 1.6, 1.0, se=0.1, k=5.0).verdict == "fail"
    with pytest.raises(ValueError, match="se"):
        C.two_sided("c", "i", 1.0, 1.0, se=-1.0)
    with pytest.raises(ValueError, match="verdict"):
        C.CheckResult("c", "i", 1.0, 1.0, 0.0, "maybe")


def test_results_table():
    rows = [C.one_sided("a", "i", 1.0, 2.0, seeds=3, samples=10), C.two_sided("b", "j", 1.0, 2.0, atol=0.1)]
    df = C.results_table(rows)
    assert list(df.columns) == [
        "check",
        "instance",
        "computed",
        "theoretical",
        "tolerance",
        "verdict",
        "seeds",
        "samples",
        "slack",
        "details",
        "expected",
    ]
    assert list(df.verdict) == ["pass", "fail"] and df.seeds.iloc[0] == 3
    assert list(df.expected) == ["pass", "pass"]


def test_expected_verdict_is_stored_on_the_result():
    assert C.one_sided("a", "i", 2.0, 1.0, expected="fail").expected == "fail"
    assert C.two_sided("b", "j", 1.0, 1.0, expected="report").expected == "report"
    assert C.rate_check("c", "k", 0, 10, 0.5, expected="report").expected == "report"
    with pytest.raises(ValueError, match="expected must be one of"):
        C.CheckResult("c", "i", 1.0, 1.0, 0.0, "pass", expected="maybe")


@pytest.mark.parametrize("k,n", [(0, 1), (0, 10), (1, 10), (5, 10), (9, 10), (0, 500), (3, 500), (50, 500), (17, 2000)])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_beta_quantiles(k, n, level):
    assert C.clopper_pearson_upper(k, n, level=level) == pytest.approx(
        beta.ppf(level, k + 1, n - k), rel=1e-9, abs=1e-13
    )
    lo, hi = C.clopper_pearson_interval(k, n, level=level)
    a = (1 - level) / 2
    assert hi == pytest.approx(beta.ppf(1 - a, k + 1, n - k), rel=1e-9, abs=1e-13)
    assert lo == pytest.approx(0.0 if k == 0 else beta.ppf(a, k, n - k + 1), rel=1e-9, abs=1e-13)


def test_clopper_pearson_edges_and_rate_check():
    assert C.clopper_pearson_upper(10, 10) == 1.0
    assert C.clopper_pearson_upper(0, 100, level=0.95) == pytest.approx(1 - 0.05 ** (1 / 100), rel=1e-9)
    with pytest.raises(ValueError, match="successes"):
        C.clopper_pearson_upper(11, 10)
    with pytest.raises(ValueError, match="trials"):
        C.clopper_pearson_upper(0, 0)
    ok = C.rate_check("14: P(tau1 < T) <= delta/4", "quartic", 3, 500, 0.025)
    assert ok.verdict == "pass" and ok.computed == pytest.approx(beta.ppf(0.95, 4, 497), rel=1e-9)
    assert C.rate_check("14", "quartic", 10, 500, 0.025).verdict == "fail"  # 2% rate, upper bound 3.4%
