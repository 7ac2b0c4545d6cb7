"""Rademacher directions from packed random words: one generator draw per 64 signs.

A Rademacher vector needs one random bit per coordinate, but ``torch.randint(0, 2)`` spends a full
generator draw on each (a Mersenne-Twister word on the CPU, drawn serially), which costs as much as a
Gaussian: 22.7M signs took 0.11 s on 2 cores, randn 0.13-0.15 s. A ZO step regenerates its direction three
times, so on MiniLM the noise cost 4.5x the step's two forward passes. Here each int64 word from the
generator's full 64-bit range gives 64 signs, written straight into the floating-point bit pattern
(sign bit | the bits of 1.0), so no integer-to-float conversion runs; ``add_signs`` expands them in
cache-sized chunks fused with the add, so u is never materialised over the whole tensor.

Layout: the words are viewed as integers of the float dtype's width w (int16 for float16 / bfloat16, int32,
int64); coordinate k * w + j takes bit w - 1 - j of integer k (its sign bit first), set -> -1, clear -> +1.
The layout is part of the seed's meaning: the same generator state gives the same signs whether they are
materialised (``PackedSigns.materialize``, what the flat estimators use) or added in chunks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .gaussian_chunks import GaussianDraw, check_target
from .gaussian_split import SplitDraw

# float dtype -> (integer dtype of the same width, the bit pattern of 1.0 in it)
_PATTERNS: dict[torch.dtype, tuple[torch.dtype, int]] = {
    torch.float64: (torch.int64, 0x3FF0000000000000),
    torch.float32: (torch.int32, 0x3F800000),
    torch.bfloat16: (torch.int16, 0x3F80),
    torch.float16: (torch.int16, 0x3C00),
}
# elements expanded per chunk (4 MiB in float32): past a core's L2 cache, but each chunk's four kernels then
# split evenly over the threads and the loop is short. benchmarks/noise_pass.py over MiniLM's 22.7M weights as
# one tensor: 8.7 ms a pass against 10.8 at 2^18 on 2 threads, 11.4 against 13.7 on one (medians, side by side)
CHUNK = 1 << 20
# on a GPU each chunk costs kernel launches, not cache misses: the training-core check on one H200 (a 1.3B
# LLaMA in bfloat16, 2^20 per chunk) put the packed Rademacher ZO step at 4.7x two forwards against 1.29x for
# regenerated Gaussian noise, about 1,300 chunks of five kernels per pass. 2^24 entries (32 MiB of int16
# scratch in bfloat16) cut that to about 80: 0.172 s a step against 0.382 on a second H200 run, 1.86x two forwards
# (benchmarks/results/h200_2026-12-04_second/gpu_check.log)
ACCELERATOR_CHUNK = 1 << 24


def chunk_for(device: torch.device | str) -> int:
    """Entries expanded per chunk on ``device``: cache-sized on a CPU, launch-amortising elsewhere. Any
    multiple of 64 gives the same signs, so the choice never changes a number."""
    return CHUNK if torch.device(device).type == "cpu" else ACCELERATOR_CHUNK


@dataclass(frozen=True)
class PackedSigns:
    """+-1 of ``shape`` in ``dtype``, stored as ``words`` (ceil(numel / w) integers of width w)."""

    words: Tensor
    shape: tuple[int, ...]
    dtype: torch.dtype

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def _expand(self, start: int, count: int, out: Tensor | None = None) -> Tensor:
        """Signs start .. start + count - 1 (start a multiple of w) as a flat tensor of ``dtype``."""
        int_dtype, one = _PATTERNS[self.dtype]
        w = torch.iinfo(int_dtype).bits
        k = -(-count // w)
        shifts = torch.arange(w, dtype=int_dtype, device=self.words.device)
        src = self.words[start // w : start // w + k].unsqueeze(-1)
        bits = torch.bitwise_left_shift(src, shifts, out=None if out is None else out[: k * w].view(k, w))
        bits.bitwise_and_(-(1 << (w - 1))).bitwise_or_(one)
        return bits.reshape(-1)[:count].view(self.dtype)

    def materialize(self) -> Tensor:
        """The signs as a tensor of ``shape`` and ``dtype``."""
        return self._expand(0, self.numel).reshape(self.shape)

    def take_rows(self, rows: Tensor) -> Tensor:
        """The signs of ``rows`` (indices along the first dimension) as a (len(rows), *shape[1:]) tensor of
        ``dtype``: ``materialize()[rows]`` without expanding the other rows (what a perturbation of only the
        rows a forward reads needs)."""
        int_dtype, _ = _PATTERNS[self.dtype]
        w = torch.iinfo(int_dtype).bits
        per_row = math.prod(self.shape[1:])
        rows = rows.to(device=self.words.device, dtype=torch.int64)
        if per_row % w == 0:  # each row owns whole words (MiniLM: 384 floats = 12 int32 words)
            words = self.words[: self.shape[0] * (per_row // w)].view(self.shape[0], per_row // w)
            picked = PackedSigns(words.index_select(0, rows).reshape(-1), (len(rows), *self.shape[1:]), self.dtype)
            return picked.materialize()
        coords = rows.unsqueeze(-1) * per_row + torch.arange(per_row, device=self.words.device)
        bits = self.words[coords // w].to(torch.int64).bitwise_right_shift(w - 1 - coords % w).bitwise_and_(1)
        # bit set -> -1, clear -> +1 (the layout of _expand)
        return (1 - 2 * bits).to(self.dtype).reshape((len(rows), *self.shape[1:]))

    def add_to(self, target: Tensor, alpha: float, *, chunk: int | None = None) -> None:
        """target <- target + alpha * u in place, ``chunk`` entries at a time (default ``chunk_for`` the
        target's device; elementwise the same as adding ``materialize()`` for any multiple of 64)."""
        check_target(target, self.shape, self.dtype, what="signs")
        if not target.is_contiguous():
            target.add_(self.materialize(), alpha=alpha)
            return
        flat = target.view(-1)
        n = self.numel
        int_dtype, _ = _PATTERNS[self.dtype]
        chunk = chunk_for(target.device) if chunk is None else chunk
        if chunk <= 0 or chunk % 64:
            raise ValueError(f"chunk must be a positive multiple of 64, got {chunk}")
        buf = torch.empty(min(chunk, n + torch.iinfo(int_dtype).bits), dtype=int_dtype, device=target.device)
        for start in range(0, n, chunk):
            count = min(chunk, n - start)
            flat[start : start + count].add_(self._expand(start, count, buf), alpha=alpha)


def draw_signs(shape: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype, device=None) -> PackedSigns:
    """Packed Rademacher signs of ``shape``: ceil(numel * w / 64) int64 words from ``generator``'s full
    64-bit range (``random_(-2**63)``), one draw per word."""
    if dtype not in _PATTERNS:
        raise ValueError(f"packed signs need a float16, bfloat16, float32 or float64 dtype, got {dtype}")
    shape = tuple(int(s) for s in shape)
    int_dtype, _ = _PATTERNS[dtype]
    w = torch.iinfo(int_dtype).bits
    n_int = -(-math.prod(shape) // w)
    n64 = -(-n_int * w // 64)
    device = generator.device if device is None else device
    raw = torch.empty(n64, dtype=torch.int64, device=device).random_(-(1 << 63), None, generator=generator)
    return PackedSigns(raw.view(int_dtype)[:n_int], shape, dtype)


def rademacher(shape: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype, device=None) -> Tensor:
    """Independent +-1 of ``shape`` from ``generator``: ``draw_signs(...).materialize()``."""
    return draw_signs(shape, generator=generator, dtype=dtype, device=device).materialize()


def as_tensor(u: Tensor | PackedSigns | GaussianDraw | SplitDraw) -> Tensor:
    """A direction as a tensor (packed signs or a lazy Gaussian draw materialised)."""
    return u.materialize() if isinstance(u, (PackedSigns, GaussianDraw, SplitDraw)) else u


def add_direction(target: Tensor, u: Tensor | PackedSigns | GaussianDraw | SplitDraw, alpha: float) -> None:
    """target <- target + alpha * u in place, for a tensor direction, packed signs or a lazy Gaussian draw."""
    if isinstance(u, (PackedSigns, GaussianDraw, SplitDraw)):
        u.add_to(target, alpha)
    else:
        target.add_(u, alpha=alpha)
