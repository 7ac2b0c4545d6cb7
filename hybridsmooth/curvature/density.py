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
import torch
from torch import Tensor

from . import precise, semi_orthogonality
from .heap import keeps_heap
from .operators import Operator
from .ritz import _apply_rows, basis_capacity, basis_rows, lanczos_update, with_room
from .trace import PROBE_BLOCK, Probe, _probes


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
    return _lanczos_tridiagonals(op, v[None], m)[0]


def _lanczos_tridiagonals(op: Operator, V: Tensor, m: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``_lanczos_tridiagonal`` of each unit row of V, run side by side: each step multiplies the probes still
    running with one batched product (``Operator.matmat``), then each probe runs its own recurrence
    (``lanczos_update``) on its own basis. A lone probe takes ``matvec``, so that one probe gives the
    eigen-solver's recurrence to the last bit; a batch agrees with it to rounding. Each probe re-orthogonalises
    as the eigen-solver's 'auto' does: partially on large exact operators (``semi_orthogonality``)."""
    d = op.shape[0]
    partial = semi_orthogonality.partial_by_default(op)
    bases, orth = [], []
    for v in V:
        Q = basis_rows(d, min(m, 8), dtype=op.dtype, device=op.device)
        Q[0] = v
        bases.append(Q)
        orth.append(semi_orthogonality.for_operator(op) if partial else None)
    alpha: list[list[float]] = [[] for _ in bases]
    beta: list[list[float]] = [[] for _ in bases]
    running = list(range(len(bases)))
    for j in range(m):
        rows = torch.stack([bases[p][j] for p in running]) if len(running) > 1 else None
        W = [op.matvec(bases[running[0]][j])] if rows is None else list(_apply_rows(op, rows))
        still = []
        for p, w in zip(running, W):
            # a row of the batched product is a strided view of its columns; the update works on it in place
            a, w, b = lanczos_update(bases[p], j, w.contiguous(), orth[p])
            alpha[p].append(a)
            if j == m - 1 or b <= 1e3 * np.finfo(float).eps * max(abs(x) for x in alpha[p]):
                continue
            beta[p].append(b)
            bases[p] = with_room(bases[p], j + 2, m)
            torch.div(w, b, out=bases[p][j + 1])
            still.append(p)
        running = still
        if not running:
            break
    return [(np.array(a), np.array(b)) for a, b in zip(alpha, beta)]


# On the CPU, probes run side by side only while their stacked vectors stay this small: at MiniLM's 22.7M base
# weights (91 MB a vector) eight side by side cost 1.5x more per product than one at a time, although the
# batched product alone costs 0.86x (the stacked copies and eight bases stream from memory instead of cache);
# at its 148k adapter weights eight side by side cost 0.81-0.86x (benchmarks/hvp_matmat.py).
CPU_BATCH_BYTES = 64 << 20


def probes_per_batch(d: int, n_probes: int, n_steps: int, *, dtype: torch.dtype, device) -> int:
    """How many SLQ probes run side by side by default: at most ``PROBE_BLOCK`` (each column of a batched
    product costs the memory of one product, graph activations included), no more bases of ``n_steps``
    rows of length d than ``ritz.basis_capacity`` allows, and on the CPU no more vectors than fit in
    ``CPU_BATCH_BYTES`` (at least one)."""
    rows = basis_capacity(d, n_probes * n_steps, dtype=dtype, device=device)
    batch = min(n_probes, PROBE_BLOCK, rows // max(1, n_steps))
    if torch.device(device).type == "cpu":
        batch = min(batch, CPU_BATCH_BYTES // (d * torch.tensor([], dtype=dtype).element_size()))
    return max(1, batch)


@keeps_heap
def spectral_density(
    op: Operator,
    *,
    n_probes: int = 8,
    n_steps: int = 30,
    seed: int = 0,
    probe: Probe = "rademacher",
    batch: int | None = None,
) -> SpectralDensity:
    """SLQ: ``n_probes`` Lanczos runs of ``n_steps`` products each (normalised probes), ``batch`` probes at a
    time sharing one batched product per step (None: ``probes_per_batch``, which keeps their bases within the
    memory share a Krylov basis may take). The probes are drawn all at once, so a seed gives the same
    density whatever the batch, to rounding."""
    if op.shape[0] != op.shape[1] or not op.symmetric:
        raise ValueError(f"{op.name}: SLQ needs a symmetric square operator")
    if n_probes < 1 or n_steps < 1:
        raise ValueError(f"need n_probes >= 1 and n_steps >= 1, got {n_probes}, {n_steps}")
    if batch is not None and (isinstance(batch, bool) or not isinstance(batch, int) or batch < 1):
        raise ValueError(f"batch must be a positive integer or None, got {batch!r}")
    d = op.shape[0]
    m = min(n_steps, d)
    if batch is None:
        batch = probes_per_batch(d, n_probes, m, dtype=op.dtype, device=op.device)
    t0, h0 = time.perf_counter(), op.counter.hvps
    Z = _probes(d, n_probes, kind=probe, seed=seed, dtype=op.dtype, device=op.device)
    nodes, weights = np.zeros((n_probes, m)), np.zeros((n_probes, m))
    for first in range(0, n_probes, batch):
        V = torch.stack([z / precise.norm(z) for z in Z[first : first + batch]])
        for p, (a, b) in enumerate(_lanczos_tridiagonals(op, V, m), start=first):
            if len(a) == 1:
                theta, S = a, np.ones((1, 1))
            else:
                theta, S = scipy.linalg.eigh_tridiagonal(a, b)
            nodes[p, : len(theta)] = theta
            weights[p, : len(theta)] = S[0] ** 2
    return SpectralDensity(nodes, weights, d, op.counter.hvps - h0, time.perf_counter() - t0, seed)
