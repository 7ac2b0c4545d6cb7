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

The measurements live in ``real_model_measure`` and the checks built from them in ``real_model_checks``; this
module holds the settings, runs them in order and makes the report's tables.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Literal

import pandas as pd

from ..curvature import SecantStep
from ..errors import UsageError
from ..objectives.base import Objective
from .checks import CheckResult, results_table
from .real_model_checks import assumption_checks
from .real_model_measure import (
    JointResult,
    PointCurvature,
    ZOMoment,
    fixed_sample_secant_run,
    joint_at,
    point_curvature,
    zo_error_moment,
)

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
    def for_size(cls, size: Size, **overrides) -> RealModelSettings:
        """``fast``: 3 steps, 10 Lanczos products, 4 directions (minutes on SmolLM2); ``full``: 8, 30, 16."""
        base = {
            "fast": dict(steps=3, lanczos_iter=10, zo_directions=4),
            "full": dict(steps=8, lanczos_iter=30, zo_directions=16),
        }
        if size not in base:
            raise UsageError(f"size must be fast or full, got {size!r}")
        return cls(**{**base[size], **overrides})


@dataclass(frozen=True, eq=False)
class RealModelReport:
    """Everything one measurement produced; each of ``checks`` carries its expected verdict."""

    spec: str
    settings: RealModelSettings
    d_x: int
    d_y: int
    start: PointCurvature
    end: PointCurvature | None
    steps: tuple[SecantStep, ...]
    joint: JointResult | None
    zo: ZOMoment
    checks: tuple[CheckResult, ...]
    seconds: float
    timings: dict = field(default_factory=dict)


def measure_real_model(
    objective: Objective, settings: RealModelSettings | None = None, *, spec: str = "", progress=None
) -> RealModelReport:
    """Run every measurement of the module docstring on ``objective`` at its live point and return the report.

    ``progress``: an optional callable taking a one-line message (e.g. print to stderr).
    """
    s = settings or RealModelSettings()
    if not 0 <= s.idx < objective.n:
        raise UsageError(f"idx must lie in [0, {objective.n}) for this objective, got {s.idx}")
    say = progress or (lambda msg: None)
    spec = spec or objective.spec or type(objective).__name__
    t0 = time.perf_counter()
    timings = {}
    x0, y0 = objective.initial_point()
    # cheapest and least memory first: the joint condition (a graph over both blocks) runs last
    start = _start_curvature(objective, x0, y0, s, say, timings)
    zo = _start_zo_moment(objective, x0, y0, s, start.L_x, say, timings)
    steps, x_end, y_end = _secant_run(objective, x0, y0, s, say, timings)
    end = _end_curvature(objective, x_end, y_end, s, say, timings) if s.end_point else None
    del x_end, y_end
    joint = None
    if s.joint and start.L_x > 0 and start.L_y > 0:
        joint = _joint_condition(objective, x0, y0, s, start, say, timings)
    parts = dict(start=start, end=end, steps=steps, joint=joint, zo=zo)
    checks = assumption_checks(parts, spec=spec)
    return RealModelReport(
        spec,
        s,
        objective.d_x,
        objective.d_y,
        start,
        end,
        tuple(steps),
        joint,
        zo,
        tuple(checks),
        time.perf_counter() - t0,
        timings,
    )


# --- the steps of measure_real_model; each records its wall time in ``timings`` -------------------------------


def _start_curvature(objective, x0, y0, s: RealModelSettings, say, timings: dict) -> PointCurvature:
    say("Lanczos at the start point")
    start = point_curvature(
        objective, x0, y0, idx=s.idx, label="start", max_iter=s.lanczos_iter, tol=s.tol, seed=s.seed
    )
    timings["start_lanczos"] = start.seconds
    say(
        f"start: loss={start.loss:.6g} |grad_x|={start.grad_x_norm:.4g} |grad_y|={start.grad_y_norm:.4g} "
        f"L_x={start.L_x:.5g} (res {start.residual_x:.2g}) L_y={start.L_y:.5g} (res {start.residual_y:.2g}) "
        f"L_xy={start.L_xy:.5g} (res {start.residual_xy:.2g}) in {start.seconds:.0f} s"
    )
    return start


