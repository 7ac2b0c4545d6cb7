"""The collectives every distributed step uses: who am I, and a batch-size-weighted mean over replicas.

Without an initialised process group every function acts as a world of one, so a single-process run calls
the same code (and a test replays a multi-process run with it).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def rank_world(group=None) -> tuple[int, int]:
    """(rank, world size) in ``group``; (0, 1) when no process group is initialised."""
    if not dist.is_available() or not dist.is_initialized():
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def all_sum_(t: Tensor, group=None) -> Tensor:
    """Sum ``t`` over the ranks, in place (a no-op in a world of one). Every rank receives the same bits: the
    backend reduces each element once and sends the result around, so replicas cannot diverge here."""
    if rank_world(group)[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t


def all_min(value: int, group=None, device=None) -> int:
    """The least of an integer over the ranks (each rank's own where no process group is initialised):
    for a size every rank must agree on, such as how many basis rows fit in the smallest rank's memory."""
    t = torch.tensor([int(value)], dtype=torch.int64, device=device)
    if rank_world(group)[1] > 1:
        dist.all_reduce(t, op=dist.ReduceOp.MIN, group=group)
    return int(t)


def weighted_mean(value: Tensor, weight: float, group=None) -> Tensor:
    """sum_r w_r v_r / sum_r w_r over the ranks, one collective for any shape of ``value``.

    ``value`` is a rank's mean over its ``weight`` examples (a loss, a flat gradient), so the result is the
    mean over the union of the ranks' examples even when the local batches differ in size. The result is
    detached: it is a number to step with, not something to differentiate. In a world of one it is ``value``
    itself, bit for bit (w v / w would round)."""
    if rank_world(group)[1] == 1:
        return value.detach().clone()
    flat = value.detach().reshape(-1)
    packed = torch.cat([flat * weight, flat.new_tensor([weight])])
    all_sum_(packed, group)
    return (packed[:-1] / packed[-1]).reshape(value.shape)


def all_dot(a: Tensor, b: Tensor, group=None) -> float:
    """<a, b> of two vectors each rank holds one shard of (local dot products summed over the ranks)."""
    return float(all_sum_((a.reshape(-1) @ b.reshape(-1)).reshape(1), group))
