"""The result type of every numerical check (THEORY 7), its verdict rules, a table, and Clopper-Pearson bounds.

Verdicts (THEORY 7, conventions):

* two-sided: ``pass`` iff |computed - theoretical| <= tolerance;
* one-sided upper: ``pass`` iff computed + k se <= bound; the slack is bound/computed and a pass with
  slack > 1e3 is reported as ``vacuous pass``, never silently;
* one-sided lower: ``pass`` iff computed - k se >= bound; slack computed/bound, same vacuity rule.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable, Literal

import numpy as np
import pandas as pd

from . import bounds

Verdict = Literal["pass", "fail", "vacuous pass"]
VERDICTS: tuple[str, ...] = ("pass", "fail", "vacuous pass")
VACUOUS_SLACK = 1e3


@dataclass(frozen=True)
class CheckResult:
    """One check: what was computed, what THEORY predicts, the tolerance, and the verdict.

    ``seeds`` and ``samples`` say how much randomness went in (0 for exact algebra); ``slack`` is
    bound/computed for one-sided checks (None for two-sided); ``details`` holds anything a reader needs to
    reproduce or understand the result (e.g. a counterexample pair).
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

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")

    @property
    def passed(self) -> bool:
        """True for 'pass' and 'vacuous pass' (the bound holds either way)."""
        return self.verdict != "fail"


def _finite_nonneg(name: str, value: float) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return value


def two_sided(check: str, instance: str, computed: float, theoretical: float, *, atol: float = 0.0,
              rtol: float = 0.0, se: float = 0.0, k: float = 5.0, seeds: int = 0, samples: int = 0,
              details: dict | None = None) -> CheckResult:
    """Two-sided check with tolerance atol + rtol |theoretical| + k se (each part defaults to 0)."""
    tol = _finite_nonneg("atol", atol) + _finite_nonneg("rtol", rtol) * abs(theoretical) \
        + _finite_nonneg("k", k) * _finite_nonneg("se", se)
    computed, theoretical = float(computed), float(theoretical)
    ok = math.isfinite(computed) and abs(computed - theoretical) <= tol
    return CheckResult(check, instance, computed, theoretical, tol, "pass" if ok else "fail", seeds, samples,
                       None, dict(details or {}))


def one_sided(check: str, instance: str, computed: float, bound: float, *, se: float = 0.0, k: float = 4.0,
              atol: float = 0.0, sense: Literal["upper", "lower"] = "upper", seeds: int = 0, samples: int = 0,
              details: dict | None = None) -> CheckResult:
    """One-sided check: upper, computed + k se <= bound + atol; lower, computed - k se >= bound - atol.

    ``atol`` is a stated absolute tolerance (e.g. float rounding for exact suprema); the slack
    (bound/computed for upper, computed/bound for lower) is None unless both numbers are positive.
    """
    if sense not in ("upper", "lower"):
        raise ValueError(f"sense must be 'upper' or 'lower', got {sense!r}")
    tol = _finite_nonneg("k", k) * _finite_nonneg("se", se) + _finite_nonneg("atol", atol)
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
    return CheckResult(check, instance, computed, bound, tol, verdict, seeds, samples, slack,
                       dict(details or {}, sense=sense))


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
    logs = [math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * lp + (n - j) * lq
            for j in range(k + 1)]
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


def rate_check(check: str, instance: str, successes: int, trials: int, bound: float, *, level: float = 0.95,
               details: dict | None = None, seeds: int = 0) -> CheckResult:
    """One-sided rate check: the empirical rate's Clopper-Pearson upper bound must not exceed ``bound``
    (THEORY check 14 reports every empirical rate this way)."""
    k, n = _check_counts(successes, trials)
    upper = clopper_pearson_upper(k, n, level=level)
    return one_sided(check, instance, upper, bound, seeds=seeds, samples=n,
                     details=dict(details or {}, rate=k / n, successes=k, level=level))


# =============================================================================================================
# Theory checks that need no optimizer: check 8 (theorem region vs exact stability region), check 13's exact
# part (s_exact), check 14's constants (the F fixed point). The runs of the optimizer are elsewhere.
# =============================================================================================================


