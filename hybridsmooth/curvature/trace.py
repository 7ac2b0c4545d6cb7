"""Stochastic trace estimators over a symmetric operator: Hutchinson and Hutch++.

Per block, tr(grad^2_bb f) is the d_b-times-mean curvature; the forward ZO estimator's second moment
carries (tr A)^2 + 2 tr(A^2) on quadratics (THEORY 4.3), which is where traces enter the toolkit.

The probes are applied ``block_size`` at a time through ``Operator.matmat`` (one batched HVP per block);
they are drawn all at once as before, so a seed gives the same estimate whatever the block size, to rounding.
One exception: when the Hutch++ sketch A S is rank-deficient (more Rademacher probes than independent ones in
a tiny dimension), QR completes Q from rounding noise, so any rounding change moves that estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from . import draws
from .heap import keeps_heap
from .operators import Operator

Probe = Literal["rademacher", "gaussian"]
# columns per batched product: k probes cost k times the memory of one product (graph activations included)
PROBE_BLOCK = 8


@dataclass(frozen=True)
class TraceResult:
    """A trace estimate with its standard error (from the spread of the probe values)."""

    estimate: float
    stderr: float
    n_probes: int
    n_hvp: int
    seconds: float
    seed: int
    method: str


def _probes(d: int, count: int, *, kind: Probe, seed: int, dtype: torch.dtype, device) -> Tensor:
    g = draws.generator(seed, device)
    if kind == "rademacher":
        return draws.signs((count, d), g, dtype, device)
    if kind == "gaussian":
        return draws.normal((count, d), g, dtype, device)
    raise ValueError(f"unknown probe {kind!r}; accepted: rademacher, gaussian")


def _apply_blocked(op: Operator, Z: Tensor, block_size: int) -> Tensor:
    """The rows A z_j for the rows z_j of Z, ``block_size`` columns per ``matmat``."""
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    return torch.cat([op.matmat(Z[i : i + block_size].T).T for i in range(0, Z.shape[0], block_size)])


def _square(op: Operator) -> int:
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"{op.name}: a trace needs a square operator, got shape {op.shape}")
    return op.shape[0]


@keeps_heap
def hutchinson(
    op: Operator, *, n_probes: int = 32, seed: int = 0, probe: Probe = "rademacher", block_size: int = PROBE_BLOCK
) -> TraceResult:
    """tr(A) ~ (1/m) sum_j z_j^T A z_j with E[z z^T] = I (Hutchinson 1989).

    Rademacher probes give variance 2 (||A||_F^2 - sum_i A_ii^2) per probe, the smallest of the common
    choices; the reported stderr is the sample standard deviation / sqrt(m). ``block_size`` probes share
    one batched product.
    """
    if n_probes < 2:
        raise ValueError(f"n_probes must be >= 2 (for a standard error), got {n_probes}")
    d = _square(op)
    t0, h0 = time.perf_counter(), op.counter.hvps
    Z = _probes(d, n_probes, kind=probe, seed=seed, dtype=op.dtype, device=op.device)
    vals = [float(z @ az) for z, az in zip(Z, _apply_blocked(op, Z, block_size))]
    return _from_probe_values(vals, None, op, h0, t0, seed, f"hutchinson-{probe}")


@keeps_heap
def hutchpp(
    op: Operator, *, n_matvecs: int = 48, seed: int = 0, probe: Probe = "rademacher", block_size: int = PROBE_BLOCK
) -> TraceResult:
    """Hutch++ (Meyer, Musco, Musco, Woodruff 2021) with m products split in thirds.

    S (d x m/3) random; Q = orth(A S); tr(A) ~ tr(Q^T A Q) + Hutchinson on (I - QQ^T) A (I - QQ^T) with
    the remaining m/3 probes. Exact when rank(A) <= m/3; error O(1/m) instead of O(1/sqrt m) otherwise.
    The stderr covers the Hutchinson part only (the projected part is exact). Each group is applied
    ``block_size`` columns at a time.
    """
    d = _square(op)
    third = n_matvecs // 3
    if third < 2:
        raise ValueError(f"n_matvecs must be >= 6 (three groups of >= 2), got {n_matvecs}")
    t0, h0 = time.perf_counter(), op.counter.hvps
    S = _probes(d, third, kind=probe, seed=seed, dtype=op.dtype, device=op.device)
    G = _probes(d, third, kind=probe, seed=seed + 1, dtype=op.dtype, device=op.device)
    Q, _ = torch.linalg.qr(_apply_blocked(op, S, block_size).T)
    AQ = _apply_blocked(op, Q.T, block_size).T
    exact_part = float(torch.trace(Q.T @ AQ))
    Gp = G - (G @ Q) @ Q.T
    # rows of Gp are orthogonal to range(Q), so g^T (I - QQ^T) A (I - QQ^T) g = gp^T A gp
    vals = [float(gp @ agp) for gp, agp in zip(Gp, _apply_blocked(op, Gp, block_size))]
    return _from_probe_values(vals, exact_part, op, h0, t0, seed, f"hutch++-{probe}")


def _from_probe_values(
    vals: list[float], exact_part: float | None, op: Operator, h0: int, t0: float, seed: int, method: str
) -> TraceResult:
    """The mean of the probe values (plus the exactly computed part, if any) with its standard error, the
    sample standard deviation / sqrt(m); the products are counted from h0, the time from t0."""
    v = torch.tensor(vals, dtype=torch.float64)
    mean = float(v.mean())
    return TraceResult(
        mean if exact_part is None else exact_part + mean,
        float(v.std(unbiased=True) / math.sqrt(len(vals))),
        len(vals),
        op.counter.hvps - h0,
        time.perf_counter() - t0,
        seed,
        method,
    )
