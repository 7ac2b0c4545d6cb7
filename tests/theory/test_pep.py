"""PEP worst cases of Theorem R's skeleton (hybridsmooth.theory.pep, check 16, figure pep_worst_case).

Needs the oracle extra (pepit); skipped without it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

pytest.importorskip("PEPit")

from hybridsmooth.theory.pep import PEPCase, case_table, counterexamples, pep_value, skeleton_bound, solve  # noqa: E402

pytestmark = pytest.mark.oracle


def _gd_convex(N: int, **options):
    """PEPit's documented example: GD with step 1/L on L-smooth convex f, worst f(x_N) - f* over ||x0-x*|| <= 1."""
    from PEPit import PEP
    from PEPit.functions import SmoothConvexFunction

    problem = PEP()
    f = problem.declare_function(SmoothConvexFunction, L=1.0)
    xs = f.stationary_point()
    x0 = problem.set_initial_point()
    problem.set_initial_condition((x0 - xs) ** 2 <= 1)
    x = x0
    for _ in range(N):
        x = x - f.gradient(x)
    problem.set_performance_metric(f(x) - f(xs))
    return solve(problem, **options)


@pytest.mark.parametrize("N", [1, 4])
@pytest.mark.parametrize("solver", ["CLARABEL", "SCS"])
def test_documented_gradient_descent_value(N, solver):
    res = _gd_convex(N, solver=solver)
    assert res.converged and res.value == pytest.approx(1 / (4 * N + 2), rel=1e-5)


def test_deterministic_matches_prototype_relaxation():
    # PEP.md's prototype: f(w0) - f(w) <= Delta0 at visited points gives Delta0 / (T (1 - c/2))
    res = pep_value(PEPCase(n=1, T=2, c_x=1 / 8, c_y=1 / 8, relaxation="descent"))
    assert res.value == pytest.approx(1 / (2 * (1 - 1 / 16)), rel=1e-5)
    # the lower-bounded class is tighter; at T = 1 its value 2 c Delta0 is attained by f = ||w||^2 / 2
    assert pep_value(PEPCase(n=1, T=1, c_x=1 / 8, c_y=1 / 8)).value == pytest.approx(0.25, rel=1e-5)


@pytest.fixture(scope="module")
def small_table():
    cases = [
        ("det jacobi", PEPCase(n=1, T=3, c_x=1 / 8, c_y=1 / 8, s2_x=0.0, s2_y=0.0), "expectation"),
        ("det gs", PEPCase(n=1, T=2, c_x=1 / 8, c_y=1 / 8, s2_x=0.0, s2_y=0.0, update="gauss_seidel"), "expectation"),
        ("rr2", PEPCase(n=2, T=1, c_x=1 / 16, c_y=1 / 16, s2_x=0.5, s2_y=0.5), "expectation"),
        ("rr2 max", PEPCase(n=2, T=1, c_x=1 / 16, c_y=1 / 16, s2_x=0.5, s2_y=0.5), "max"),
    ]
    return case_table(cases=cases)


def test_bound_above_pep_in_every_case(small_table):
    assert (small_table.status == "optimal").all()
    assert counterexamples(small_table).empty
    assert (small_table.B_R >= small_table.pep).all()
    # measured <= PEP (up to the seed standard error and solver accuracy)
    assert (small_table.measured <= small_table.pep * (1 + 1e-5) + 4 * small_table.measured_se).all()


def test_too_small_bound_is_a_counterexample(small_table):
    t = small_table.assign(too_small=small_table.pep / 2)
    assert len(counterexamples(t, "too_small")) == (t.orders == "expectation").sum()


def test_non_converged_solve_is_a_status():
    res = pep_value(PEPCase(n=1, T=2, c_x=1 / 8, c_y=1 / 8), solver="SCS", max_iters=1)
    assert not res.converged and res.value is None and res.status != "optimal"
    t = case_table(cases=[("det", PEPCase(n=1, T=2, c_x=1 / 8, c_y=1 / 8), "expectation")], solver="SCS", max_iters=1)
    assert math.isnan(t.pep.iloc[0]) and t.status.iloc[0] != "optimal"


