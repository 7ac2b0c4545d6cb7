"""PEPit import guard and solver handling: which open SDP solver, its stated accuracy, and the rule that a solve
which did not converge is a status, never a number."""

from __future__ import annotations

import contextlib
import io
import math
import warnings
from dataclasses import dataclass

# Stated accuracies passed to the solvers (cvxpy keyword names). Clarabel is an interior-point method and the
# default; SCS (first-order) is kept as the second open solver, with tolerances tighter than its 1e-4 default.
SOLVER_OPTIONS: dict[str, dict] = {
    "CLARABEL": {"tol_gap_abs": 1e-8, "tol_gap_rel": 1e-8, "tol_feas": 1e-8},
    "SCS": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 200_000},
}
# The last rung of ``solve_with_fallbacks``: Clarabel at a stated 1e-6. On the reshuffled two-epoch trees with a
# variance bound Clarabel stops "almost solved" after about 20 iterations at a relative gap near 1e-6 (primal and
# dual 0.1108760 / 0.1108769, the Gram matrix PSD to 3e-8) and SCS at 1e-7 does not converge. Not SCS at 1e-6:
# it calls the provably unbounded no-(R2) case "optimal" at 0.1108, where Clarabel at 1e-6 fails, as it must.
RELAXED = ("CLARABEL", {"tol_gap_abs": 1e-6, "tol_gap_rel": 1e-6, "tol_feas": 1e-6})
OK_STATUS = "optimal"
EXTRA_HINT = "pip install hybridsmooth[oracle]"


def require_pepit():
    """The PEPit module, or one line naming the extra that brings it (pepit pulls cvxpy, SCS and Clarabel)."""
    try:
        import PEPit
    except ImportError as err:
        raise ImportError(f"the PEP worst cases need pepit: {EXTRA_HINT}") from err
    return PEPit


@dataclass(frozen=True)
class SolveResult:
    """One SDP solve. ``value`` (PEPit's dual bound, a certificate) is None unless ``status`` is "optimal";
    ``primal`` is the value of the worst-case example the solver built; ``gap`` = |value - primal|."""

    value: float | None
    status: str
    solver: str
    accuracy: str
    primal: float | None = None
    gap: float | None = None

    @property
    def converged(self) -> bool:
        return self.status == OK_STATUS and self.value is not None


def accuracy_label(solver: str, options: dict) -> str:
    return f"{solver} " + ", ".join(f"{k}={v:g}" for k, v in sorted(options.items()))


def solve(problem, solver: str = "CLARABEL", **options) -> SolveResult:
    """Solve a PEPit problem with an open solver; any status other than "optimal" (inaccurate, unbounded,
    infeasible, iteration limit, solver error) comes back without a value."""
    import cvxpy as cp

    solver = solver.upper()
    if solver not in SOLVER_OPTIONS:
        raise ValueError(f"unknown solver {solver!r}; accepted: {', '.join(SOLVER_OPTIONS)}")
    opts = {**SOLVER_OPTIONS[solver], **options}
    label = accuracy_label(solver, opts)
    try:
        # PEPit prints its feasibility diagnostics even at verbose=0; the status below says the same
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dual = problem.solve(wrapper="cvxpy", solver=solver, verbose=0, **opts)
    except cp.error.SolverError as err:
        return SolveResult(None, f"solver_error: {str(err).splitlines()[0][:80]}", solver, label)
    status = str(problem.wrapper.prob.status)
    primal = problem.wrapper.prob.value
    ok = status == OK_STATUS and dual is not None and math.isfinite(dual)
    if not ok:
        return SolveResult(None, status if status != OK_STATUS else "no_value", solver, label)
    primal = float(primal)
    return SolveResult(float(dual), status, solver, label, primal, abs(float(dual) - primal))


def solve_with_fallbacks(problem, **options) -> SolveResult:
    """Clarabel at its stated accuracy, then SCS (interior-point steps stall on degenerate constraints where
    SCS does not), then, only when no ``options`` override the accuracies, Clarabel at the ``RELAXED`` 1e-6;
    the result names the solver and the accuracy that gave it. With none converged, the SCS status."""
    first = solve(problem, "CLARABEL", **options)
    if first.converged:
        return first
    second = solve(problem, "SCS", **options)
    if second.converged or options:
        return second
    solver, relaxed = RELAXED
    third = solve(problem, solver, **relaxed)
    return third if third.converged else second
