"""The one step schedule of every training loop: which sample and which noise step k of epoch t uses.

Every loop that trains (``run_hybrid_sgd``, ``train_model``, the secant runs of the curvature figures, the
epoch-start points of check 14) takes its steps from here, so "same seed, same orders, same noise" is a
property of this module alone:

* the sample of step k in epoch t is ``sample_orders(order, n, t, run_seed)[k]``; for an unbatched run the
  order is drawn on the CPU, so a run gives the same sample sequence on every device;
* the ZO noise of that step comes from ``zo_generator(run_seed, t, k, device)`` (unbatched) or from the per-seed
  counter-based streams ``SeedStreams(run_seed, seed_index, t, k)`` (seeds as a batch dimension).

A model run counts global steps s = t n + k instead of epochs: ``step_schedule`` walks the same schedule from
any step on, which is how a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ..rng import SeedStreams, zo_generator
from .orders import Order, sample_orders


@dataclass(frozen=True)
class ScheduledStep:
    """Step ``k`` of epoch ``epoch`` (global step ``step = epoch n + k``): its sample ``idx`` (an int, or one
    index per seed) and the source of its ZO noise."""

    epoch: int
    k: int
    step: int
    idx: int | Tensor
    noise: torch.Generator | SeedStreams


def epoch_schedule(
    order: Order,
    *,
    n: int,
    epoch: int,
    run_seed: int,
    seed_index: Tensor | None = None,
    device: str | torch.device = "cpu",
) -> Iterator[ScheduledStep]:
    """The n steps of one epoch. With ``seed_index`` (a 1-d LongTensor of seed indices) every step carries one
    sample per seed and per-seed noise streams; without, one sample and a ``torch.Generator`` on ``device``.

    Example: random reshuffling visits every sample once per epoch, in an order fixed by (run_seed, epoch).

    >>> steps = list(epoch_schedule("rr", n=5, epoch=3, run_seed=7))
    >>> sorted(s.idx for s in steps), [s.step for s in steps]
    ([0, 1, 2, 3, 4], [15, 16, 17, 18, 19])
    >>> [s.idx for s in steps] == [s.idx for s in epoch_schedule("rr", n=5, epoch=3, run_seed=7)]
    True
    """
    device = torch.device(device)
    if seed_index is None:
        orders = sample_orders(order, n=n, epoch=epoch, run_seed=run_seed, batch=1)[0].tolist()
        for k in range(n):
            yield ScheduledStep(epoch, k, epoch * n + k, int(orders[k]), zo_generator(run_seed, epoch, k, device))
        return
    orders = sample_orders(order, n=n, epoch=epoch, run_seed=run_seed, seeds=seed_index)
    for k in range(n):
        yield ScheduledStep(epoch, k, epoch * n + k, orders[:, k], SeedStreams(run_seed, seed_index, epoch, k))


def step_schedule(
    order: Order, *, n: int, run_seed: int, start: int = 0, stop: int | None = None, device: str | torch.device = "cpu"
) -> Iterator[ScheduledStep]:
    """Unbatched steps ``start, start + 1, ...`` (up to ``stop``, exclusive; forever when None), epoch after
    epoch: the schedule of ``epoch_schedule`` addressed by global step."""
    if start < 0 or (stop is not None and stop < start):
        raise ValueError(f"need 0 <= start <= stop, got start={start}, stop={stop}")
    epoch, k0 = divmod(start, n)
    while stop is None or epoch * n < stop:
        for step in epoch_schedule(order, n=n, epoch=epoch, run_seed=run_seed, device=device):
            if step.k < k0:
                continue
            if stop is not None and step.step >= stop:
                return
            yield step
        epoch, k0 = epoch + 1, 0
