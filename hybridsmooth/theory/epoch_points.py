"""The iterates z_t at every epoch start of a batched hybrid run, for checks that need the points themselves
(check 14 forms the epoch noise eps_t from consecutive points)."""

from __future__ import annotations

import torch

from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig, hybrid_step
from ..optim.schedule import epoch_schedule


def epoch_start_points(
    objective: Objective, config: HybridSGDConfig, *, seeds: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """z_t at every epoch start t = 0..T for ``seeds`` seeds: (x (T+1, S, d_x), y (T+1, S, d_y)).

    The steps come from ``optim.schedule.epoch_schedule`` (the orders and noise streams of ``run_hybrid_sgd``);
    unlike ``run_hybrid_sgd`` there is no divergence freezing and no metrics."""
    x, y = objective.initial_point(seeds)
    seed_index = torch.arange(seeds)
    xs, ys = [x], [y]
    for t in range(config.epochs):
        for step in epoch_schedule(config.order, n=objective.n, epoch=t, run_seed=config.seed, seed_index=seed_index):
            x, y = hybrid_step(objective, x, y, step.idx, config, step.noise)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs), torch.stack(ys)