def _start_zo_moment(objective, x0, y0, s: RealModelSettings, L_x: float, say, timings: dict) -> ZOMoment:
    say("ZO second moment at the start point")
    zo = zo_error_moment(
        objective, x0, y0, idx=s.idx, mu=s.mu, n_directions=max(s.zo_directions, 2), L=L_x, seed=s.seed + 20
    )
    timings["zo"] = zo.seconds
    say(
        f"ZO: E|g-grad|^2={zo.error_mean:.5g} se={zo.error_se:.2g} (d+1)|grad|^2={zo.quadratic_value:.5g} "
        f"in {zo.seconds:.0f} s"
    )
    return zo


def _secant_run(objective, x0, y0, s: RealModelSettings, say, timings: dict) -> tuple[list[SecantStep], object, object]:
    """The hybrid run's secant steps and its last point (x, y)."""
    say(f"hybrid run of {s.steps} steps with secants")
    t1 = time.perf_counter()
    run = fixed_sample_secant_run(
        objective, x0, y0, steps=s.steps, idx=s.idx, eta_x=s.eta_x, eta_y=s.eta_y, mu=s.mu, seed=s.seed
    )
    steps, x_end, y_end = list(run.steps), run.x, run.y
    del run
    timings["secant_run"] = time.perf_counter() - t1
    for st in steps:
        say(
            f"step {st.step}: loss={st.loss:.6g} |dx|={st.step_x:.3g} secant_x={st.secant_x:.4g} "
            f"|dy|={st.step_y:.3g} secant_y={st.secant_y:.4g}"
        )
    return steps, x_end, y_end


def _end_curvature(objective, x_end, y_end, s: RealModelSettings, say, timings: dict) -> PointCurvature:
    say("Lanczos at the end point")
    end = point_curvature(
        objective,
        x_end,
        y_end,
        idx=s.idx,
        label=f"after {s.steps} steps",
        max_iter=s.lanczos_iter,
        tol=s.tol,
        seed=s.seed + 30,
        cross=False,
    )
    timings["end_lanczos"] = end.seconds
    say(
        f"end: loss={end.loss:.6g} L_x={end.L_x:.5g} (res {end.residual_x:.2g}) L_y={end.L_y:.5g} "
        f"(res {end.residual_y:.2g}) |grad_y|={end.grad_y_norm:.4g} in {end.seconds:.0f} s"
    )
    return end


def _joint_condition(objective, x0, y0, s: RealModelSettings, start: PointCurvature, say, timings: dict) -> JointResult:
    say("joint condition at the start point")
    joint = joint_at(
        objective, x0, y0, idx=s.idx, L_x=start.L_x, L_y=start.L_y, max_iter=s.lanczos_iter, tol=s.tol, seed=s.seed + 10
    )
    timings["joint"] = joint.seconds
    say(
        f"joint: lambda_max={joint.lambda_max:.5g} (res {joint.residual_max:.2g}) "
        f"lambda_min={joint.lambda_min:.5g} in {joint.seconds:.0f} s"
    )
    return joint


# --- tables -----------------------------------------------------------------------------------------------


def curvature_table(report: RealModelReport) -> pd.DataFrame:
    """One row per Lanczos point: loss, gradient norms, L_x, L_y, L_xy with residuals."""
    rows = [asdict(p) | {"grad_norm": p.grad_norm} for p in (report.start, report.end) if p is not None]
    return pd.DataFrame(rows)


def secant_table(report: RealModelReport) -> pd.DataFrame:
    return pd.DataFrame([asdict(s) | {"grad_norm": s.grad_norm} for s in report.steps])


def checks_table(report: RealModelReport) -> pd.DataFrame:
    return results_table(report.checks)


def report_dict(report: RealModelReport) -> dict:
    """A JSON-ready summary (plain floats, lists and dicts)."""
    return dict(
        spec=report.spec,
        settings=asdict(report.settings),
        d_x=report.d_x,
        d_y=report.d_y,
        start=asdict(report.start),
        end=None if report.end is None else asdict(report.end),
        steps=[asdict(s) for s in report.steps],
        joint=None if report.joint is None else asdict(report.joint),
        zo=asdict(report.zo),
        checks=checks_table(report).drop(columns=["details"]).to_dict(orient="records"),
        seconds=report.seconds,
        timings=report.timings,
    )


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


__all__ = [
    "RealModelReport",
    "RealModelSettings",
    "checks_table",
    "curvature_table",
    "is_real_model_spec",
    "measure_real_model",
    "report_dict",
    "secant_table",
    "suite_rows",
]
