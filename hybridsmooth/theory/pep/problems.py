"""The PEPs of Theorem R's FO / reshuffling skeleton (THEORY 6.2 step 1, the PEP design notes), in the rescaled
coordinates w = Lambda^(1/2) z where (R1) is plain 1-smoothness of every component and the two step sizes are the
block-diagonal step C = diag(c_x I, c_y I), c_b = eta_b Lambda_b.

Performance measure: Theorem R's LHS (1/T) sum_{t<T} E[c_x ||grad_x f(w_t)||^2 + c_y ||grad_y f(w_t)||^2] over the
epoch starts w_t, f = (1/n) sum_i f_i. Every visited point gets the oracles of all n components, so that the
constraints below can be stated there (more interpolation points only add valid constraints):

* initial condition, "lower_bounded" (default): a free scalar f_low with f(w_0) - f_low <= Delta0 and
  f(w) - f_low >= ||grad f(w)||^2 / 2 at every visited point (true for f_low = inf f: one unit gradient step from
  w cannot go below inf f); "descent" (the design notes' prototype): f(w_0) - f(w) <= Delta0 at every visited point.
  Both relax f(w_0) - inf f <= Delta0, so the PEP value is an upper bound on the tight worst case;
* (R2) at every visited point, per block: (1/n) sum_i ||grad_b f_i(w) - grad_b f(w)||^2 <= s2_b, with the
  rescaled variances s2_b = sigma_b^2 / Lambda_b; None leaves (R2) out.

Sample orders: "expectation" puts the trajectories of all permutation sequences in one PEP over the same
components (Theorem R's LHS is E over pi for a fixed f); ``perm_seq`` fixes one sequence (the max over sequences
is taken by the caller).

Zero variance (s2_x = s2_y = 0, n > 1) is solved in its exact reduction, one function and n T inner steps with
the metric at every n-th point: (R2) with s2 = 0 makes every component's gradient equal to grad f at every
visited point, so every permutation follows the same path, that of gradient descent on f = (1/n) sum_i f_i
(1-smooth, and it alone enters the initial conditions); conversely f_i = f for any 1-smooth f is feasible. The
tree form states the same problem through equality constraints with no interior, on which Clarabel fails
and SCS stops "optimal_inaccurate" (Gauss-Seidel, n = 2, T = 2); ``reduce=False`` keeps it, for the test that
both give one value where both solve.
"""

from __future__ import annotations

import functools
import itertools
import operator
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .solver import SolveResult, require_pepit, solve, solve_with_fallbacks

X, Y = 0, 1  # block indices of the partition


@dataclass(frozen=True)
class PEPCase:
    """One PEP: n components, T epochs, block steps (c_x, c_y) in rescaled units, rescaled (R2) variances
    (None: no (R2)), Delta0, Jacobi or Gauss-Seidel, and the initial-condition relaxation."""

    n: int
    T: int
    c_x: float
    c_y: float
    s2_x: float | None = None
    s2_y: float | None = None
    gap0: float = 1.0
    update: str = "jacobi"
    relaxation: str = "lower_bounded"

    def __post_init__(self):
        if self.update not in ("jacobi", "gauss_seidel"):
            raise ValueError(f"update must be jacobi or gauss_seidel, got {self.update!r}")
        if self.relaxation not in ("lower_bounded", "descent"):
            raise ValueError(f"relaxation must be lower_bounded or descent, got {self.relaxation!r}")
        if (self.s2_x is None) != (self.s2_y is None):
            raise ValueError("give both rescaled variances s2_x, s2_y or neither (no (R2))")
        if self.n < 1 or self.T < 1 or not (self.c_x > 0 and self.c_y > 0):
            raise ValueError(f"need n >= 1, T >= 1 and positive steps, got {self}")


@dataclass
class _Build:
    """What the recursive trajectory builder shares: the problem, components, partition, oracle cache."""

    problem: object
    comps: list
    part: object
    case: PEPCase
    f0: object = None
    f_low: object = None
    cache: dict = None