def random_psd_hessian(d_x: int, d_y: int, *, seed: int, ridge: float = 0.05) -> np.ndarray:
    """A random positive definite H = W W^T/d + ridge I with dense cross blocks (check 8's instance)."""
    d = d_x + d_y
    W = np.random.default_rng(seed).standard_normal((d, d))
    return W @ W.T / d + ridge * np.eye(d)


def joint_lambda_on_ray(H: np.ndarray, d_x: int) -> tuple[float, float]:
    """The smallest (L_x, L_y) along the ray L_x/L_y = ||H_xx||/||H_yy|| with H <= Lambda; for PSD H this is
    (R1) for the single-sample problem (THEORY 3.5): scale diag(||H_xx||, ||H_yy||) by lambda_max of the
    scaled H."""
    nx, ny = np.linalg.norm(H[:d_x, :d_x], 2), np.linalg.norm(H[d_x:, d_x:], 2)
    s = np.r_[np.full(d_x, nx ** -0.5), np.full(H.shape[0] - d_x, ny ** -0.5)]
    t = float(np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1])
    return t * nx, t * ny


def second_moment_operator(H: np.ndarray, d_x: int, eta_x: float, eta_y: float) -> np.ndarray:
    """The check-8 map P -> (I - DH) P (I - DH)^T + blockdiag(eta_x^2 [tr(Q_xx) I + Q_xx], 0), Q = H P H, as a
    (d^2, d^2) matrix on row-major vec(P), built with Kronecker products (vec(A P B^T) = (A kron B) vec P).

    Same map as ``recursions.hybrid_second_moment_operator`` (a test compares them); this form avoids d^2
    separate evaluations, which makes the grids of check 8 cheap.
    """
    d = H.shape[0]
    K = np.eye(d) - np.r_[np.full(d_x, eta_x), np.full(d - d_x, eta_y)][:, None] * H
    Hx = np.zeros((d, d))
    Hx[:d_x] = H[:d_x]                      # rows of H that produce the x-block of H P H, embedded in R^d
    Qxx = np.kron(Hx, Hx)                   # vec(P) -> vec of Q_xx embedded in the top-left block
    Ix = np.zeros((d, d))
    Ix[:d_x, :d_x] = np.eye(d_x)
    trace_row = Ix.reshape(-1) @ Qxx        # vec(P) -> tr(Q_xx)
    return np.kron(K, K) + eta_x**2 * (np.outer(Ix.reshape(-1), trace_row) + Qxx)


def second_moment_radius(H: np.ndarray, d_x: int, eta_x: float, eta_y: float) -> float:
    """Spectral radius of ``second_moment_operator``: E zz^T is stable iff it is < 1 (THEORY check 8)."""
    return float(np.max(np.abs(np.linalg.eigvals(second_moment_operator(H, d_x, eta_x, eta_y)))))


def stability_grid(H: np.ndarray, d_x: int, etas_x, etas_y) -> np.ndarray:
    """Spectral radius of the check-8 second-moment map on a grid, shape (len(etas_x), len(etas_y))."""
    return np.array([[second_moment_radius(H, d_x, ex, ey) for ey in etas_y] for ex in etas_x])


def _stable_scale(rho_of_t, *, hi: float = 1e6, rtol: float = 1e-4) -> float:
    """Largest t with rho_of_t(t) < 1, given rho_of_t(1) < 1, by doubling then bisection (THEORY check 8)."""
    lo, up = 1.0, 2.0
    if rho_of_t(lo) >= 1:
        raise ValueError("the starting point t = 1 is not stable")
    while rho_of_t(up) < 1:
        lo, up = up, 2 * up
        if up > hi:
            return math.inf
    while up - lo > rtol * up:
        mid = 0.5 * (lo + up)
        lo, up = (mid, up) if rho_of_t(mid) < 1 else (lo, mid)
    return lo


