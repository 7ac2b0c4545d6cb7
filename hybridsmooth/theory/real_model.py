"""Smoothness constants and the theorem's assumptions measured on a real model (THEORY 3.1-3.3, 3.5, 4.1, 4.4).

A real model has no closed-form constants, so everything here is a measurement at a few points of ONE
objective (one model, one minibatch ``idx``, one run seed), and every supremum is a lower bound (THEORY 3.4):

* Lanczos at a point z: L_x(z) = ||H_xx||, L_y(z) = ||H_yy||, L_xy(z) = ||H_xy|| (Ritz values; each carries its
  residual, and for a symmetric operator some eigenvalue lies within the residual of the Ritz value).
* A short hybrid run (THEORY 2.1, Jacobi, clean FO read point, central ZO form, q = 1) on the fixed sample idx;
  at each step t the one-block secants (H1)-(H2)

      s_x(t) = ||grad_x f(x_{t+1}, y_t) - grad_x f(x_t, y_t)|| / ||x_{t+1} - x_t||   (same minibatch),

  and s_y(t) likewise. By the mean value theorem s_b(t) <= sup over the segment of ||H_bb||: comparing it with
  L_b at the START point is evidence, not a theorem (the segment may leave the start point's curvature).
  The ZO move is along one random Gaussian direction u, so s_x sees u^T H_xx u / ||u||^2-like curvature
  (about tr(H_xx) / d_x), far below ||H_xx||: a large slack there is expected, not a sign of a loose L.
* (BD) of THEORY 3.2: lambda_max(Lambda^-1/2 H Lambda^-1/2) with the measured Lambda = diag(L_x I, L_y I) at
  the start point; lambda_max > 1 means the block descent lemma with Lambda fails at that point.
  Ritz values lie inside the spectrum, so a Ritz lambda_max > 1 is a counterexample up to the
  accuracy of the measured L_x, L_y (their relative residuals are the check's tolerance).
* (G1)-(G3) of THEORY 3.3 at the run's points with affine ell_b(u) = L0 + L1 u fitted (upper envelope) to the
  pairs (||grad f(z)||, local L_b(z)): the Lanczos values (start and, if measured, end point) and the secants.
  f* is unknown; the cross-entropy is >= 0, so f* = 0 is used. That makes every right-hand side LARGER than with
  the true f* (>= 0): a pass with f* = 0 is weaker evidence than a pass with the true f*, a fail is conclusive
  for the fitted ell.
* ZO second moment (THEORY 4.1, 4.4): E||g - grad_x f||^2 of the central estimator g = phi u at the start point,
  by Monte Carlo over N directions. For each u the error is computed exactly from the projected gradient phi
  and one backward pass: ||phi u - grad||^2 = phi^2 ||u||^2 - 2 phi <u, grad> + ||grad||^2. Compared with
  (D-2) and (Z-seed-2) using L = L_x(z0) (a local value: both bounds assume global L-smoothness) and with the
  quadratic value (d + 1) ||grad||^2 (exact for a quadratic, THEORY 4.3).

Why one file for the real-model checks: its block-constant and training-loop code is a copy of what the curvature
and optim packages also compute; once those copies give way to one shared routine each, the file splits by
figure or check. Splitting it now would spread the copies over more files.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..curvature import HessianAtPoint, cross_norm, fit_affine_envelope, joint_condition, lanczos_top_eigs
from ..errors import UsageError
from ..zo.estimators import zo_generator
from ..zo.moments import d2_error_bound, quadratic_central_error, z_seed_2_rhs
from .checks import CheckResult, one_sided, results_table

Expected = Literal["pass", "fail", "report"]
Size = Literal["fast", "full"]


@dataclass(frozen=True)
class RealModelSettings:
    """What one measurement does: the run (steps, step sizes, mu, sample idx, seed), the Lanczos budget per
    operator (``lanczos_iter`` products, relative residual ``tol``), the ZO Monte Carlo size and whether the
    Lanczos constants are measured again at the run's last point (``end_point``)."""

    steps: int = 5
    eta_x: float = 1e-4
    eta_y: float = 1e-2
    mu: float = 1e-3
    idx: int = 0
    seed: int = 0
    lanczos_iter: int = 20
    tol: float = 1e-3
    zo_directions: int = 8
    end_point: bool = True
    joint: bool = True

    def __post_init__(self):
        for name in ("steps", "lanczos_iter", "zo_directions"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise UsageError(f"{name} must be a positive integer, got {v!r}")
        for name in ("eta_x", "eta_y", "mu", "tol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise UsageError(f"{name} must be a finite number > 0, got {v!r}")
        if isinstance(self.idx, bool) or not isinstance(self.idx, int) or self.idx < 0:
            raise UsageError(f"idx must be a non-negative integer sample index, got {self.idx!r}")

    @classmethod
    def for_size(cls, size: Size, **overrides) -> "RealModelSettings":
        """``fast``: 3 steps, 10 Lanczos products, 4 directions (minutes on SmolLM2); ``full``: 8, 30, 16."""
        base = {"fast": dict(steps=3, lanczos_iter=10, zo_directions=4),
                "full": dict(steps=8, lanczos_iter=30, zo_directions=16)}
        if size not in base:
            raise UsageError(f"size must be fast or full, got {size!r}")
        return cls(**{**base[size], **overrides})


@dataclass(frozen=True)
class PointCurvature:
    """Lanczos block constants at one point, with the loss and gradient norms there."""

    label: str
    loss: float
    grad_x_norm: float
    grad_y_norm: float
    L_x: float
    L_y: float
    L_xy: float | None
    residual_x: float
    residual_y: float
    residual_xy: float | None
    hvps: int
    seconds: float
    converged: bool

    @property
    def grad_norm(self) -> float:
        return math.hypot(self.grad_x_norm, self.grad_y_norm)


@dataclass(frozen=True)
class SecantStep:
    """One step of the run: the base point's loss and gradient norms, the block moves and their secants."""

    step: int
    loss: float
    grad_x_norm: float
    grad_y_norm: float
    step_x: float
    step_y: float
    secant_x: float
    secant_y: float
    phi: float
    seconds: float

    @property
    def grad_norm(self) -> float:
        return math.hypot(self.grad_x_norm, self.grad_y_norm)


@dataclass(frozen=True)
class ZOMoment:
    """Monte Carlo E||g - grad_x f||^2 of the central estimator over N directions, and the bounds."""

    n_directions: int
    mu: float
    d: int
    L: float
    grad_norm2: float
    error_mean: float
    error_se: float
    quadratic_value: float
    d2_bound: float
    z_seed_2_bound: float
    seconds: float


@dataclass(frozen=True)
class JointResult:
    L_x: float
    L_y: float
    lambda_max: float
    lambda_min: float
    residual_max: float
    residual_min: float
    hvps: int
    seconds: float


@dataclass(frozen=True, eq=False)
class RealModelReport:
    """Everything one measurement produced; ``checks`` pairs each CheckResult with its expected verdict."""

    spec: str
    settings: RealModelSettings
    d_x: int
    d_y: int
    start: PointCurvature
    end: PointCurvature | None
    steps: tuple[SecantStep, ...]
    joint: JointResult | None
    zo: ZOMoment
    checks: tuple[tuple[CheckResult, Expected], ...]
    seconds: float
    timings: dict = field(default_factory=dict)


# --- measurements -----------------------------------------------------------------------------------------

def _norm(v: Tensor) -> float:
    return float(torch.linalg.vector_norm(v.double() if v.dtype != torch.float64 else v))


def _block_grad(objective, x: Tensor, y: Tensor, idx: int, block: Literal["x", "y"]) -> Tensor:
    """grad_b f_idx (a torch model leaves the other block out of autograd)."""
    gx, gy = objective.grad(x, y, idx, blocks=block)
    return gx if block == "x" else gy


def point_curvature(objective, x: Tensor, y: Tensor, *, idx: int, label: str = "z", max_iter: int = 20,
                    tol: float = 1e-3, seed: int = 0, cross: bool = True) -> PointCurvature:
    """L_x = ||H_xx||, L_y = ||H_yy|| (Lanczos, largest magnitude) and L_xy = sigma_max(H_xy) of f_idx at (x, y)."""
    t0 = time.perf_counter()
    with torch.no_grad():
        loss = float(objective.loss(x, y, idx))
    gx, gy = objective.grad(x, y, idx)
    engine = HessianAtPoint(objective, x, y, idx=idx, check=False)
    try:
        rx = lanczos_top_eigs(engine.operator("xx"), 1, which="LM", max_iter=max_iter, tol=tol, seed=seed)
        ry = lanczos_top_eigs(engine.operator("yy"), 1, which="LM", max_iter=min(max_iter, objective.d_y),
                              tol=tol, seed=seed + 1)
        rxy = (cross_norm(engine, tol=tol, max_iter=min(max_iter, objective.d_x + objective.d_y),
                          seed=seed + 2) if cross else None)
    finally:
        engine.release()
    return PointCurvature(label, loss, _norm(gx), _norm(gy), abs(rx.top), abs(ry.top),
                          None if rxy is None else rxy.estimate, rx.residuals[0], ry.residuals[0],
                          None if rxy is None else rxy.solver.residuals[0], engine.counter.hvps,
                          time.perf_counter() - t0,
                          rx.converged and ry.converged and (rxy is None or rxy.solver.converged))


def secant_run(objective, x0: Tensor, y0: Tensor, settings: RealModelSettings
               ) -> tuple[list[SecantStep], tuple[Tensor, Tensor]]:
    """A short hybrid run on the fixed sample ``settings.idx`` with the one-block secants of every step.

    Step t (THEORY 2.1, Jacobi, clean read point): y_{t+1} = y_t - eta_y grad_y f_idx(x_t, y_t) and
    x_{t+1} = x_t - eta_x phi u with the central two-point estimate along u from zo_generator(seed, 0, t).
    Returns the steps and the last point. Memory: about five copies of x.
    """
    s = settings
    x, y = x0.detach().clone(), y0.detach().clone()
    steps: list[SecantStep] = []
    for t in range(s.steps):
        t0 = time.perf_counter()
        loss, gx, gy = objective.value_and_grad(x, y, s.idx)
        # one flat direction (module objectives take no leading batch dim, so not zo_gradient's (q, d) draw)
        u = torch.randn(x.shape, generator=zo_generator(s.seed, 0, t), dtype=x.dtype, device=x.device)
        with torch.no_grad():
            phi = (float(objective.loss(x + s.mu * u, y, s.idx)) - float(objective.loss(x - s.mu * u, y, s.idx))) \
                / (2 * s.mu)
        x_new = x - (s.eta_x * phi) * u
        del u
        y_new = (y - s.eta_y * gy).detach()
        dx, dy = _norm(x_new - x), _norm(y_new - y)
        sec_x = _norm(_block_grad(objective, x_new, y, s.idx, "x") - gx) / dx if dx > 0 else math.nan
        sec_y = _norm(_block_grad(objective, x, y_new, s.idx, "y") - gy) / dy if dy > 0 else math.nan
        steps.append(SecantStep(t, float(loss), _norm(gx), _norm(gy), dx, dy, sec_x, sec_y,
                                phi, time.perf_counter() - t0))
        del gx, gy
        x, y = x_new, y_new
    return steps, (x, y)


def zo_error_moment(objective, x: Tensor, y: Tensor, *, idx: int, mu: float, n_directions: int, L: float,
                    seed: int = 0) -> ZOMoment:
    """E||g - grad_x f_idx||^2 of the central estimator g = phi u, u ~ N(0, I_dx), by N directions (THEORY 4.4).

    Per direction the error is exact given phi: phi^2 ||u||^2 - 2 phi <u, grad> + ||grad||^2 (float64 sums).
    Bounds: (D-2) 2(d+1)||grad||^2 + (mu^2 L^2 / 2) d(d+2)(d+4) and (Z-seed-2) 32 d ||grad||^2 + 108 mu^2 L^2 d^4.
    """
    if n_directions < 2:
        raise UsageError(f"n_directions must be >= 2 for a standard error, got {n_directions}")
    t0 = time.perf_counter()
    g = _block_grad(objective, x, y, idx, "x").double()
    g2 = float(g @ g)
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
    errors = []
    with torch.no_grad():
        for _ in range(n_directions):
            u = torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)
            lp = float(objective.loss(x + mu * u, y, idx))
            lm = float(objective.loss(x - mu * u, y, idx))
            phi = (lp - lm) / (2 * mu)
            ud = u.double()
            errors.append(phi * phi * float(ud @ ud) - 2 * phi * float(ud @ g) + g2)
            del u, ud
    e = np.array(errors)
    d = int(x.numel())
    return ZOMoment(n_directions, mu, d, float(L), g2, float(e.mean()), float(e.std(ddof=1) / math.sqrt(len(e))),
                    quadratic_central_error(g2, d), d2_error_bound(g2, mu=mu, L=L, d=d),
                    z_seed_2_rhs(g2, mu=mu, L=L, d=d), time.perf_counter() - t0)


def joint_at(objective, x: Tensor, y: Tensor, *, idx: int, L_x: float, L_y: float, max_iter: int, tol: float,
             seed: int = 0) -> JointResult:
    """Extreme eigenvalues of Lambda^-1/2 H Lambda^-1/2 at (x, y) with Lambda = diag(L_x I, L_y I) (THEORY 3.5)."""
    t0 = time.perf_counter()
    engine = HessianAtPoint(objective, x, y, idx=idx, check=False)
    try:
        jc = joint_condition(engine, L_x, L_y, tol=tol, max_iter=min(max_iter, objective.d_x + objective.d_y),
                             seed=seed)
    finally:
        engine.release()
    return JointResult(L_x, L_y, jc.lambda_max, jc.lambda_min, jc.upper.residuals[0], jc.lower.residuals[0],
                       engine.counter.hvps, time.perf_counter() - t0)


# --- checks -----------------------------------------------------------------------------------------------

def _fit(u: list[float], L: list[float]):
    pairs = [(a, b) for a, b in zip(u, L) if math.isfinite(a) and math.isfinite(b) and b >= 0]
    if len(pairs) < 2:
        return None
    return fit_affine_envelope([p[0] for p in pairs], [p[1] for p in pairs])


def assumption_checks(report_parts: dict, *, spec: str) -> list[tuple[CheckResult, Expected]]:
    """CheckResults from the measurements (see the module docstring). Every row is ``report``: no constant of a
    real model is known, so no row can gate; the verdicts and slacks are the finding."""
    start: PointCurvature = report_parts["start"]
    end: PointCurvature | None = report_parts["end"]
    steps: list[SecantStep] = report_parts["steps"]
    joint: JointResult | None = report_parts["joint"]
    zo: ZOMoment = report_parts["zo"]
    out: list[tuple[CheckResult, Expected]] = []
    note = "secant on one segment <= sup of ||H_bb|| over it; L_b is a Lanczos value at the start point only"
    for b, L, res in (("x", start.L_x, start.residual_x), ("y", start.L_y, start.residual_y)):
        sec = [getattr(s, f"secant_{b}") for s in steps if math.isfinite(getattr(s, f"secant_{b}"))]
        if not sec:
            continue
        out.append((one_sided(f"real: (H{1 if b == 'x' else 2}) max secant_{b} <= Lanczos L_{b}(z0)", spec,
                              max(sec), L, atol=res, samples=len(sec),
                              details={"secants": sec, "note": note,
                                       "L_end": None if end is None else getattr(end, f"L_{b}")}), "report"))
    if joint is not None:
        rel = start.residual_x / max(start.L_x, 1e-300) + start.residual_y / max(start.L_y, 1e-300)
        out.append((one_sided("real: (BD) lambda_max(Lambda^-1/2 H Lambda^-1/2) <= 1, measured Lambda at z0", spec,
                              joint.lambda_max, 1.0, atol=rel + joint.residual_max, samples=1,
                              details={"lambda_min": joint.lambda_min, "L_x": joint.L_x, "L_y": joint.L_y,
                                       "R1_two_sided_norm": max(joint.lambda_max, -joint.lambda_min),
                                       "note": "Ritz lambda_max > 1 is a (BD) counterexample up to the accuracy "
                                               "of L_x, L_y (their relative residuals are the tolerance)"}),
                    "report"))
    # (G1)-(G3): ell_b fitted to (||grad f||, local L_b) pairs; f* = 0 (cross-entropy >= 0)
    pts = [start] + ([end] if end is not None else [])
    fits = {}
    for b in ("x", "y"):
        u = [p.grad_norm for p in pts] + [s.grad_norm for s in steps]
        L = [getattr(p, f"L_{b}") for p in pts] + [getattr(s, f"secant_{b}") for s in steps]
        fits[b] = _fit(u, L)
    if fits["x"] is not None and fits["y"] is not None:
        rows = [(s.loss, s.grad_x_norm, s.grad_y_norm) for s in steps]
        if end is not None:
            rows.append((end.loss, end.grad_x_norm, end.grad_y_norm))
        ratios = {"G1": [], "G2": [], "G3": []}
        for loss, nx, ny in rows:
            g = math.hypot(nx, ny)
            lx, ly = float(fits["x"](2 * g)), float(fits["y"](2 * g))
            gap = loss - 0.0
            ratios["G1"].append(nx * nx / (2 * lx * gap) if lx * gap > 0 else math.inf)
            ratios["G2"].append(ny * ny / (2 * ly * gap) if ly * gap > 0 else math.inf)
            ratios["G3"].append(0.5 * (nx * nx / lx + ny * ny / ly) / gap if lx > 0 and ly > 0 and gap > 0
                                else math.inf)
        fit_info = {f"ell_{b}": (fits[b].L0, fits[b].L1) for b in ("x", "y")}
        for k, r in ratios.items():
            out.append((one_sided(f"real: ({k}) max lhs/rhs <= 1, fitted affine ell, f* = 0", spec, max(r), 1.0,
                                  samples=len(r), details={**fit_info, "ratios": r, "note":
                                  "f* = 0 is a lower bound on f* (cross-entropy >= 0): rhs is overstated, so a "
                                  "pass is weak evidence and a fail is conclusive for this ell"}), "report"))
    details = {"error_mean": zo.error_mean, "se": zo.error_se, "quadratic_value_(d+1)|g|^2": zo.quadratic_value,
               "ratio_to_quadratic": zo.error_mean / zo.quadratic_value if zo.quadratic_value > 0 else None,
               "L_used": zo.L, "mu": zo.mu, "d": zo.d, "grad_norm2": zo.grad_norm2,
               "note": "L is the Lanczos L_x at z0 (local); (D-2), (Z-seed-2) assume a global L"}
    out.append((one_sided("real: ZO E||g - grad_x f||^2 <= (D-2)", spec, zo.error_mean, zo.d2_bound, se=zo.error_se,
                          k=4.0, samples=zo.n_directions, details=details), "report"))
    # the curvature term mu^2 L^2 d^3 / 2 dwarfs everything at d ~ 1e6-1e8; the gradient term alone is the
    # mu -> 0 limit of (D-2) and the only part the measurement can test with a non-vacuous slack
    out.append((one_sided("real: ZO E||g - grad_x f||^2 <= 2(d+1)||grad||^2 ((D-2), mu -> 0 term)", spec,
                          zo.error_mean, 2 * (zo.d + 1) * zo.grad_norm2, se=zo.error_se, k=4.0,
                          samples=zo.n_directions, details=details), "report"))
    out.append((one_sided("real: ZO E||g - grad_x f||^2 <= (Z-seed-2)", spec, zo.error_mean, zo.z_seed_2_bound,
                          se=zo.error_se, k=4.0, samples=zo.n_directions, details=details), "report"))
    return out


def measure_real_model(objective, settings: RealModelSettings | None = None, *, spec: str = "",
                       progress=None) -> RealModelReport:
    """Run every measurement of the module docstring on ``objective`` at its live point and return the report.

    ``progress``: an optional callable taking a one-line message (e.g. print to stderr).
    """
    s = settings or RealModelSettings()
    if not 0 <= s.idx < objective.n:
        raise UsageError(f"idx must lie in [0, {objective.n}) for this objective, got {s.idx}")
    say = progress or (lambda msg: None)
    spec = spec or getattr(objective, "spec", "") or type(objective).__name__
    t0 = time.perf_counter()
    timings = {}
    x0, y0 = objective.initial_point()
    # cheapest and least memory first: the joint condition (a graph over both blocks) runs last
    say("Lanczos at the start point")
    start = point_curvature(objective, x0, y0, idx=s.idx, label="start", max_iter=s.lanczos_iter, tol=s.tol,
                            seed=s.seed)
    timings["start_lanczos"] = start.seconds
    say(f"start: loss={start.loss:.6g} |grad_x|={start.grad_x_norm:.4g} |grad_y|={start.grad_y_norm:.4g} "
        f"L_x={start.L_x:.5g} (res {start.residual_x:.2g}) L_y={start.L_y:.5g} (res {start.residual_y:.2g}) "
        f"L_xy={start.L_xy:.5g} (res {start.residual_xy:.2g}) in {start.seconds:.0f} s")
    say("ZO second moment at the start point")
    zo = zo_error_moment(objective, x0, y0, idx=s.idx, mu=s.mu, n_directions=max(s.zo_directions, 2), L=start.L_x,
                         seed=s.seed + 20)
    timings["zo"] = zo.seconds
    say(f"ZO: E|g-grad|^2={zo.error_mean:.5g} se={zo.error_se:.2g} (d+1)|grad|^2={zo.quadratic_value:.5g} "
        f"in {zo.seconds:.0f} s")
    say(f"hybrid run of {s.steps} steps with secants")
    t1 = time.perf_counter()
    steps, (x_end, y_end) = secant_run(objective, x0, y0, s)
    timings["secant_run"] = time.perf_counter() - t1
    for st in steps:
        say(f"step {st.step}: loss={st.loss:.6g} |dx|={st.step_x:.3g} secant_x={st.secant_x:.4g} "
            f"|dy|={st.step_y:.3g} secant_y={st.secant_y:.4g}")
    end = None
    if s.end_point:
        say("Lanczos at the end point")
        end = point_curvature(objective, x_end, y_end, idx=s.idx, label=f"after {s.steps} steps",
                              max_iter=s.lanczos_iter, tol=s.tol, seed=s.seed + 30, cross=False)
        timings["end_lanczos"] = end.seconds
        say(f"end: loss={end.loss:.6g} L_x={end.L_x:.5g} (res {end.residual_x:.2g}) L_y={end.L_y:.5g} "
            f"(res {end.residual_y:.2g}) |grad_y|={end.grad_y_norm:.4g} in {end.seconds:.0f} s")
    del x_end, y_end
    joint = None
    if s.joint and start.L_x > 0 and start.L_y > 0:
        say("joint condition at the start point")
        joint = joint_at(objective, x0, y0, idx=s.idx, L_x=start.L_x, L_y=start.L_y, max_iter=s.lanczos_iter,
                         tol=s.tol, seed=s.seed + 10)
        timings["joint"] = joint.seconds
        say(f"joint: lambda_max={joint.lambda_max:.5g} (res {joint.residual_max:.2g}) "
            f"lambda_min={joint.lambda_min:.5g} in {joint.seconds:.0f} s")
    parts = dict(start=start, end=end, steps=steps, joint=joint, zo=zo)
    checks = assumption_checks(parts, spec=spec)
    return RealModelReport(spec, s, objective.d_x, objective.d_y, start, end, tuple(steps), joint, zo,
                           tuple(checks), time.perf_counter() - t0, timings)


# --- tables -----------------------------------------------------------------------------------------------

def curvature_table(report: RealModelReport) -> pd.DataFrame:
    """One row per Lanczos point: loss, gradient norms, L_x, L_y, L_xy with residuals."""
    rows = [asdict(p) | {"grad_norm": p.grad_norm} for p in (report.start, report.end) if p is not None]
    return pd.DataFrame(rows)


def secant_table(report: RealModelReport) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) | {"grad_norm": s.grad_norm} for s in report.steps])


