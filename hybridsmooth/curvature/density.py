"""Stochastic Lanczos quadrature (SLQ) spectral density of a symmetric operator (Ghorbani et al. 2019).

For a unit probe v and m Lanczos steps from v, T_m = S diag(theta) S^T gives the Gauss quadrature

    v^T g(A) v  ~  sum_j tau_j g(theta_j),   tau_j = S_{1j}^2,

exact for polynomials g of degree <= 2m - 1. Averaging over probes with E[v v^T] = I/d estimates
(1/d) tr g(A); with g = t^k these are the spectral moments tr(A^k)/d.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg
from torch import Tensor

from . import precise
from .operators import Operator
from .ritz import basis_rows, lanczos_step, with_room
from .trace import Probe, _probes


@dataclass(frozen=True)
class SpectralDensity:
    """Quadrature nodes and weights per probe: ``nodes[p, j]``, ``weights[p, j]`` (each row sums to 1).

    Rows shorter than ``n_steps`` (Krylov space closed early) are padded with weight 0.
    """

    nodes: np.ndarray
    weights: np.ndarray
    dim: int
    n_hvp: int
    seconds: float
    seed: int

    def moment(self, k: int) -> tuple[float, float]:
        """(estimate of tr(A^k)/d, its standard error over probes)."""
        per_probe = (self.weights * self.nodes**k).sum(axis=1)
        se = per_probe.std(ddof=1) / math.sqrt(len(per_probe)) if len(per_probe) > 1 else float("nan")
        return float(per_probe.mean()), float(se)

    def on_grid(self, grid: np.ndarray, *, sigma: float) -> np.ndarray:
        """Density smoothed by a Gaussian kernel of width ``sigma``: integrates to 1 over the real line."""
        if not sigma > 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        grid = np.asarray(grid, dtype=float)
        diff = (grid[:, None, None] - self.nodes[None]) / sigma
        kern = np.exp(-0.5 * diff**2) / (sigma * math.sqrt(2 * math.pi))
        return (kern * self.weights[None]).sum(axis=2).mean(axis=1)


def _lanczos_tridiagonal(op: Operator, v: Tensor, m: int) -> tuple[np.ndarray, np.ndarray]:
    """alpha (m',) and beta (m'-1,) of the Lanczos tridiagonal from unit v: the eigen-solver's
    ``lanczos_step``, stopped after m steps or when the Krylov space closes (no restart: a closed space
    already gives the quadrature exactly)."""
    d = op.shape[0]
    Q = basis_rows(d, min(m, 8), dtype=op.dtype, device=op.device)
    Q[0] = v
    alpha, beta = [], []
    for j in range(m):
        a, w, b = lanczos_step(op, Q, j)
        alpha.append(a)
        if j == m - 1 or b <= 1e3 * np.finfo(float).eps * max(abs(a) for a in alpha):
            break
        beta.append(b)
        Q = with_room(Q, j + 2, m)
        Q[j + 1] = w / b
    return np.array(alpha), np.array(beta)


def spectral_density(
    op: Operator, *, n_probes: int = 8, n_steps: int = 30, seed: int = 0, probe: Probe = "rademacher"
) -> SpectralDensity:
    """SLQ: ``n_probes`` Lanczos runs of ``n_steps`` products each (normalised probes)."""
    if op.shape[0] != op.shape[1] or not op.symmetric:
        raise ValueError(f"{op.name}: SLQ needs a symmetric square operator")
    if n_probes < 1 or n_steps < 1:
        raise ValueError(f"need n_probes >= 1 and n_steps >= 1, got {n_probes}, {n_steps}")
    d = op.shape[0]
    m = min(n_steps, d)
    t0, h0 = time.perf_counter(), op.counter.hvps
    Z = _probes(d, n_probes, kind=probe, seed=seed, dtype=op.dtype, device=op.device)
    nodes, weights = np.zeros((n_probes, m)), np.zeros((n_probes, m))
    for p, z in enumerate(Z):
        a, b = _lanczos_tridiagonal(op, z / precise.norm(z), m)
        if len(a) == 1:
            theta, S = a, np.ones((1, 1))
        else:
            theta, S = scipy.linalg.eigh_tridiagonal(a, b)
        nodes[p, : len(theta)] = theta
        weights[p, : len(theta)] = S[0] ** 2
    return SpectralDensity(nodes, weights, d, op.counter.hvps - h0, time.perf_counter() - t0, seed)
