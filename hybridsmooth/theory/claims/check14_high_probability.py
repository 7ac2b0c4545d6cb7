"""Check 14 (THEORY 7.14; the paper's theorem as stated, THEORY 5.1, 5.2): stopping times, high-probability
claims, and a misuse falsifier.

Instance: f_i(x, y) = 1/4||x||^4 + <a_i, x> + 1/2 L_y ||y - c_i||^2, sum a_i = sum c_i = 0, d_x = 20, d_y = 5,
n = 8, delta = 0.1. F from the fixed point F = (8/delta)(Delta0 + T N_epoch(eta(F))) (``sublevel_fixed_point``);
eta at the (C1)-(C2) caps with L_x = 3 R_x^2 on G_F.

Statement (one-sided, each empirical rate by its Clopper-Pearson 95% upper bound): P(tau1 < T) <= delta/4;
P(tau2 < T) <= delta/4 with eps_t = (1/n) sum_k g_hat_k - grad f(z_t) and H of [S14]; mean ||eps_t||^2 + 4 se
<= 200 G^2 d_x/n + G^2 + sigma^2/n; the fraction of runs with min_t ||grad f(z_t)|| > eps at
T = T_required_seed(eps, 'Bprime') (THEORY's name; ``stated_theorem.T_required_stated``) is <= delta.
Misuse falsifier (expected ``report``: THEORY leaves its outcome open): steps from the local curvature at z_0,
without F's 1/delta inflation; its exit rate (leaving {f <= f(z_0)}, where that curvature bound holds, or
diverging) should be >> delta if the example shows the need for the sublevel-set argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ...objectives.base import Objective
from ...objectives.quartic import make_quartic
from ...optim.hybrid_sgd import HybridSGDConfig
from .. import stated_theorem
from ..bounds import RefConstants, initial_gap
from ..checks import CheckResult, clopper_pearson_upper, one_sided, rate_check
from ..epoch_points import epoch_start_points
from ..run_statistics import mean_se
from ..sizes import Size, check_size, seed_count
from ..sublevel_fixed_point import FixedPointF, check14_F_fixed_point

KEY = "14"
TITLE = "stopping times and high-probability claims"
SUMMARY = (
    "Quartic instance: P(tau1 < T), P(tau2 < T), E||eps_t||^2 against the paper's bracket, the eps-fraction at "
    "T_required_stated, each with Clopper-Pearson upper bounds; and the misuse falsifier (THEORY 5.1, 5.2, "
    "check 14)."
)
FIGURES: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Runs:
    """The theory-step runs of check 14 at epoch starts: gaps (T+1, S), gradient norms (T+1, S), ||eps_t||^2
    (T, S), and the constants they were run with."""

    obj: object
    fp: FixedPointF
    G: float
    sigma2: float
    gap0: float
    gap: np.ndarray
    gnorm: np.ndarray
    eps2: np.ndarray
    S: int
    T: int

    def common(self) -> dict:
        fp = self.fp
        return {
            "F": fp.F,
            "F_iterations": fp.iterations,
            "F_monotone": fp.monotone,
            "L_x(F)": fp.L_x,
            "G": self.G,
            "eta_x": fp.eta_x,
            "eta_y": fp.eta_y,
            "gap0": self.gap0,
        }


def _theory_runs(obj: Objective, T: int, S: int, delta: float, mu: float) -> _Runs:
    c = obj.constants
    fp = check14_F_fixed_point(T=T, delta=delta, mu=mu, objective=obj)
    if fp.F is None:
        raise RuntimeError("check 14: the F fixed point has no finite solution")
    xs, ys = epoch_start_points(obj, HybridSGDConfig(eta_x=fp.eta_x, eta_y=fp.eta_y, epochs=T, mu=mu, seed=14), seeds=S)
    gx, gy = obj.grad(xs, ys)
    # eps_t = (1/n) sum_k g_hat_k - grad f(z_t), with sum_k g_hat_k = D^-1 (z_t - z_{t+1})
    ex = (xs[:-1] - xs[1:]) / (obj.n * fp.eta_x) - gx[:-1]
    ey = (ys[:-1] - ys[1:]) / (obj.n * fp.eta_y) - gy[:-1]
    return _Runs(
        obj,
        fp,
        obj.sublevel_constants(fp.F).G,
        c.sigma2_x + c.sigma2_y,
        initial_gap(obj),
        (obj.loss(xs, ys) - c.f_star).numpy(),
        torch.sqrt((gx**2).sum(-1) + (gy**2).sum(-1)).numpy(),
        ((ex**2).sum(-1) + (ey**2).sum(-1)).numpy(),
        S,
        T,
    )


def _noise_rows(r: _Runs, delta: float, inst: str) -> list[CheckResult]:
    obj, S, T, common = r.obj, r.S, r.T, r.common()
    H = stated_theorem.H_const_value(T, delta, G=r.G, sigma2=r.sigma2, n=obj.n, d_x=obj.d_x)
    v = stated_theorem.noise_variance_bracket(G=r.G, sigma2=r.sigma2, n=obj.n, d_x=obj.d_x)
    tau1 = int((r.gap[1:] > r.fp.F).any(0).sum())
    tau2 = int((np.sqrt(r.eps2) > H).any(0).sum())
    m, se = mean_se(r.eps2.mean(0))
    return [
        rate_check(
            "14: P(tau1 < T) <= delta/4 (Clopper-Pearson 95% upper)",
            inst,
            tau1,
            S,
            delta / 4,
            seeds=S,
            details=dict(common, max_gap_over_F=float(r.gap.max() / r.fp.F)),
        ),
        rate_check(
            "14: P(tau2 < T) <= delta/4 (Clopper-Pearson 95% upper)",
            inst,
            tau2,
            S,
            delta / 4,
            seeds=S,
            details=dict(common, H=H, max_eps_over_H=float(np.sqrt(r.eps2).max() / H)),
        ),
        one_sided(
            "14: mean ||eps_t||^2 + 4 se <= 200 G^2 d_x/n + G^2 + sigma^2/n",
            inst,
            m,
            v,
            se=se,
            seeds=S,
            samples=S * T,
            details=dict(common, bracket=v),
        ),
    ]


def _stated_T_row(r: _Runs, delta: float, inst: str) -> CheckResult:
    # eps at which T_required_stated(eps, 'Bprime') = T: it is ceil(K / eps^2) with K below (THEORY 5.2, B')
    fp, n = r.fp, r.obj.n
    K = 2.0 / delta + r.G**2 / 8.0 + (r.gap0 + 2.0 * fp.eta_x + fp.eta_y) / (min(fp.eta_x, fp.eta_y) * n)
    eps = math.sqrt(K / r.T) * (1 + 1e-9)
    T_req = stated_theorem.T_required_stated_value(
        eps, delta, G=r.G, gap0=r.gap0, eta_x=fp.eta_x, eta_y=fp.eta_y, n=n, rendering="Bprime"
    )
    above = int((r.gnorm.min(0) > eps).sum())
    return rate_check(
        "14: P(min_t ||grad f(z_t)|| > eps) at T_required_stated(eps, B') <= delta",
        inst,
        above,
        r.S,
        delta,
        seeds=r.S,
        details=dict(r.common(), eps=eps, T_required=T_req, min_grad_median=float(np.median(r.gnorm.min(0)))),
    )


def _misuse_row(r: _Runs, delta: float, mu: float, inst: str) -> CheckResult:
    # local curvature at z_0, F not inflated: what plain-L practice would choose
    obj, S = r.obj, r.S
    x0, _ = obj.initial_point()
    L_loc = 3.0 * float(x0 @ x0)
    caps = RefConstants.from_problem(obj, gap0=r.gap0, Lambda=(L_loc, obj.constants.L_y)).caps()
    bad = HybridSGDConfig(eta_x=caps.eta_x, eta_y=caps.eta_y, epochs=r.T, mu=mu, seed=14)
    bx, by = epoch_start_points(obj, bad, seeds=S)
    bgap = (obj.loss(bx, by) - obj.constants.f_star).numpy()
    exits = int((~np.isfinite(bgap[1:]) | (bgap[1:] > r.gap0)).any(0).sum())
    return one_sided(
        "14: misuse falsifier exit rate >= delta (local-curvature steps)",
        inst,
        exits / S,
        delta,
        sense="lower",
        seeds=S,
        samples=S,
        details={
            "L_x_local": L_loc,
            "eta_x": caps.eta_x,
            "eta_y": caps.eta_y,
            "exits": exits,
            "clopper_pearson_upper": clopper_pearson_upper(exits, S),
            "step_ratio_vs_theory": caps.eta_x / r.fp.eta_x,
        },
        expected="report",
    )


def check14_high_probability(
    *, size: Size = "fast", seeds: int | None = None, delta: float = 0.1, mu: float = 1e-3
) -> list[CheckResult]:
    """The rows of check 14 (see the module docstring)."""
    size = check_size(size)
    S = seed_count(seeds, 150 if size == "fast" else 500)  # 0 events in >= 119 runs: CP upper <= delta/4
    T = 20 if size == "fast" else 100
    runs = _theory_runs(make_quartic(dx=20, dy=5, n=8), T, S, delta, mu)
    inst = f"quartic d_x=20 d_y=5 n=8 delta={delta} T={T} mu={mu:g}"
    return _noise_rows(runs, delta, inst) + [_stated_T_row(runs, delta, inst)] + [_misuse_row(runs, delta, mu, inst)]


def run(size: str, seeds: int | None) -> list[CheckResult]:
    return check14_high_probability(size=size, seeds=seeds)


def report_sentence(rows: pd.DataFrame) -> str:
    """Each empirical rate with its Clopper-Pearson upper bound, and the misuse falsifier's exit rate."""
    parts = []
    for (_, r), d in zip(rows.iterrows(), rows.details):
        if not isinstance(d, dict):
            continue
        if "rate" in d:
            parts.append(f"{r['check'].split(': ', 1)[1]}: empirical {d['rate']:.3g}, CP upper {r['computed']:.3g}")
        if "step_ratio_vs_theory" in d:  # the misuse falsifier's row
            parts.append(
                f"misuse falsifier: exit rate {r['computed']:.3g} (CP upper "
                f"{d['clopper_pearson_upper']:.3g}) with steps {d['step_ratio_vs_theory']:.3g}x the "
                "theory steps"
                + (
                    " -- this example does not show the need for the sublevel-set argument"
                    if r["computed"] < 0.1
                    else ""
                )
            )
    return " " + "; ".join(parts) + "." if parts else ""
