"""Gaussian directions added to a tensor a chunk at a time, with the numbers of drawing the whole tensor.

A regenerated Gaussian direction used to be drawn whole (``torch.randn`` of the tensor's shape) and then
added, so a ZO step held one extra tensor of noise the size of the largest weight: on MiniLM the 45 MB word
embedding, which put the step's peak memory at 1.45x inference (README, "Measured so far"). Here the
direction is drawn into a small buffer and added chunk by chunk, so no more than a chunk of noise is ever
alive, and the numbers do not change.

Why they do not: torch's CPU ``normal_`` on a contiguous tensor of n >= 16 entries (torch 2.13,
``normal_fill`` and its AVX2 twin) first draws n uniforms in order from the generator, then maps them
16 at a time by Box-Muller, and when 16 does not divide n, draws 16 fresh uniforms for the last 16
entries. Drawing the same n entries as consecutive chunks whose lengths are multiples of 16, the last
one at least 16 long and taking the remainder, consumes the generator in the same order and maps the same
groups: the same bits (tested for every float dtype against the whole draw, odd lengths included). In
float32 and float64 an ``add_`` with alpha rounds each entry once, so any split of its operands gives the
same sums; in bfloat16 and float16 the entries its vector loop leaves to the scalar tail round twice, so a
split moves which entries do, and those dtypes keep the whole draw (as does any device but the CPU: a
CUDA generator places its draws by offsets that a split would change).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# entries per chunk (4 MiB in float32): the buffer stays in the cache between the draw and the add
CHUNK = 1 << 20
# the whole-tensor draw maps entries in groups of this size (see the module docstring)
_GROUP = 16


def chunk_bounds(n: int, chunk: int) -> list[tuple[int, int]]:
    """(start, count) of consecutive chunks covering n entries: ``chunk`` long (a multiple of 16), the last
    one taking the remainder and at least 16 long, so that drawing them in order matches one draw of n."""
    if chunk <= 0 or chunk % _GROUP:
        raise ValueError(f"chunk must be a positive multiple of {_GROUP}, got {chunk}")
    if n < _GROUP:
        raise ValueError(f"fewer than {_GROUP} entries ({n}) are drawn by another kernel; draw them whole")
    bounds, start = [], 0
    while start < n:
        count = min(chunk, n - start)
        if 0 < n - start - count < _GROUP:  # a remainder shorter than a group joins this chunk
            count = n - start
        bounds.append((start, count))
        start += count
    return bounds


def check_target(target: Tensor, shape: tuple[int, ...], dtype: torch.dtype, what: str = "a direction") -> None:
    """A ValueError unless ``target`` has ``shape`` and ``dtype``, the direction's, so that it can take it in place."""
    if tuple(target.shape) != tuple(shape) or target.dtype != dtype:
        raise ValueError(
            f"{what} of shape {tuple(shape)} and dtype {dtype} cannot be added to a tensor of shape "
            f"{tuple(target.shape)} and dtype {target.dtype}"
        )


def chunks_apply(device: torch.device | str, dtype: torch.dtype) -> bool:
    """Whether a draw added on ``device`` in ``dtype`` can be split without changing its numbers."""
    return torch.device(device).type == "cpu" and dtype in (torch.float32, torch.float64)


class GaussianDraw:
    """N(0, I) of ``shape`` and ``dtype`` from ``generator``, drawn when it is used: ``add_to`` adds it in
    chunks, ``materialize`` draws it whole (once; later uses reuse it). Either way the generator advances
    exactly as one ``torch.randn`` of the shape would advance it, so the draw must be used before the next
    draw from the same generator (``zo.inplace.noise`` checks that it was)."""

    def __init__(self, shape: tuple[int, ...], *, generator: torch.Generator, dtype: torch.dtype, chunk: int = CHUNK):
        self.shape, self.dtype, self.generator, self.chunk = tuple(int(s) for s in shape), dtype, generator, chunk
        self.drawn = False
        self._whole: Tensor | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def _claim(self) -> None:
        if self.drawn:
            raise RuntimeError("a lazy Gaussian direction was drawn already; materialize it to use it twice")
        self.drawn = True

    def materialize(self) -> Tensor:
        """The direction as a tensor of ``shape`` (drawn now if it was not yet)."""
        if self._whole is None:
            self._claim()
            self._whole = torch.randn(self.shape, generator=self.generator, dtype=self.dtype)
        return self._whole

    def add_to(self, target: Tensor, alpha: float) -> None:
        """target <- target + alpha * u in place; u is drawn a chunk at a time unless it was materialised."""
        check_target(target, self.shape, self.dtype)
        splittable = target.is_contiguous() and chunks_apply(target.device, target.dtype) and self.numel >= _GROUP
        if self._whole is not None or not splittable:
            target.add_(self.materialize(), alpha=alpha)
            return
        self._claim()
        flat = target.view(-1)
        for start, count, part in _drawn_chunks(self.numel, self.generator, self.dtype, self.chunk):
            flat[start : start + count].add_(part, alpha=alpha)


def _drawn_chunks(n: int, generator: torch.Generator, dtype: torch.dtype, chunk: int):
    """(start, count, entries) of one N(0, I) draw of n entries, a chunk at a time into one reused buffer."""
    bounds = chunk_bounds(n, chunk)
    buf = torch.empty(max(c for _, c in bounds), dtype=dtype)
    for start, count in bounds:
        yield start, count, buf[:count].normal_(generator=generator)


def randn_cast(n: int, *, generator: torch.Generator, draw_dtype: torch.dtype, dtype: torch.dtype, chunk: int = CHUNK):
    """``torch.randn(n, generator=generator, dtype=draw_dtype).to(dtype)`` on the CPU, bitwise, without the
    whole draw in ``draw_dtype``: chunks are drawn into one buffer and cast into the result (the float64 start
    vectors of the curvature solvers: a 182 MB temporary at MiniLM's 22.7M base weights)."""
    if generator.device.type != "cpu" or n < _GROUP:
        return torch.randn(n, generator=generator, dtype=draw_dtype).to(dtype)
    out = torch.empty(n, dtype=dtype)
    for start, count, part in _drawn_chunks(n, generator, draw_dtype, chunk):
        out[start : start + count].copy_(part)
    return out
