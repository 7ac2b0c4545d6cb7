"""The rate-slope instances of checks 12a and 12b (THEORY 6.5): their schedules, the runs that measure Phi(T)
per seed, and the report sentence both checks share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..engine.run_description import RunDescription
from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig
from .checks import CheckResult, one_sided
from .run_statistics import SlopeFit, fit_loglog_slope, phi_per_seed
from .sizes import check_size, seed_count


@dataclass(frozen=True)
class SlopeCase:
    """One rate-slope instance of check 12: the problem (its spec), the schedule
    eta_b = min(cap_b, cap_b (T_ref/T)^power), mu, the run seed and the predicted slope of log Phi(T)."""

    spec: str
    power: float
    mu: float
    seed: int
    predicted: float

    def build(self) -> Objective:
        from ..problems import make_problem

        return make_problem(self.spec)


SLOPE_CASES: dict[str, SlopeCase] = {
    "12a": SlopeCase("cauchy:dx=4,dy=2,n=16,seed=0,target=0.3,start=1.0", 0.5, 1e-3, 12, -0.5),
    "12b": SlopeCase("interpolating:dx=4,dy=2,n=16,seed=0,start=1.0", 1 / 3, 1e-4, 13, -2 / 3),
}
# a run's metrics and whether it diverged, given its description and the objective already built
RunMetrics = Callable[[RunDescription, Objective], tuple[pd.DataFrame, bool]]


def slope_descriptions(
    spec: str, *, Ts, cap_x: float, cap_y: float, power: float, T_ref: int, mu: float, S: int, seed: int
) -> list[RunDescription]:
    """One run per T with the schedule eta_b(T) = min(cap_b, c_b T^-power), c_b = cap_b T_ref^power."""
    out = []
    for T in Ts:
        scale = min(1.0, (T_ref / T) ** power)
        config = HybridSGDConfig(eta_x=cap_x * scale, eta_y=cap_y * scale, epochs=T, mu=mu, seed=seed)
        out.append(RunDescription(spec, config, seeds=S))
    return out


def run_in_process(description: RunDescription, obj: Objective) -> tuple[pd.DataFrame, bool]:
    from ..engine.execute import execute

    res = execute(description, objective=obj)
    return res.metrics, res.diverged


def slope_runs(
    obj: Objective, descriptions: list[RunDescription], *, run: RunMetrics = run_in_process
) -> list[np.ndarray]:
    """Phi per seed of each run of ``slope_descriptions`` (``run`` gives a run's metrics: in this process by
    default, or read from a folder a sweep finished)."""
    per_seed = []
    for d in descriptions:
        metrics, diverged = run(d, obj)
        T = d.optimizer.epochs
        if diverged:
            raise RuntimeError(f"a run diverged at T={T}: the schedule of the slope check is unstable")
        per_seed.append(phi_per_seed(metrics, T))
    return per_seed


def practical_caps(obj: Objective) -> tuple[float, float]:
    """eta_x = 1/(L_x (d_x + 2)) (the optimal ZO mean-square step, half the exact threshold, THEORY 6.4) and
    eta_y = 1/(n L_y), with the (R1) Lambda of the instance.

    Why not the (C1)-(C2) caps: they are ~100x smaller (THEORY 6.4), and at those steps Phi hardly moves within
    2^12 epochs, so a slope measured there is the pre-asymptotic flat part (about 0), not the rate."""
    c = obj.constants
    return 1.0 / (c.joint_L_x * (obj.d_x + 2)), 1.0 / (obj.n * c.joint_L_y)


def slope_sizes(size: str) -> tuple[list[int], int]:
    """(the epoch counts T, the default number of seeds) of a size."""
    return ([2**k for k in range(5, 9)], 10) if size == "fast" else ([2**k for k in range(6, 13)], 20)


@dataclass(frozen=True)
class SlopeMeasurement:
    """A fitted slope of one case with the sizes and caps it was measured at."""

    fit: SlopeFit
    Ts: list[int]
    S: int
    cap_x: float
    cap_y: float


def measure_slope(key: str, size: str, seeds: int | None) -> SlopeMeasurement:
    """Run ``SLOPE_CASES[key]`` at ``practical_caps`` over the size's T range (T_ref = 32) and fit the slope."""
    size = check_size(size)
    Ts, S0 = slope_sizes(size)
    S = seed_count(seeds, S0)
    case = SLOPE_CASES[key]
    obj = case.build()
    cap_x, cap_y = practical_caps(obj)
    runs = slope_descriptions(
        case.spec, Ts=Ts, cap_x=cap_x, cap_y=cap_y, power=case.power, T_ref=32, mu=case.mu, S=S, seed=case.seed
    )
    fit = fit_loglog_slope(Ts, slope_runs(obj, runs), seed=case.seed)
    return SlopeMeasurement(fit, Ts, S, cap_x, cap_y)


def slope_upper_end_row(
    sm: SlopeMeasurement, check: str, instance: str, bound: float, predictions: dict
) -> CheckResult:
    """The row of a slope check: the upper end of the fit's 95% bootstrap interval against ``bound``, with the
    fit, the caps and then ``predictions`` in its details (``slope_sentence`` reads them back)."""
    fit = sm.fit
    return one_sided(
        check,
        instance,
        fit.high,
        bound,
        seeds=sm.S,
        samples=sm.S * sum(sm.Ts),
        details={
            "slope": fit.slope,
            "interval": (fit.low, fit.high),
            "Ts": fit.Ts,
            "Phi": fit.phi,
            "cap_x": sm.cap_x,
            "cap_y": sm.cap_y,
            **predictions,
        },
    )


def slope_sentence(rows: pd.DataFrame) -> str:
    """The report's numbers for a slope check: the fit, its interval, and why the steps exceed the caps."""
    dets = [d for d in rows.details if isinstance(d, dict)]
    if not dets or "interval" not in dets[0]:
        return ""
    d = dets[0]
    lo, hi = d["interval"]
    s = f" Fitted slope {d['slope']:.3f}, 95% bootstrap interval [{lo:.3f}, {hi:.3f}] over T = {list(d['Ts'])}."
    if "supports" in d:
        s += f" The measurement supports {d['supports']}."
    s += (
        " The steps are eta_x = 1/(L_x (d_x + 2)), eta_y = 1/(n L_y) before the schedule, larger than the "
        "(C1)-(C2) caps, at which Phi does not leave its pre-asymptotic plateau within these T."
    )
    return s