def checks_table(report: RealModelReport) -> pd.DataFrame:
    df = results_table([c for c, _ in report.checks])
    df["expected"] = [e for _, e in report.checks]
    return df


def report_dict(report: RealModelReport) -> dict:
    """A JSON-ready summary (plain floats, lists and dicts)."""
    return dict(spec=report.spec, settings=asdict(report.settings), d_x=report.d_x, d_y=report.d_y,
                start=asdict(report.start), end=None if report.end is None else asdict(report.end),
                steps=[asdict(s) for s in report.steps], joint=None if report.joint is None else asdict(report.joint),
                zo=asdict(report.zo), checks=checks_table(report).drop(columns=["details"]).to_dict(orient="records"),
                seconds=report.seconds, timings=report.timings)


def suite_rows(report: RealModelReport) -> pd.DataFrame:
    """The report's checks as rows of ``hybridsmooth check`` (theory.suite.SUITE_COLUMNS + key, details)."""
    from .suite import SUITE_COLUMNS

    df = checks_table(report)
    df["seconds"] = report.seconds
    df["key"] = "real_model"
    return df[list(SUITE_COLUMNS) + ["key", "details"]]


def is_real_model_spec(spec: str) -> bool:
    """True for specs of the registered ``llm`` problem (checked by ``hybridsmooth check`` with this module)."""
    return isinstance(spec, str) and spec.split(":", 1)[0].strip() == "llm"