def _mean(items: list):
    """Average of PEPit points or expressions (the built-in sum starts from the integer 0, which they reject)."""
    return functools.reduce(operator.add, items) / len(items)


def _oracles(b: _Build, w):
    """All components' (gradient, value) at w, once per point; the visited-point constraints are added here."""
    key = id(w)
    if key not in b.cache:
        gv = [fi.oracle(w) for fi in b.comps]
        b.cache[key] = (w, gv)
        _point_constraints(b, gv)
    return b.cache[key][1]


def _blocks(b: _Build, g):
    """(x block, y block) of a component gradient. Only component gradients are partitioned: every other
    block is a linear combination of theirs, and each partitioned vector adds a Gram variable and
    orthogonality constraints against every other one (this keeps n = 2, T = 3 at seconds, not minutes)."""
    return b.part.get_block(g, X), b.part.get_block(g, Y)


def _point_constraints(b: _Build, gv) -> None:
    case = b.case
    g = _mean([gi for gi, _ in gv])
    f = _mean([fi for _, fi in gv])
    if b.f0 is None:  # the first point visited is w_0
        b.f0 = f
        if case.relaxation == "lower_bounded":
            b.problem.set_initial_condition(f - b.f_low <= case.gap0)
    if case.relaxation == "lower_bounded":
        b.problem.add_constraint(f - b.f_low >= 0.5 * g**2)
    else:
        b.problem.add_constraint(b.f0 - f <= case.gap0)
    if case.s2_x is not None and len(gv) > 1:
        blocks = [_blocks(b, gi) for gi, _ in gv]
        for blk, s2 in ((X, case.s2_x), (Y, case.s2_y)):
            mean = _mean([bl[blk] for bl in blocks])
            b.problem.add_constraint(_mean([(bl[blk] - mean) ** 2 for bl in blocks]) <= s2)


def _step(b: _Build, w, i: int):
    """One inner step with component i: Jacobi reads both blocks at w; Gauss-Seidel reads y at (x_new, y)."""
    gx, gy = _blocks(b, _oracles(b, w)[i][0])
    wx = w - b.case.c_x * gx
    if b.case.update == "gauss_seidel":
        gy = _blocks(b, _oracles(b, wx)[i][0])[Y]
    return wx - b.case.c_y * gy


def _lhs_term(b: _Build, w):
    blocks = [_blocks(b, gi) for gi, _ in _oracles(b, w)]
    gx, gy = _mean([bl[X] for bl in blocks]), _mean([bl[Y] for bl in blocks])
    return b.case.c_x * gx**2 + b.case.c_y * gy**2


def _epoch_ends(b: _Build, w, perms: Sequence[tuple[int, ...]]) -> list:
    """End points of one epoch from w for each permutation; shared prefixes share their points."""
    inner = {(): w}
    for perm in perms:
        for k in range(len(perm)):
            if perm[: k + 1] not in inner:
                inner[perm[: k + 1]] = _step(b, inner[perm[:k]], perm[k])
    return [inner[tuple(p)] for p in perms]


def _tree_metric(b: _Build, w, t: int, weight: float, perm_seq):
    """weight * LHS terms of epochs t..T-1 from w: all n! permutations (expectation) or the given sequence.
    Epoch T is run too, without a metric term: its end points w_T carry the initial-condition constraints."""
    metric = weight / b.case.T * _lhs_term(b, w) if t < b.case.T else None
    perms = list(itertools.permutations(range(b.case.n))) if perm_seq is None else [perm_seq[t]]
    ends = _epoch_ends(b, w, perms)
    if t + 1 == b.case.T:
        for end in ends:
            _oracles(b, end)
        return metric
    for end in ends:
        metric = metric + _tree_metric(b, end, t + 1, weight / len(perms), perm_seq)
    return metric


def reduces_to_one_function(case: PEPCase) -> bool:
    """Whether ``case`` has the exact one-function reduction of the module docstring (zero variance, n > 1)."""
    return case.n > 1 and case.s2_x == 0 and case.s2_y == 0


