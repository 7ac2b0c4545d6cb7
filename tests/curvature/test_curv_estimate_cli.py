"""`hybridsmooth estimate` on quadratics: exact constants printed beside the estimates, clear errors."""

import csv
import json

import pytest

from hybridsmooth.cli import main
from hybridsmooth.objectives.quadratic import make_block_quadratic

SPEC = "quadratic:dx=30,dy=6,Lx=8,Ly=2,coupling=0.6,n=4,seed=5"


def _exact():
    q = make_block_quadratic(dx=30, dy=6, Lx=8.0, Ly=2.0, coupling=0.6, n=4, seed=5)
    return {"L_x": q.constants.L_x, "L_y": q.constants.L_y, "L_xy": q.constants.L_xy}


@pytest.mark.parametrize("method", ["lanczos", "power", "eigsh"])
def test_estimate_json_agrees_with_exact_constants(method, capsys):
    rc = main(["estimate", SPEC, "--method", method, "--json", "--max-iter", "3000"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    exact = _exact()
    assert [r["block"] for r in out["rows"]] == ["xx", "yy", "xy"]
    for r in out["rows"]:
        assert r["exact"] == pytest.approx(exact[r["quantity"]], rel=1e-12)
        assert abs(r["estimate"] - exact[r["quantity"]]) <= 1e-6 * exact[r["quantity"]]
        assert r["converged"] and r["hvps"] > 0


def test_estimate_table_prints_exact_beside_estimate_and_writes_csv(tmp_path, capsys):
    out_csv = tmp_path / "t.csv"
    rc = main(["estimate", SPEC, "--blocks", "xx,xy", "--points", "3", "--out", str(out_csv)])
    assert rc == 0
    text = capsys.readouterr().out
    header = text.splitlines()[1].split()
    assert header[:4] == ["block", "quantity", "estimate", "exact"]
    exact = _exact()
    rows = list(csv.DictReader(open(out_csv)))
    assert [r["block"] for r in rows] == ["xx", "xy"]
    for r in rows:
        assert float(r["estimate"]) == pytest.approx(exact[r["quantity"]], rel=1e-6)
        assert float(r["exact"]) == pytest.approx(exact[r["quantity"]], rel=1e-12)
        assert int(r["points"]) == 3
    assert "lower bound on the sup" in text


@pytest.mark.parametrize(
    "argv,msg",
    [
        (["--blocks", "xz"], "--blocks takes"),
        (["--method", "power", "--k", "3"], "power iteration finds one"),
        (["--points", "0"], "--points must be"),
        (["--idx", "99"], "--idx must lie"),
        (["--k", "99"], "exceeds the number of eigenvalues"),
        (["--method", "power", "--reorth", "full"], "--method power runs no Lanczos"),
        (["--forward-only", "--reorth", "partial"], "--forward-only runs no Lanczos"),
        (["--k", "2", "--reorth", "partial"], "--k 2 runs block Lanczos"),
    ],
)
def test_estimate_bad_arguments_exit_2_with_one_line(argv, msg, capsys):
    rc = main(["estimate", SPEC] + argv)
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1


def test_estimate_unknown_problem_key(capsys):
    assert main(["estimate", "quadratic:nope=1"]) == 2
    assert "unknown key" in capsys.readouterr().err


def test_estimate_checks_out_before_any_work(monkeypatch, capsys):
    import hybridsmooth.commands.estimate as estimate

    def no_work(spec):
        raise AssertionError("the problem was built before --out was checked")

    monkeypatch.setattr(estimate, "make_problem", no_work)
    assert main(["estimate", "quadratic", "--out", "/proc/nope/t.csv"]) == 2
    err = capsys.readouterr().err.strip()
    assert "--out" in err and "/proc/nope/t.csv" in err and len(err.splitlines()) == 1


def test_finite_differences_report_their_measured_defects(tmp_path, capsys):
    """Asymmetry and nonlinearity of the finite-difference products: in --json, the table and the CSV;
    on a quadratic the gradient is affine, so both are rounding only."""
    assert main(["estimate", SPEC, "--backend", "finite_difference", "--json", "--quiet"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    for r in rows:
        assert 0 <= r["asymmetry"] < 1e-8 and 0 <= r["nonlinearity"] < 1e-8
        assert r["estimate"] == pytest.approx(_exact()[r["quantity"]], rel=1e-6)
    out_csv = tmp_path / "fd.csv"
    assert main(["estimate", SPEC, "--backend", "finite_difference", "--quiet", "--out", str(out_csv)]) == 0
    header = capsys.readouterr().out.splitlines()[1].split()
    assert header[-2:] == ["asymmetry", "nonlinearity"]
    assert list(csv.DictReader(open(out_csv)))[0].keys() >= {"asymmetry", "nonlinearity"}
    assert main(["estimate", SPEC, "--json", "--quiet"]) == 0  # exact products: nothing to report
    assert all("asymmetry" not in r for r in json.loads(capsys.readouterr().out)["rows"])


def test_estimate_reorth_partial_gives_the_exact_constants_and_says_how_it_ran(tmp_path, capsys):
    """--reorth partial on every block: the same constants to the tolerance; the table says which
    re-orthogonalisation ran (auto is full on operators this small) and the JSON records the request."""
    exact = _exact()
    assert main(["estimate", SPEC, "--reorth", "partial", "--json", "--rtol", "1e-8"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["reorth"] == "partial"
    for r in out["rows"]:
        assert abs(r["estimate"] - exact[r["quantity"]]) <= 1e-6 * exact[r["quantity"]]
        assert r["converged"] and r["reorth"].startswith("partial (")
    out_csv = tmp_path / "t.csv"
    assert main(["estimate", SPEC, "--blocks", "xx", "--out", str(out_csv)]) == 0
    assert [r["reorth"] for r in csv.DictReader(open(out_csv))] == ["full"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["estimate", SPEC, "--reorth", "never"])
    assert exited.value.code == 2 and "--reorth" in capsys.readouterr().err
