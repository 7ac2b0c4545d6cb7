"""`hybridsmooth estimate --rtol`: every row carries its relative residual; a solve stops when it meets rtol,
and one that spends its product budget first says so, with the residual it reached."""

import csv
import json

from hybridsmooth.cli import main

SPEC = "quadratic:dx=40,dy=8,Lx=10,Ly=1,coupling=0.5,seed=2"


def _rows(capsys, *args):
    assert main(["estimate", SPEC, "--json", "--quiet", *args]) == 0
    return json.loads(capsys.readouterr().out)["rows"]


def test_rtol_is_met_or_the_budget_is_named(capsys):
    for row in _rows(capsys, "--rtol", "1e-8"):
        assert row["converged"] and row["rtol"] == 1e-8
        assert row["rel_residual"] <= 1e-8
        assert row["rel_residual"] == row["residual"] / abs(row["estimate"])
    short = _rows(capsys, "--rtol", "1e-8", "--max-iter", "4")
    assert not any(r["converged"] for r in short)
    assert all(r["rel_residual"] > 1e-8 for r in short)
    assert main(["estimate", SPEC, "--quiet", "--rtol", "1e-8", "--max-iter", "4"]) == 0
    text = capsys.readouterr().out
    for r in short:
        assert f"# {r['block']}: NOT converged: the product budget (--max-iter 4 per solve)" in text
        assert f"relative residual {r['rel_residual']:.2e} > --rtol 1e-08" in text


def test_tol_is_the_same_option_and_csv_keeps_rtol(capsys, tmp_path):
    def timeless(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert timeless(_rows(capsys, "--tol", "1e-3")) == timeless(_rows(capsys, "--rtol", "1e-3"))
    out = tmp_path / "t.csv"
    assert main(["estimate", SPEC, "--quiet", "--rtol", "1e-3", "--out", str(out)]) == 0
    capsys.readouterr()
    rows = list(csv.DictReader(out.open()))
    assert [float(r["rtol"]) for r in rows] == [1e-3] * 3
    assert all(float(r["rel_residual"]) <= 1e-3 for r in rows)


def test_default_rtol_is_the_dtype_default(capsys):
    rows = _rows(capsys, "--blocks", "yy")
    assert rows[0]["rtol"] == 1e-10  # float64 problem


def test_a_bad_rtol_is_refused_before_the_problem_is_built(capsys, monkeypatch):
    import hybridsmooth.commands.estimate as estimate

    def never(spec):
        raise AssertionError("the problem was built before --rtol was checked")

    monkeypatch.setattr(estimate, "make_problem", never)
    for bad in ("-1", "0", "nan", "inf"):
        assert main(["estimate", SPEC, "--rtol", bad, "--quiet"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "--rtol must be a finite positive number" in err[0]