def check8_region_inclusion(*, d_x: int = 4, d_y: int = 3, seeds=range(5), grid: int = 6) -> list[CheckResult]:
    """THEORY check 8, theorem part: the (C1)-(C2) rectangle with n = 1 lies strictly inside the exact
    stability region {rho < 1} of the hybrid second-moment map (central ZO on x, FO on y, Jacobi).

    For each random PD H: Lambda from ``joint_lambda_on_ray``; rho on a grid x grid lattice of the rectangle
    (corner included); computed = max rho, must be < 1. ``details``: the factor by which the caps can grow
    jointly, and per block (the other step at its cap), before rho reaches 1 (how conservative the caps are).
    """
    out: list[CheckResult] = []
    for seed in seeds:
        H = random_psd_hessian(d_x, d_y, seed=seed)
        L_x, L_y = joint_lambda_on_ray(H, d_x)
        caps = bounds.admissible_step_sizes(L_x, L_y, 1, d_x)
        ex, ey = caps.eta_x, caps.eta_y
        fr = np.linspace(0.0, 1.0, grid + 1)[1:]
        rhos = stability_grid(H, d_x, fr * ex, fr * ey)
        joint = _stable_scale(lambda t: second_moment_radius(H, d_x, t * ex, t * ey))
        x_only = _stable_scale(lambda t: second_moment_radius(H, d_x, t * ex, ey))
        y_only = _stable_scale(lambda t: second_moment_radius(H, d_x, ex, t * ey))
        out.append(one_sided("8: max rho over the Theorem R rectangle < 1", f"random PD H d_x={d_x} d_y={d_y} "
                             f"seed={seed}", float(rhos.max()), 1.0, samples=rhos.size,
                             details={"L_x": float(L_x), "L_y": float(L_y), "cap_x": ex, "cap_y": ey,
                                      "rho_at_corner": float(rhos[-1, -1]), "joint_scale_to_edge": joint,
                                      "x_scale_to_edge": x_only, "y_scale_to_edge": y_only}))
    return out


def check13_s_exact(*, rho: float = 10.0, d_x: int = 64, kappa_y: float = 100.0, expected: float = 1320.0,
                    n_spec: int = 50) -> list[CheckResult]:
    """THEORY 6.4 / check 13 exact part. (i) s_exact(10, 64, 100) = 1320.0 as printed in THEORY (to the printed
    precision, +-0.05). (ii) The same ratio from the contraction factors max_i |1 - eta lambda_i| of GD on a
    log-uniform y-spectrum [1/kappa_y, 1] with n_spec eigenvalues (relative 1e-9): an independent route to the
    closed form."""
    inst = f"separable quadratic rho={rho} d_x={d_x} kappa_y={kappa_y}"
    s = bounds.s_exact(rho, d_x=d_x, kappa_y=kappa_y)
    lam = np.geomspace(1.0 / kappa_y, 1.0, n_spec)
    eta_two = 2.0 / (lam.max() + lam.min())
    eta_one = min(1.0 / (rho * 1.0 * (d_x + 2)), eta_two)
    rate = lambda eta: float(np.max(np.abs(1.0 - eta * lam)))  # noqa: E731
    s_spec = math.log(rate(eta_two)) / math.log(rate(eta_one))
    return [two_sided("13: s_exact closed form = THEORY's printed value", inst, s, expected, atol=0.05),
            two_sided("13: s_exact = ratio of GD contraction factors on the spectrum", inst, s_spec, s, rtol=1e-9,
                      details={"asymptotic_2rho(d_x+2)": 2 * rho * (d_x + 2),
                               "s_theory_n1": bounds.s_theory(rho, n=1, d_x=d_x)})]


@dataclass(frozen=True)
class FixedPointF:
    """Result of the check-14 fixed point F = (8/delta)(Delta0 + T N_epoch(eta(F))) (THEORY 5.1, check 14).

    ``history`` is F_0 = 8 Delta0/delta, F_1, ... of the plain iteration; ``monotone`` says whether it was
    monotone (THEORY claims so); ``method`` is 'iteration' or 'bisection' (used when the iteration oscillates
    without converging). F is None when no finite fixed point was found (the map grows faster than F).
    """

    F: float | None
    iterations: int
    history: tuple[float, ...]
    monotone: bool
    converged: bool
    method: str
    L_x: float | None
    G: float | None
    G_x_max: float | None
    eta_x: float | None
    eta_y: float | None
    N_epoch: float | None