@pytest.mark.parametrize("T", [1, 2])
def test_zero_variance_reduction_gives_the_component_tree_value(T):
    """Ground truth for the one-function form: where the n-component tree solves (Jacobi, n = 2), both give
    one worst case, to the solvers' accuracy."""
    case = PEPCase(n=2, T=T, c_x=1 / 16, c_y=1 / 16, s2_x=0.0, s2_y=0.0)
    tree, reduced = pep_value(case, reduce=False), pep_value(case)
    assert tree.converged and reduced.converged
    assert reduced.value == pytest.approx(tree.value, rel=1e-5)


def test_zero_variance_gauss_seidel_two_epochs_solves_in_the_reduction():
    """The tree form of this case fails in Clarabel and stops "optimal_inaccurate" in SCS; its reduction
    solves, below B_R, and the table says which form it solved."""
    case = PEPCase(n=2, T=2, c_x=1 / 16, c_y=1 / 16, s2_x=0.0, s2_y=0.0, update="gauss_seidel")
    t = case_table(cases=[("gs", case, "max")], measure=False)
    row = t.iloc[0]
    assert row.status == "optimal" and row.formulation.startswith("one function")
    # between one epoch's worst case (0.125, T = 1) and the bound; close to Jacobi's 0.1108 at T = 2
    assert 0.1 < row.pep < 0.125 and row.B_R >= row.pep


def test_no_variance_bound_is_unbounded_for_two_epochs():
    case = PEPCase(n=2, T=2, c_x=1 / 16, c_y=1 / 16)
    assert skeleton_bound(case) == math.inf
    assert not pep_value(case, solver="CLARABEL").converged  # SCS alone takes minutes to give up here


def test_the_relaxed_rung_still_refuses_the_unbounded_case():
    """Clarabel at the stated 1e-6 of the last rung fails on the no-(R2) case (SCS at 1e-6 calls it "optimal")."""
    from hybridsmooth.theory.pep.solver import RELAXED

    solver, relaxed = RELAXED
    res = pep_value(PEPCase(n=2, T=2, c_x=1 / 16, c_y=1 / 16), solver=solver, **relaxed)
    assert not res.converged and res.value is None


def test_two_reshuffled_epochs_with_a_variance_bound_solve_at_the_stated_relaxed_accuracy(monkeypatch):
    """RR n = 2, T = 2, sigma^2 = 0.5: Clarabel stalls at 1e-8 and SCS at 1e-7 takes minutes without converging
    (skipped here by a stub), so the value comes from the last rung, which the row states."""
    from hybridsmooth.theory.pep import solver as solver_mod
    from hybridsmooth.theory.pep.solver import SolveResult

    real = solver_mod.solve
    calls = []

    def no_scs(problem, name="CLARABEL", **options):
        calls.append((name, options))
        if name == "SCS":
            return SolveResult(None, "optimal_inaccurate", "SCS", "stub")
        return real(problem, name, **options)

    monkeypatch.setattr(solver_mod, "solve", no_scs)
    case = PEPCase(n=2, T=2, c_x=1 / 16, c_y=1 / 16, s2_x=0.5, s2_y=0.5)
    res = pep_value(case)
    assert [c[0] for c in calls] == ["CLARABEL", "SCS", "CLARABEL"]
    assert not calls[0][1]  # the first rung ran at the stated 1e-8
    assert res.converged and "tol_gap_rel=1e-06" in res.accuracy and res.gap < 1e-5
    # at most one epoch's worst case (0.125), at least the zero-variance value (0.1108), far below B_R
    assert 0.1108 <= res.value <= 0.125 and skeleton_bound(case) > 6 * res.value


