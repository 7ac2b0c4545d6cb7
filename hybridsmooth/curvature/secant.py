"""Secant (finite-move) estimates of the block Lipschitz constants along a trajectory (THEORY 3.1, (H1)-(H2)).

For consecutive points z_t, z_{t+1} a move in block b alone is z' = z_t with block b replaced by that of
z_{t+1}; the secant ratio

    r_b(t) = ||grad_b f_idx(z') - grad_b f_idx(z_t)|| / ||z'_b - z_{t,b}||

is a lower bound on sup ||grad^2_bb f_idx|| over the segment (mean value theorem), hence on L_b. Both
gradients use the same sample idx. Also returned: the full gradient norm ||grad f(z_t)|| at the base point,
the abscissa u of the generalized-smoothness pairs (u, local L_b) of THEORY 3.3.

:func:`secant_run` makes the trajectory: a hybrid run (THEORY 2.1, Jacobi, FO gradient at the clean point)
along steps of ``hybridsmooth.optim.schedule``, out of place, with the secants of each step on the step's
own sample. It serves the Fig 1 run (random reshuffling) and the real-model checks (one fixed sample).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig, hybrid_step
from ..optim.schedule import ScheduledStep
from ..zo.estimators import ZOEstimate, zo_gradient_flat
from . import precise
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


def secant_ratio(
    objective: Objective,
    z: tuple[Tensor, Tensor],
    z_prime: tuple[Tensor, Tensor],
    *,
    block: Block,
    idx: int | None = None,
) -> float:
    """||grad_b f(z') - grad_b f(z)|| / ||z'_b - z_b|| for a pair that differs in block b only."""
    if block not in ("x", "y"):
        raise ValueError(f"block must be 'x' or 'y', got {block!r}")
    b, other = (0, 1) if block == "x" else (1, 0)
    if not torch.equal(z[other], z_prime[other]):
        raise ValueError(f"the pair must differ in block {block} only; the other block moved")
    step = precise.norm(z_prime[b] - z[b])
    if step == 0.0:
        raise ValueError("the two points coincide in the moved block")
    g0, g1 = objective.grad(*z, idx)[b], objective.grad(*z_prime, idx)[b]
    return precise.norm(g1 - g0) / step


def secant_along_trajectory(
    objective: Objective, xs: Sequence[Tensor], ys: Sequence[Tensor], *, block: Block, idx: int | None = None
) -> SecantEstimates:
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
        step = precise.norm(zp[b] - z[b])
        if step == 0.0:
            continue
        gx, gy = objective.grad(*z, idx)
        ratios.append(secant_ratio(objective, z, zp, block=block, idx=idx))
        norms.append(float(torch.sqrt(gx.pow(2).sum() + gy.pow(2).sum())))
        steps.append(step)
    return SecantEstimates(block, np.array(ratios), np.array(norms), np.array(steps), idx)


def local_smoothness_pairs(
    objective: Objective,
    points: Sequence[tuple[Tensor, Tensor]],
    *,
    block: Block,
    idx: int | None = None,
    backend: Backend = "reverse_over_reverse",
    tol: float = 1e-6,
    max_iter: int = 100,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
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


# --- secants along a hybrid run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SecantStep:
    """Step ``step`` of a run (``epoch``, sample ``sample``): the base point's loss and block gradient norms,
    the block moves, their secants (NaN for a zero move) and the mean projected gradient ``phi`` of the x move."""

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
    epoch: int
    sample: int

    @property
    def grad_norm(self) -> float:
        return math.hypot(self.grad_x_norm, self.grad_y_norm)


@dataclass(frozen=True, eq=False)
class SecantRun:
    """The steps of a run and its last point (x, y)."""

    steps: tuple[SecantStep, ...]
    x: Tensor
    y: Tensor


def _norm(v: Tensor) -> float:
    # float32 chunks summed in float64: as accurate as a float64 copy of v (182 MB on MiniLM's base weights,
    # five per step) at the cost of the plain float32 norm
    return precise.norm(v)


def _flat_zo_step(loss_fn, v: Tensor, *, eta: float, mu: float, form, q: int, generator) -> tuple[Tensor, ZOEstimate]:
    """v - eta g with the unbatched estimator, out of place: a model loss takes one flat point, and the
    secant needs x_t after the step."""
    est = zo_gradient_flat(loss_fn, v, mu=mu, q=q, generator=generator, form=form)
    return v - eta * est.grad, est


def secant_run(
    objective: Objective,
    x0: Tensor,
    y0: Tensor,
    schedule: Iterable[ScheduledStep],
    config: HybridSGDConfig,
    *,
    at_point: Callable[[int, Tensor, Tensor], None] | None = None,
    on_step: Callable[[SecantStep], None] | None = None,
) -> SecantRun:
    """A hybrid run from (x0, y0) along ``schedule`` (unbatched steps of ``optim.schedule``: each gives the
    sample and the ZO noise) with ``optim.hybrid_sgd.hybrid_step``, leaving x0, y0 untouched. Per step t on
    the step's sample i_t,

        secant_x(t) = ||grad_x f_i(x_{t+1}, y_t) - grad_x f_i(x_t, y_t)|| / ||x_{t+1} - x_t||,

    and secant_y likewise with the y move. The x move follows the ZO directions, so secant_x sees
    ||H_xx u|| / ||u|| (about the root-mean-square eigenvalue of H_xx), not the top one.

    ``at_point(t, x, y)`` is called at every base point and at the last point (t = the steps taken);
    ``on_step`` with each step's record as soon as it is made (e.g. to stop a diverging run by raising).
    Memory: about five copies of x.
    """
    if config.method != "hybrid" or config.update != "jacobi" or config.fo_point != "clean":
        raise ValueError(
            "a secant run is the hybrid method, Jacobi update, FO gradient at the clean point: both "
            "one-block moves must start from the same base point"
        )
    x, y, t = x0.detach(), y0.detach(), 0
    records: list[SecantStep] = []
    for st in schedule:
        if at_point is not None:
            at_point(st.step, x, y)
        t0 = time.perf_counter()
        info: dict = {}
        x_new, y_new = hybrid_step(objective, x, y, st.idx, config, st.noise, zo_block_step=_flat_zo_step, info=info)
        gy = info["grad_y"]
        loss, gx, _ = objective.value_and_grad(x, y, st.idx, blocks="x")
        dx, dy = _norm(x_new - x), _norm(y_new - y)
        gx_moved = objective.grad(x_new, y, st.idx, blocks="x")[0]
        gy_moved = objective.grad(x, y_new, st.idx, blocks="y")[1]
        records.append(
            SecantStep(
                st.step,
                float(loss),
                _norm(gx),
                _norm(gy),
                dx,
                dy,
                _norm(gx_moved - gx) / dx if dx > 0 else math.nan,
                _norm(gy_moved - gy) / dy if dy > 0 else math.nan,
                float(info["zo_x"].phi.mean()),
                time.perf_counter() - t0,
                st.epoch,
                int(st.idx),
            )
        )
        del gx, gy, gx_moved, gy_moved
        x, y, t = x_new.detach(), y_new.detach(), st.step + 1
        if on_step is not None:
            on_step(records[-1])
    if at_point is not None:
        at_point(t, x, y)
    return SecantRun(tuple(records), x, y)
