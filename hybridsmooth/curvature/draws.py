"""Random start vectors and probes of the curvature solvers, drawn where the operator lives.

On the CPU the draws are the ones the solvers always made (a CPU generator, float64, cast to the operator's
dtype), so no CPU number changes. On an accelerator that host draw costs more than the products it feeds: 4.6 s
for the 134.5M base weights of SmolLM2 in float64 on 2 cores, then a cast and a copy, while one Hessian-vector
product of that block takes 0.2-0.5 s on an H200 (README, "Measured so far"); a Lanczos run of 4 products paid
8x a gradient per product for it. There the same seed seeds a generator on the device, which draws in the
operator's precision (float32 for float32, bfloat16 and float16 operators; float64 for float64). The same seed
on the same device gives the same numbers; a CPU run and a GPU run draw different vectors, as their products
differ in rounding anyway.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..zo.gaussian_chunks import randn_cast


def generator(seed: int, device: torch.device | str) -> torch.Generator:
    """A generator seeded with ``seed`` on the CPU for a CPU operator, on ``device`` otherwise."""
    device = torch.device(device)
    where = "cpu" if device.type == "cpu" else device
    return torch.Generator(device=where).manual_seed(int(seed))


def _on_host(gen: torch.Generator) -> bool:
    return gen.device.type == "cpu"


def _draw_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def normal(shape: tuple[int, ...] | int, gen: torch.Generator, dtype: torch.dtype, device) -> Tensor:
    """Standard Gaussian entries of ``shape`` as ``dtype`` on ``device`` (module docstring: where they are drawn)."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if _on_host(gen):
        if dtype == torch.float64:
            return torch.randn(shape, generator=gen, dtype=torch.float64).to(device=device)
        # the same float64 draw, a chunk at a time: no float64 temporary of the whole length
        flat = randn_cast(math.prod(shape), generator=gen, draw_dtype=torch.float64, dtype=dtype)
        return flat.view(shape).to(device=device)
    return torch.randn(shape, generator=gen, dtype=_draw_dtype(dtype), device=gen.device).to(dtype=dtype)


def signs(shape: tuple[int, ...] | int, gen: torch.Generator, dtype: torch.dtype, device) -> Tensor:
    """Rademacher entries (+1 or -1, each with probability 1/2) of ``shape`` as ``dtype`` on ``device``."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if _on_host(gen):
        # +-1 is exact in every dtype: no float64 step needed for the same values as the former draws
        return (2 * torch.randint(0, 2, shape, generator=gen) - 1).to(dtype=dtype, device=device)
    bits = torch.randint(0, 2, shape, generator=gen, device=gen.device, dtype=torch.int8)
    return (2 * bits - 1).to(dtype=dtype)
