"""Small helpers every synthetic problem builder shares: size checks, a memory check, start points, indices."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .. import validate
from ..errors import SpecError


def expand_index(idx: Tensor, batch: torch.Size, device: torch.device) -> Tensor:
    """A LongTensor idx broadcast to the batch shape, with the same rule as ``base.select_samples``."""
    idx = torch.as_tensor(idx, device=device).long()
    return idx.expand(batch) if idx.dim() <= len(batch) else idx


def check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value}")


def check_memory(problem: str, n_floats: int, **sizes: int) -> None:
    """Refuse sizes whose float64 arrays cannot fit in memory, before numpy tries (and fails with a
    multi-line error, or swaps for minutes)."""
    named = ", ".join(f"{k}={v}" for k, v in sizes.items())
    validate.check_allocation(n_floats, 8, f"{problem}: {named}", error=SpecError)


def random_start(rng: np.random.Generator, d_x: int, d_y: int, start: float) -> tuple[Tensor, Tensor]:
    """(x0, y0): a random starting point at distance about ``start`` from the origin, split into the blocks."""
    z0 = start * rng.standard_normal(d_x + d_y) / math.sqrt(max(d_x + d_y, 1))
    return torch.as_tensor(z0[:d_x]), torch.as_tensor(z0[d_x:])
