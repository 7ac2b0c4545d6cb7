"""Random directions shared by the sampled assumption checks (5, 6)."""

from __future__ import annotations

import torch
from torch import Tensor


def random_unit_directions(N: int, d: int, gen: torch.Generator) -> Tensor:
    """N directions uniform on the unit sphere of R^d (float64), drawn from ``gen``."""
    u = torch.randn(N, d, generator=gen, dtype=torch.float64)
    return u / torch.linalg.vector_norm(u, dim=-1, keepdim=True)
