"""Checks 9 and 15 as results, the suite registry and its expectations, problem assumption checks, the report."""

import pandas as pd
import pytest

from hybridsmooth.objectives.counterexamples import make_bilinear, make_coupled2
from hybridsmooth.objectives.synthetic import make_cauchy
from hybridsmooth.theory import suite
from hybridsmooth.theory.claims import check09_jacobi_gauss_seidel as c9
from hybridsmooth.theory.claims import check15_individual_smoothness as c15
from hybridsmooth.theory.report import markdown_report

pytestmark = pytest.mark.theory


def test_check9_jacobi_diverges_gauss_seidel_converges():
    rows = {r.check: r for r in c9.check9_jacobi_vs_gauss_seidel()}
    assert rows["9: jacobi spectral radius (exact)"].computed == pytest.approx(1.4, rel=1e-12)
    assert rows["9: gauss_seidel spectral radius (exact)"].computed == pytest.approx(0.5, rel=1e-12)
    assert rows["9: paper's lemma (BD) certifies descent: Jacobi radius <= 1"].verdict == "fail"
    assert all(r.verdict == "pass" for k, r in rows.items() if "paper's lemma" not in k)


def test_check15_multipliers():
    rows = c15.check15_individual_smoothness()
    assert rows[0].computed == pytest.approx(37.40625, rel=1e-12) and rows[0].verdict == "pass"
    assert rows[1].computed == pytest.approx(0.994921875, rel=1e-12) and rows[1].verdict == "pass"
    assert rows[2].verdict == "fail" and rows[3].verdict == "pass"


def test_parse_only():
    assert suite.parse_only("8, 11,8") == ["8", "11"]
    assert suite.parse_only(None) == list(suite.REGISTRY)
    with pytest.raises(ValueError, match="unknown check 7; accepted: 4, 5, 6, 8, 9, 11, 12a, 12b, 13, 14, 15"):
        suite.parse_only("7")
    with pytest.raises(ValueError, match="unknown check"):
        suite.parse_only(" , ")


def test_suite_rows_meet_their_expectations():
    df = suite.run_suite(only="4,5,6,8,9,15")
    assert list(df.columns[:11]) == list(suite.SUITE_COLUMNS)
    assert set(df.key) == {"4", "5", "6", "8", "9", "15"}
    assert suite.as_expected(df).all()
    assert suite.gating_failures(df).empty
    # the demonstrations of the paper's false statements are present and fail
    exp_fail = df[df.expected == "fail"]
    assert len(exp_fail) == 7 and (exp_fail.verdict == "fail").all()
    assert (df.seconds >= 0).all()


def test_gating_counts_only_rows_expected_to_pass():
    df = pd.DataFrame({"verdict": ["fail", "fail", "pass", "fail"], "expected": ["fail", "report", "pass", "pass"]})
    assert list(suite.gating_failures(df).index) == [3]
    assert list(suite.as_expected(df)) == [True, True, True, False]


def test_problem_assumption_checks():
    rows = dict((r.check, (r, r.expected)) for r in suite.problem_assumption_checks(make_cauchy(dx=4, dy=2, n=4)))
    for name, (r, e) in rows.items():
        assert r.verdict != "fail" and e in ("pass", "report"), name
    assert any("(R1)" in k for k in rows)
    bd = [(r, r.expected) for r in suite.problem_assumption_checks(make_coupled2(s=0.3)) if "(BD)" in r.check]
    assert bd[0][0].verdict == "fail" and bd[0][1] == "report"
    # grad^2 f - Lambda = [[0, B], [B^T, 0]] has top eigenvalue ||B|| = s sqrt(ac) = 0.3 (THEORY 3.2)
    assert bd[0][0].computed == pytest.approx(0.3, rel=1e-9)
    bil = [(r, r.expected) for r in suite.problem_assumption_checks(make_bilinear()) if "(BD)" in r.check]
    assert bil[0][0].computed == pytest.approx(1.0) and bil[0][0].verdict == "fail"


def test_report_has_table_counterexamples_and_figures(tmp_path):
    figs = tmp_path / "figs"
    figs.mkdir()
    (figs / "stability_region.png").write_bytes(b"\x89PNG")
    (figs / "rate_slopes.png").write_bytes(b"\x89PNG")
    df = suite.run_suite(only="5,8")
    text = markdown_report(df, size="fast", base=tmp_path, figures_dir=figs)
    assert "| check | instance | computed |" in text
    assert "## Check 5:" in text and "## Check 8:" in text
    assert "(BD) counterexample on coupled2" in text and "(G3) counterexample" in text and "(G3) repair" in text
    # check 8's figure is linked relative to the report; check 12's exists but check 12 did not run
    assert "![stability_region](figs/stability_region.png)" in text
    assert "rate_slopes.png" not in text