def _reduced_metric(b: _Build, w):
    """Theorem R's LHS of a zero-variance case on its one function: n T inner steps, the metric at every n-th
    point, the end point visited for its initial-condition constraints."""
    n, T = b.case.n, b.case.T
    metric = None
    for _ in range(T):
        term = _lhs_term(b, w) / T
        metric = term if metric is None else metric + term
        for _ in range(n):
            w = _step(b, w, 0)
    _oracles(b, w)
    return metric


def build_pep(case: PEPCase, perm_seq: Sequence[tuple[int, ...]] | None = None, *, reduce: bool = True):
    """The PEPit problem of ``case`` (see the module docstring); ``perm_seq`` = one permutation per epoch.
    ``reduce``: a zero-variance case in its exact one-function reduction (every ``perm_seq`` gives it)."""
    require_pepit()
    from PEPit import PEP, Expression
    from PEPit.functions import SmoothFunction

    problem = PEP()
    if reduce and reduces_to_one_function(case):
        # s2 = 0 leaves (R2) nothing to constrain on one function; the variance constraints are dropped with it
        one = replace(case, s2_x=None, s2_y=None)
        f = problem.declare_function(SmoothFunction, L=1.0)
        b = _Build(problem, [f], problem.declare_block_partition(d=2), one, cache={}, f_low=Expression())
        problem.set_performance_metric(_reduced_metric(b, problem.set_initial_point()))
        return problem
    comps = [problem.declare_function(SmoothFunction, L=1.0) for _ in range(case.n)]
    b = _Build(problem, comps, problem.declare_block_partition(d=2), case, cache={})
    b.f_low = Expression()
    w0 = problem.set_initial_point()
    problem.set_performance_metric(_tree_metric(b, w0, 0, 1.0, perm_seq))
    return problem


def pep_value(
    case: PEPCase, perm_seq=None, *, solver: str | None = None, reduce: bool = True, **options
) -> SolveResult:
    """Build and solve one PEP (value None unless the solver reports "optimal"). With no ``solver``, the
    ladder of ``solver.solve_with_fallbacks`` (Clarabel, SCS, Clarabel at a stated 1e-6); the result names the
    solver and accuracy that gave it. ``reduce``: see ``build_pep``."""
    problem = build_pep(case, perm_seq, reduce=reduce)
    if solver is not None:
        return solve(problem, solver, **options)
    return solve_with_fallbacks(problem, **options)


def perm_sequences(n: int, T: int) -> list[tuple[tuple[int, ...], ...]]:
    """Permutation sequences of epochs 0..T-1 up to relabelling the components: the first epoch's order is
    fixed to 0..n-1 (any other first order is the same PEP with the components renamed)."""
    perms = list(itertools.permutations(range(n)))
    return [(tuple(range(n)),) + r for r in itertools.product(perms, repeat=T - 1)]


def min_grad_pep(case: PEPCase, *, solver: str | None = None, **options) -> SolveResult:
    """Deterministic case only: the worst min_{t<T} ||grad f(w_t)||^2 (PEPit's minimum of several performance
    metrics), the quantity the paper's stated renderings A/B/B' bound by eps^2."""
    if case.n != 1:
        raise ValueError(f"min_grad_pep is the deterministic case (n = 1), got n = {case.n}")
    require_pepit()
    from PEPit import PEP, Expression
    from PEPit.functions import SmoothFunction

    problem = PEP()
    b = _Build(problem, [problem.declare_function(SmoothFunction, L=1.0)], problem.declare_block_partition(d=2), case)
    b.cache, b.f_low = {}, Expression()
    w = problem.set_initial_point()
    for _ in range(case.T):
        problem.set_performance_metric(_oracles(b, w)[0][0] ** 2)
        w = _step(b, w, 0)
    _oracles(b, w)  # w_T carries the initial-condition constraints too
    if solver is not None:
        return solve(problem, solver, **options)
    return solve_with_fallbacks(problem, **options)
