"""Sample orders for one epoch of a finite-sum method (THEORY 2.1, "Sample-order variants").

* ``rr``  -- random reshuffling: a fresh, independent uniform permutation of {0..n-1} every epoch;
* ``so``  -- shuffle once: one uniform permutation, drawn for epoch 0 and reused in every epoch;
* ``ig``  -- incremental gradient: the fixed order 0, 1, ..., n-1;
* ``sgd`` -- with replacement: n independent uniform draws per epoch.

Orders for all seeds are drawn at once: a ``(batch, n)`` tensor, row b for seed b. Permutations are the
argsort of i.i.d. uniforms, which is uniform over permutations and vectorises over the batch.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ..zo.estimators import derive_seed

Order = Literal["rr", "so", "ig", "sgd"]
ORDERS: tuple[str, ...] = ("rr", "so", "ig", "sgd")

# The ZO noise of step k in epoch t is seeded by derive_seed(run_seed, t, k) with k < n. The order
# stream uses the same key layout with a step index no epoch can reach, so the two streams never share
# a seed (derive_seed pads short key lists with zeros, so a different key *count* would not be enough).
ORDER_STREAM_STEP = 2**32 - 1


def order_generator(run_seed: int, epoch: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The private generator of the sample order of one epoch."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(run_seed, epoch, ORDER_STREAM_STEP))
    return g


def sample_orders(order: Order, *, n: int, epoch: int, run_seed: int, batch: int = 1,
                  device: str | torch.device = "cpu") -> Tensor:
    """The sample indices of epoch ``epoch`` for ``batch`` seeds: a LongTensor of shape ``(batch, n)``.

    Same (order, n, epoch, run_seed, batch) -> the same tensor; the global RNG is never used.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown sample order {order!r}; accepted: {', '.join(ORDERS)}")
    if n < 1 or batch < 1:
        raise ValueError(f"need n >= 1 and batch >= 1, got n={n}, batch={batch}")
    if epoch < 0:
        raise ValueError(f"epoch must be non-negative, got {epoch}")
    if order == "ig":
        return torch.arange(n, device=device).expand(batch, n).clone()
    gen = order_generator(run_seed, 0 if order == "so" else epoch, device)
    if order == "sgd":
        return torch.randint(0, n, (batch, n), generator=gen, device=device)
    keys = torch.rand((batch, n), generator=gen, dtype=torch.float64, device=device)
    return torch.argsort(keys, dim=-1)