def check14_F_fixed_point(*, T: int, delta: float = 0.1, mu: float = 1e-3, theta: float = 1.0, objective=None,
                          rtol: float = 1e-12, max_iter: int = 200) -> FixedPointF:
    """Solve F <- (8/delta)(Delta0 + T N_epoch(eta(F))) on the quartic instance (check 14).

    eta(F) = theta x the (C1)-(C2) caps with L_x = 3 R_x^2 = 3 sqrt(4F) from ``sublevel_constants(F)``, the exact
    L_y, sigma_x^2, sigma_y^2 of the instance, and Delta0 = f(z_0) - f*. Default instance: ``quartic`` with
    d_x = 20, n = 8 (THEORY check 14).
    """
    from ..objectives.synthetic import make_quartic

    obj = make_quartic(dx=20, dy=5, n=8) if objective is None else objective
    c = obj.constants
    x0, y0 = obj.initial_point()
    gap0 = float(obj.loss(x0, y0)) - c.f_star
    T = int(T)
    if T < 1:
        raise ValueError(f"T must be a positive integer, got {T}")

    def step_sizes(F: float) -> tuple[float, float, float]:
        L_x = obj.sublevel_constants(F).L_x
        caps = bounds.admissible_step_sizes(L_x, c.L_y, obj.n, obj.d_x)
        return L_x, theta * caps.eta_x, theta * caps.eta_y

    def phi(F: float) -> float:
        L_x, ex, ey = step_sizes(F)
        N = bounds.N_epoch(ex, ey, mu, n=obj.n, d_x=obj.d_x, L_x=L_x, L_y=c.L_y, sx2=c.sigma2_x, sy2=c.sigma2_y)
        return 8.0 / delta * (gap0 + T * N)

    F = 8.0 * gap0 / delta
    hist = [F]
    converged = False
    for _ in range(max_iter):
        nxt = phi(F)
        hist.append(nxt)
        if not math.isfinite(nxt) or nxt > 1e300:
            break
        if abs(nxt - F) <= rtol * abs(nxt):
            converged, F = True, nxt
            break
        F = nxt
    diffs = np.diff(hist)
    monotone = bool(np.all(diffs >= 0) or np.all(diffs <= 0))
    method = "iteration"
    if not converged:
        # F - phi(F) is increasing when phi is non-increasing (an oscillating iteration): bisect for its root
        lo, hi = hist[0], max(hist)
        if phi(hi) <= hi and phi(lo) >= lo:
            while hi - lo > rtol * hi:
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if phi(mid) > mid else (lo, mid)
            F, converged, method = 0.5 * (lo + hi), True, "bisection"
    if not converged:
        return FixedPointF(None, len(hist) - 1, tuple(hist), monotone, False, method, None, None, None, None, None,
                           None)
    L_x, ex, ey = step_sizes(F)
    N = bounds.N_epoch(ex, ey, mu, n=obj.n, d_x=obj.d_x, L_x=L_x, L_y=c.L_y, sx2=c.sigma2_x, sy2=c.sigma2_y)
    sub = obj.sublevel_constants(F)
    return FixedPointF(F, len(hist) - 1, tuple(hist), monotone, True, method, L_x, sub.G, sub.G_x_max, ex, ey, N)


def run_exact_checks(*, n_points: int = 10_000, seeds=range(5)) -> pd.DataFrame:
    """Every check of this package that needs no optimizer run, as one table: check 5 (s = 0, 0.3, 0.9 and the
    bilinear counterexample), check 6, check 8 and check 13. Expected 'fail' rows: the seed's lemmas (BD) and
    (G3) for s > 0 and on b x y -- they show THEORY 3.2's counterexamples, not a toolkit error."""
    from .assumptions import check5_bilinear, check5_block_descent, check6_generalized_smoothness

    rows: list[CheckResult] = []
    for s in (0.0, 0.3, 0.9):
        rows += check5_block_descent(s, n_pairs=n_points)
    rows.append(check5_bilinear())
    rows += check6_generalized_smoothness(n_points=n_points)
    rows += check8_region_inclusion(seeds=seeds)
    rows += check13_s_exact()
    return results_table(rows)
