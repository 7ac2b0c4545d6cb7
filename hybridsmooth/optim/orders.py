"""Sample orders for one epoch of a finite-sum method (THEORY 2.1, "Sample-order variants").

* ``rr``  -- random reshuffling: a fresh, independent uniform permutation of {0..n-1} every epoch;
* ``so``  -- shuffle once: one uniform permutation, drawn for epoch 0 and reused in every epoch;
* ``ig``  -- incremental gradient: the fixed order 0, 1, ..., n-1;
* ``sgd`` -- with replacement: n independent uniform draws per epoch.

Orders for all seeds are drawn at once: a ``(batch, n)`` tensor, row b for seed b. Permutations are the
argsort of i.i.d. uniforms, which is uniform over permutations and vectorises over the batch.

Two sources: given ``seeds`` (seed indices), row b comes from the counter-based stream of seed index
``seeds[b]`` (``rng.SeedStreams``) and does not depend on the other rows, so a seed gets the same order
alone or in any batch (the batched runs of ``run_hybrid_sgd``). Without ``seeds``, all ``batch`` rows come
from one private ``torch.Generator`` per (run_seed, epoch) (the unbatched runs, batch = 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

from ..rng import ORDER_STREAM, SeedStreams, order_generator

Order = Literal["rr", "so", "ig", "sgd"]
ORDERS: tuple[str, ...] = ("rr", "so", "ig", "sgd")


def sample_orders(
    order: Order,
    *,
    n: int,
    epoch: int,
    run_seed: int,
    batch: int = 1,
    seeds: Tensor | Sequence[int] | None = None,
    device: str | torch.device = "cpu",
) -> Tensor:
    """The sample indices of epoch ``epoch``: a LongTensor of shape ``(batch, n)``, or ``(len(seeds), n)``.

    With ``seeds``, row b depends only on (order, n, epoch, run_seed, seeds[b]) and lies on the device of
    ``seeds`` when it is a tensor; ``batch`` must then be left at 1 or equal len(seeds). Without, the same
    (order, n, epoch, run_seed, batch) give the same tensor. The global RNG is never used.
    """
    if order not in ORDERS:
        raise ValueError(f"unknown sample order {order!r}; accepted: {', '.join(ORDERS)}")
    if seeds is not None:
        seeds = torch.as_tensor(seeds, dtype=torch.int64, device=seeds.device if isinstance(seeds, Tensor) else device)
        if seeds.dim() != 1:
            raise ValueError(f"seeds must be a 1-d list of seed indices, got shape {tuple(seeds.shape)}")
        if batch not in (1, len(seeds)):
            raise ValueError(f"batch={batch} contradicts the {len(seeds)} seed indices given")
        batch, device = len(seeds), seeds.device
    if n < 1 or batch < 1:
        raise ValueError(f"need n >= 1 and batch >= 1, got n={n}, batch={batch}")
    if epoch < 0:
        raise ValueError(f"epoch must be non-negative, got {epoch}")
    if order == "ig":
        return torch.arange(n, device=device).expand(batch, n).clone()
    key_epoch = 0 if order == "so" else epoch
    if seeds is not None:
        streams = SeedStreams(run_seed, seeds, key_epoch, 0, stream=ORDER_STREAM)
        return streams.indices(n, n) if order == "sgd" else streams.permutations(n)
    gen = order_generator(run_seed, key_epoch, device)
    if order == "sgd":
        return torch.randint(0, n, (batch, n), generator=gen, device=device)
    keys = torch.rand((batch, n), generator=gen, dtype=torch.float64, device=device)
    return torch.argsort(keys, dim=-1)
