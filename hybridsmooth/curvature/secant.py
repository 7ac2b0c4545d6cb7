"""Secant (finite-move) estimates of the block Lipschitz constants along a trajectory (THEORY 3.1, (H1)-(H2)).

For consecutive points z_t, z_{t+1} a move in block b alone is z' = z_t with block b replaced by that of
z_{t+1}; the secant ratio

    r_b(t) = ||grad_b f_idx(z') - grad_b f_idx(z_t)|| / ||z'_b - z_{t,b}||

is a lower bound on sup ||grad^2_bb f_idx|| over the segment (mean value theorem), hence on L_b. Both
gradients use the same sample idx. Also returned: the full gradient norm ||grad f(z_t)|| at the base point,
the abscissa u of the generalized-smoothness pairs (u, local L_b) of THEORY 3.3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

import numpy as np
import torch
from torch import Tensor

from .eigen import lanczos_top_eigs
from .hvp import Backend, HessianAtPoint

Block = Literal["x", "y"]


@dataclass(frozen=True)
class SecantEstimates:
    """Secant ratios r_b(t) and gradient norms ||grad f_idx(z_t)|| for each move with a non-zero step."""

    block: str
    ratios: np.ndarray
    grad_norms: np.ndarray
    steps: np.ndarray
    idx: int | None

    @property
    def n(self) -> int:
        return len(self.ratios)


def secant_ratio(objective, z: tuple[Tensor, Tensor], z_prime: tuple[Tensor, Tensor], *, block: Block,
                 idx: int | None = None) -> float:
    """||grad_b f(z') - grad_b f(z)|| / ||z'_b - z_b|| for a pair that differs in block b only."""
    if block not in ("x", "y"):
        raise ValueError(f"block must be 'x' or 'y', got {block!r}")
    b, other = (0, 1) if block == "x" else (1, 0)
    if not torch.equal(z[other], z_prime[other]):
        raise ValueError(f"the pair must differ in block {block} only; the other block moved")
    step = float(torch.linalg.vector_norm(z_prime[b] - z[b]))
    if step == 0.0:
        raise ValueError("the two points coincide in the moved block")
    g0, g1 = objective.grad(*z, idx)[b], objective.grad(*z_prime, idx)[b]
    return float(torch.linalg.vector_norm(g1 - g0)) / step


def secant_along_trajectory(objective, xs: Sequence[Tensor], ys: Sequence[Tensor], *, block: Block,
                            idx: int | None = None) -> SecantEstimates:
    """Secant ratios for the one-block moves (x_t, y_t) -> (x_{t+1}, y_t) (block x) or -> (x_t, y_{t+1})."""
    if len(xs) != len(ys) or len(xs) < 2:
        raise ValueError(f"need matching trajectories of at least 2 points, got {len(xs)} and {len(ys)}")
    if block not in ("x", "y"):
        raise ValueError(f"block must be 'x' or 'y', got {block!r}")
    ratios, norms, steps = [], [], []
    for t in range(len(xs) - 1):
        z = (xs[t], ys[t])
        zp = (xs[t + 1], ys[t]) if block == "x" else (xs[t], ys[t + 1])
        b = 0 if block == "x" else 1
        step = float(torch.linalg.vector_norm(zp[b] - z[b]))
        if step == 0.0:
            continue
        gx, gy = objective.grad(*z, idx)
        ratios.append(secant_ratio(objective, z, zp, block=block, idx=idx))
        norms.append(float(torch.sqrt(gx.pow(2).sum() + gy.pow(2).sum())))
        steps.append(step)
    return SecantEstimates(block, np.array(ratios), np.array(norms), np.array(steps), idx)


def local_smoothness_pairs(objective, points: Sequence[tuple[Tensor, Tensor]], *, block: Block,
                           idx: int | None = None, backend: Backend = "reverse_over_reverse", tol: float = 1e-6,
                           max_iter: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(u_j, L_j) = (||grad f_idx(z_j)||, ||grad^2_bb f_idx(z_j)||) at each point, by Lanczos (THEORY 3.3)."""
    if block not in ("x", "y"):
        raise ValueError(f"block must be 'x' or 'y', got {block!r}")
    u, L = [], []
    for j, (x, y) in enumerate(points):
        engine = HessianAtPoint(objective, x, y, idx=idx, backend=backend)
        res = lanczos_top_eigs(engine.operator(block * 2), 1, which="LM", tol=tol, max_iter=max_iter, seed=seed + j)
        gx, gy = objective.grad(x, y, idx)
        u.append(float(torch.sqrt(gx.pow(2).sum() + gy.pow(2).sum())))
        L.append(abs(res.top))
    return np.array(u), np.array(L)
