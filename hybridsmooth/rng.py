"""Counter-based random streams, one per seed of a batched run.

A batched run draws the randomness of all its seeds at once, yet seed index b must get the same numbers
whether it runs alone, among 10 seeds or beside any other seeds. A single ``torch.Generator`` cannot do
this (its i-th number depends on how many came before, i.e. on the batch), and one generator per seed
would cost S generator creations per step. Instead every random word is a pure function of its
coordinates, computed for the whole batch with vectorised int64 tensor ops:

    word(b, c) = splitmix64(key_b)[c]      the c-th output of SplitMix64 started from state key_b
               = mix64(key_b + (c + 1) * GAMMA)

Key derivation. ``key_b`` absorbs, one at a time, the integers

    run_seed, stream (ORDER_STREAM or DIRECTION_STREAM), epoch, step, draw, seed index b

through ``h <- mix64(h ^ field)`` from the constant ``KEY_INIT``. ``draw`` counts the draws already made
from one ``SeedStreams`` object, so successive draws differ as they would from one generator; sample
orders use step 0 and draw 0 (and epoch 0 for shuffle-once). Why streams never collide: mix64 is a
bijection of 64-bit words, so two tuples that differ in a single field always get different keys, and
any two distinct tuples share a key with probability about 2^-64. Every tuple has the same six fields
in the same order, so the sample-order and direction streams of one (epoch, step), or two seeds of one
step, are such single-field differences. Two rows' word sequences overlap only if their keys differ by
a multiple of GAMMA smaller than the number of words drawn: probability (words drawn) / 2^64.

From words: uniform floats from the top 53 bits (24 below float64), Gaussians by Box-Muller with both
outputs used, Rademacher signs from the top bit, permutations as the argsort of one word per position,
with-replacement draws as floor(n u).

int64 tensors hold the words as two's-complement bit patterns: products wrap modulo 2^64 like uint64,
but ``>>`` is arithmetic, so every logical shift is an arithmetic shift and a mask.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15  # SplitMix64's increment (odd, 2^64 / golden ratio)
MIX1, MIX2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
KEY_INIT = 0x6A09E667F3BCC909  # fractional bits of sqrt(2): any fixed constant works

ORDER_STREAM = 1
DIRECTION_STREAM = 2


def as_int64(word: int) -> int:
    """The int64 with the bit pattern of the 64-bit word ``word`` (two's complement)."""
    word &= MASK64
    return word - (1 << 64) if word >> 63 else word


# the constants as int64 bit patterns, for tensor arithmetic
_GAMMA64, _MIX1_64, _MIX2_64 = as_int64(GAMMA), as_int64(MIX1), as_int64(MIX2)


def mix64_int(z: int) -> int:
    """SplitMix64's output function on one 64-bit word (Python ints, result in [0, 2^64))."""
    z &= MASK64
    z = ((z ^ (z >> 30)) * MIX1) & MASK64
    z = ((z ^ (z >> 27)) * MIX2) & MASK64
    return z ^ (z >> 31)


def _mix64_(z: Tensor) -> Tensor:
    """mix64 in place on an int64 tensor."""
    t = torch.empty_like(z)
    for shift, mult in ((30, _MIX1_64), (27, _MIX2_64), (31, None)):
        torch.bitwise_right_shift(z, shift, out=t)
        t.bitwise_and_((1 << (64 - shift)) - 1)  # arithmetic shift + mask = logical shift
        z.bitwise_xor_(t)
        if mult is not None:
            z.mul_(mult)
    return z


def mix64(z: Tensor) -> Tensor:
    """SplitMix64's output function, elementwise on an int64 tensor (bit patterns of 64-bit words)."""
    if z.dtype != torch.int64:
        raise TypeError(f"mix64 works on int64 tensors, got {z.dtype}")
    return _mix64_(z.clone())


def _check_field(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= int(value) <= MASK64:
        raise ValueError(f"stream key fields must be integers in [0, 2^64), got {value!r}")
    return int(value)


def key_prefix(*fields: int) -> int:
    """The key state after absorbing ``fields`` (each in [0, 2^64)) from KEY_INIT: h <- mix64(h ^ field)."""
    h = KEY_INIT
    for value in fields:
        h = mix64_int(h ^ _check_field(value))
    return h


def row_keys(prefix: int, seeds: Tensor) -> Tensor:
    """Absorb each seed index into ``prefix``: the per-row keys, an int64 tensor shaped like ``seeds``."""
    return _mix64_(seeds.to(torch.int64) ^ as_int64(prefix))


def random_words(keys: Tensor, count: int) -> Tensor:
    """The first ``count`` SplitMix64 outputs from each key: int64, shape ``keys.shape + (count,)``."""
    steps = torch.arange(1, count + 1, dtype=torch.int64, device=keys.device).mul_(_GAMMA64)
    return _mix64_(keys.unsqueeze(-1) + steps)


def _top_bits(words: Tensor, bits: int) -> Tensor:
    return (words >> (64 - bits)).bitwise_and_((1 << bits) - 1)


def _float_kind(dtype: torch.dtype) -> tuple[torch.dtype, int]:
    # float64 gets 53 random bits; narrower types are drawn in float32 (24 bits, all it can hold) and cast
    return (torch.float64, 53) if dtype == torch.float64 else (torch.float32, 24)


def uniform_from_words(words: Tensor, dtype: torch.dtype = torch.float64, *, open_at_zero: bool = False) -> Tensor:
    """Uniforms on a grid of 2^-bits: in [0, 1), or in (0, 1] with ``open_at_zero`` (safe for log)."""
    work, bits = _float_kind(dtype)
    top = _top_bits(words, bits)
    if open_at_zero:
        top.add_(1)
    return top.to(work).mul_(2.0**-bits).to(dtype)


def normal_from_words(words: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """N(0, 1) by Box-Muller from an even number of words per row: the first half gives the radii, the
    second half the angles, and both r cos(theta) and r sin(theta) are kept (same shape as ``words``)."""
    half = words.shape[-1] // 2
    if 2 * half != words.shape[-1]:
        raise ValueError(f"Box-Muller needs an even number of words per row, got {words.shape[-1]}")
    work, bits = _float_kind(dtype)
    radius = uniform_from_words(words[..., :half], work, open_at_zero=True).log_().mul_(-2.0).sqrt_()
    angle = _top_bits(words[..., half:], bits).to(work).mul_(2.0 * math.pi * 2.0**-bits)
    first = radius * angle.cos()
    second = radius.mul_(angle.sin_())
    return torch.cat((first, second), dim=-1).to(dtype)


def rademacher_from_words(words: Tensor, dtype: torch.dtype = torch.float64) -> Tensor:
    """+-1 from the top bit of each word (sign-extended to -1 or 0, then or-ed with 1)."""
    return (words >> 63).bitwise_or_(1).to(dtype)


def as_seed_indices(seeds: int | Sequence[int] | None) -> tuple[int, ...] | None:
    """The seed indices a batched run means: S -> (0, ..., S-1); a list/tuple/range of distinct
    non-negative integers -> itself as a tuple; None (one unbatched run) -> None."""
    if seeds is None:
        return None
    if isinstance(seeds, numbers.Integral) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValueError(f"seeds must be a positive integer, a list of seed indices or None, got {seeds!r}")
        return tuple(range(int(seeds)))
    if not isinstance(seeds, (list, tuple, range)):
        raise ValueError(f"seeds must be a positive integer, a list of seed indices or None, got {seeds!r}")
    ids = tuple(seeds)
    bad = [s for s in ids if isinstance(s, bool) or not isinstance(s, numbers.Integral) or not 0 <= s < 2**63]
    if not ids or bad:
        raise ValueError(f"seed indices must be a non-empty list of integers in [0, 2^63), got {seeds!r}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"seed indices must be distinct (a repeated seed would be the same run), got {seeds!r}")
    return tuple(int(s) for s in ids)


class SeedStreams:
    """The random streams of a batch of seeds at one (run_seed, epoch, step): row b of every draw
    depends only on (run_seed, stream, epoch, step, draw number, seeds[b]), never on the other rows.

    Successive draws (``words``, ``normal``, ...) continue the stream, as with a ``torch.Generator``;
    arrays with a seed dimension put it second, after the direction index: shape (q, S, *event).
    """

    def __init__(
        self, run_seed: int, seeds: Tensor | Sequence[int], epoch: int, step: int, *, stream: int = DIRECTION_STREAM
    ):
        seeds = torch.as_tensor(seeds, dtype=torch.int64)
        if seeds.dim() != 1 or seeds.numel() == 0 or bool((seeds < 0).any()):
            raise ValueError(f"seeds must be a non-empty 1-d tensor of non-negative indices, got {seeds!r}")
        self.seeds = seeds
        self.fields = tuple(_check_field(v) for v in (run_seed, stream, epoch, step))
        self.draws = 0

    @property
    def batch(self) -> int:
        return int(self.seeds.numel())

    def words(self, count: int) -> Tensor:
        """The next draw: ``count`` random 64-bit words per seed, int64 of shape (S, count)."""
        keys = row_keys(key_prefix(*self.fields, self.draws), self.seeds)
        self.draws += 1
        return random_words(keys, count)

    def _per_seed(self, shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
        shape = tuple(int(s) for s in shape)
        if len(shape) < 2 or shape[1] != self.batch:
            raise ValueError(f"per-seed draws need shape (q, S, ...) with S = {self.batch} seeds, got {shape}")
        q, event = shape[0], shape[2:]
        return q, q * math.prod(event), event

    def _to_shape(self, rows: Tensor, q: int, event: tuple[int, ...], device) -> Tensor:
        # rows (S, q * E) -> (q, S, *event); a copy only when q > 1 (moving a size-1 dim is free)
        out = rows.reshape(self.batch, q, *event).movedim(0, 1).contiguous()
        return out if device is None else out.to(device)

    def normal(self, shape: tuple[int, ...], *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """N(0, I) of shape (q, S, *event)."""
        q, count, event = self._per_seed(shape)
        rows = normal_from_words(self.words(count + count % 2), dtype)[:, :count]
        return self._to_shape(rows, q, event, device)

    def rademacher(self, shape: tuple[int, ...], *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
        """Independent +-1 of shape (q, S, *event)."""
        q, count, event = self._per_seed(shape)
        return self._to_shape(rademacher_from_words(self.words(count), dtype), q, event, device)

    def permutations(self, n: int) -> Tensor:
        """One uniform permutation of 0..n-1 per seed, (S, n): the argsort of n i.i.d. words (ties have
        probability below n^2 / 2^65; the stable sort breaks them by position)."""
        return torch.argsort(self.words(n), dim=-1, stable=True)

    def indices(self, n: int, count: int) -> Tensor:
        """``count`` uniform draws from 0..n-1 with replacement per seed, (S, count): floor(n u)."""
        u = uniform_from_words(self.words(count), torch.float64)
        return u.mul_(n).floor_().to(torch.int64).clamp_(max=n - 1)  # n u rounds up to n only for huge n


# --- torch.Generator streams of unbatched runs (keys hashed by numpy's SeedSequence) ----------------------


def derive_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys, e.g. (run_seed, epoch, step); distinct keys give unrelated streams."""
    if any(int(k) < 0 for k in keys):
        raise ValueError(f"seed keys must be non-negative integers, got {keys}")
    state = np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint32)
    return int((int(state[0]) << 31) ^ int(state[1])) & ((1 << 63) - 1)


def zo_generator(run_seed: int, epoch: int, step: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The private generator for one optimizer step: same (run_seed, epoch, step) -> same noise."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(run_seed, epoch, step))
    return g


# The ZO noise of step k in epoch t is seeded by derive_seed(run_seed, t, k) with k < n. The order
# stream uses the same key layout with a step index no epoch can reach, so the two streams never share
# a seed (derive_seed pads short key lists with zeros, so a different key *count* would not be enough).
ORDER_STREAM_STEP = 2**32 - 1


def order_generator(run_seed: int, epoch: int, device: str | torch.device = "cpu") -> torch.Generator:
    """The private generator of the sample order of one epoch."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(run_seed, epoch, ORDER_STREAM_STEP))
    return g