def test_options_given_by_the_caller_are_not_relaxed(monkeypatch):
    from hybridsmooth.theory.pep import solver as solver_mod

    calls = []

    def fails(problem, name="CLARABEL", **options):
        calls.append((name, options))
        return solver_mod.SolveResult(None, "max_iters", name, "stub")

    monkeypatch.setattr(solver_mod, "solve", fails)
    res = pep_value(PEPCase(n=1, T=2, c_x=1 / 8, c_y=1 / 8), tol_feas=1e-9)
    assert not res.converged and calls == [("CLARABEL", {"tol_feas": 1e-9}), ("SCS", {"tol_feas": 1e-9})]
    calls.clear()
    pep_value(PEPCase(n=1, T=2, c_x=1 / 8, c_y=1 / 8))
    assert [c[0] for c in calls] == ["CLARABEL", "SCS", "CLARABEL"]


def test_without_variance_bound_instances_grow_like_sigma_squared():
    """The unbounded case by instances: quadratics meeting (R1) and Delta0 whose LHS grows about 100x per 100x
    of variance once the variance term dominates (T = 2), while one epoch (T = 1) does not see the variance."""
    from hybridsmooth.theory.pep.cases import variance_witness

    w = variance_witness(PEPCase(n=2, T=2, c_x=1 / 16, c_y=1 / 16), s2_values=(1e6, 1e8, 1e10))
    excess = w.lhs.to_numpy() - 0.1108  # the zero-variance worst case
    assert (excess > 0).all() and 50 < excess[1] / excess[0] < 200 and 50 < excess[2] / excess[1] < 200
    assert w.lhs.iloc[-1] > 1e3  # above every finite PEP value of the table
    one = variance_witness(PEPCase(n=2, T=1, c_x=1 / 16, c_y=1 / 16), s2_values=(1e8,))
    assert one.lhs.iloc[0] == pytest.approx(0.125, rel=1e-9)


def test_check16_reports_the_unbounded_case_with_its_witness():
    from hybridsmooth.theory.claims import check16_pep_worst_case as c16

    case = PEPCase(n=2, T=2, c_x=1 / 16, c_y=1 / 16)
    t = case_table(cases=[("RR n=2 no (R2)", case, "expectation")], solver="CLARABEL", measure=False)
    res = c16._row(t.iloc[0])
    assert res.details["status"] != "optimal"
    s2, lhs = zip(*res.details["witness"])
    assert list(s2) == sorted(s2) and lhs[-1] > 10 * lhs[0]
    rows = pd.DataFrame({"details": [res.details]})
    (note,) = c16.report_notes(rows)
    assert "unbounded" in note and "no value reported" in note


def test_missing_pepit_names_the_extra(monkeypatch):
    import builtins

    from hybridsmooth.theory.pep import require_pepit

    real = builtins.__import__
    monkeypatch.setattr(
        builtins,
        "__import__",
        lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name)) if name == "PEPit" else real(name, *a, **k),
    )
    with pytest.raises(ImportError, match=r"pip install hybridsmooth\[oracle\]"):
        require_pepit()


def test_figure_tables_and_plot_quick(tmp_path):
    from hybridsmooth.experiments import theory_pep

    cfg = {"mode": "quick", "Ts_deterministic": [1, 2], "Ts_rr": [1], "delta": 0.9, "seeds": 8}
    theory_pep.run_pep(cfg, tmp_path)
    theory_pep.plot_pep(tmp_path, tmp_path / "pep.png")
    assert (tmp_path / "pep.png").stat().st_size > 0


def test_the_command_refuses_a_mode_it_does_not_have_before_any_solve(capsys):
    # standard_cases reads every mode but "quick" as full: a typo would start the 25-minute table
    from hybridsmooth.theory.pep.__main__ import main

    with pytest.raises(SystemExit) as stop:
        main(["fulll"])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "invalid choice: 'fulll' (choose from 'quick', 'full')" in err
