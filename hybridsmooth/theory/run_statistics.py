"""Per-seed statistics of optimizer runs (THEORY 6.1, 6.5) and log-log slope fits with bootstrap intervals.

* the optimizer records exact block gradients at every epoch start t = 0..T; the left-hand side of
  Theorem R is LHS = (1/T) sum_{t<T} [eta_x ||grad_x f(z_t)||^2 + eta_y ||grad_y f(z_t)||^2] per seed;
* Phi(T) = (1/T) sum_{t<T} ||grad f(z_t)||^2, averaged over seeds; slopes are least-squares fits of log Phi
  against log T, with a bootstrap interval over seeds (resampling seeds within each T);
* a seed-mean is compared with its standard error over seeds ("k se").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


def step_weighted_average(metrics: pd.DataFrame, T: int, eta_x: float, eta_y: float) -> np.ndarray:
    """Theorem R's LHS per seed: (1/T) sum_{t<T} [eta_x ||grad_x f(z_t)||^2 + eta_y ||grad_y f(z_t)||^2]."""
    m = metrics[metrics.epoch < T]
    v = eta_x * m.grad_x_norm.to_numpy() ** 2 + eta_y * m.grad_y_norm.to_numpy() ** 2
    return pd.Series(v).groupby(m.seed.to_numpy()).mean().to_numpy()


def phi_per_seed(metrics: pd.DataFrame, T: int) -> np.ndarray:
    """Phi per seed: (1/T) sum_{t<T} ||grad f(z_t)||^2 (THEORY 6.5)."""
    m = metrics[metrics.epoch < T]
    return pd.Series(m.grad_norm.to_numpy() ** 2).groupby(m.seed.to_numpy()).mean().to_numpy()


def mean_se(values: np.ndarray) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


@dataclass(frozen=True)
class SlopeFit:
    """Least-squares slope of log Phi(T) against log T with a percentile bootstrap interval over seeds."""

    slope: float
    low: float
    high: float
    level: float
    n_boot: int
    Ts: tuple[int, ...]
    phi: tuple[float, ...]


def fit_loglog_slope(
    Ts, per_seed: list[np.ndarray], *, n_boot: int = 2000, level: float = 0.95, seed: int = 0
) -> SlopeFit:
    """Slope of log(mean Phi) vs log T; the bootstrap resamples the seeds of each T independently (the runs at
    different T are different runs) and refits."""
    Ts = np.asarray(Ts, dtype=float)
    lx = np.log(Ts)
    means = np.array([np.mean(v) for v in per_seed])
    slope = float(np.polyfit(lx, np.log(means), 1)[0])
    rng = np.random.default_rng(seed)
    boots = np.empty(n_boot)
    for b in range(n_boot):
        res = np.array([np.mean(v[rng.integers(0, len(v), len(v))]) for v in per_seed])
        boots[b] = np.polyfit(lx, np.log(res), 1)[0]
    tail = (1 - level) / 2
    lo, hi = np.quantile(boots, [tail, 1 - tail])
    return SlopeFit(
        slope, float(lo), float(hi), level, n_boot, tuple(int(t) for t in Ts), tuple(float(m) for m in means)
    )
