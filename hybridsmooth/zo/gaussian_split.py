"""A Gaussian direction drawn as independently seeded chunks, on all the CPU's threads (the ``split`` stream).

torch's CPU generator is one Mersenne Twister, drawn serially: 22.7M float32 Gaussians (MiniLM's base
weights) take 77 ms, of which 64 ms are the uniforms, on one core however many the step has, and a regenerated
ZO step draws its direction three times. The ``sequential`` stream (``zo.gaussian_chunks``) cannot spread that
over cores without changing its numbers: every entry depends on all the draws before it. The ``split`` stream
defines the direction differently. Number the entries of the block (its tensors flattened one after another,
in the order of the parameters) i = 0, 1, ..., n - 1; entry i is entry i mod C of a draw of min(C, n - kC)
values N(0, I) from a generator of its own for chunk k = i div C, seeded by a bijective mix of (a base seed, k);
C = ``SPLIT_CHUNK``.
The base seed is one draw from the step's generator, so a direction is regenerated from the generator state
saved before it, as in the sequential stream.

What that gives: every chunk can be drawn and added on any thread, so a pass over the weights runs on all of
``torch.get_num_threads()`` threads; the numbers depend on the base seed, C and an entry's place in the block,
never on the thread count or on how the block is cut into tensors (a chunk may span several small tensors, which
then share one draw); the distribution is N(0, I) entry by entry, the chunks of one direction drawn from distinct
seeds (the mix is a bijection of k, so two chunks never share a seed). What it costs: the numbers differ from the
sequential stream's for the same seed, so it is a separate, selectable stream (``HybridSGDConfig.zo_stream``),
never a silent change. The ZO estimator's moments are the Gaussian ones either way (tested like the sequential
stream's).

Adding in chunks rounds like adding the whole tensor in float32 and float64 on the CPU (``zo.gaussian_chunks``),
so a chunked pass and ``materialize`` followed by one ``add_`` give the same bits there; in bfloat16 and float16
a tensor's direction is materialised and added whole, on the calling thread. CPU only: a GPU's generator
already draws in parallel, and there each chunk would cost a kernel launch.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from .gaussian_chunks import check_target, chunks_apply

# entries per independently seeded chunk (1 MiB in float32). Part of the stream's definition: another size
# gives other numbers. A pass over MiniLM's 22.7M base weights on 2 threads (benchmarks/noise_pass.py, "gaussian
# split" against "split, 2^16" and "split, 2^20", side by side): 2^16 pays a seeding, a draw call and Python
# per chunk 347 times; 2^20 leaves up to a chunk of imbalance between the threads
SPLIT_CHUNK = 1 << 18

_MASK32 = 0xFFFFFFFF
# how a Gaussian ZO direction is drawn: entry after entry from the step's generator, or this module's chunks
ZO_STREAMS: tuple[str, ...] = ("sequential", "split")


def _fmix32(h: int) -> int:
    """MurmurHash3's finaliser: a bijection of 32-bit integers that spreads every input bit."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _MASK32
    return h ^ (h >> 16)


def chunk_seed(base: int, k: int) -> int:
    """The seed of chunk k of a direction with base seed ``base``: distinct for distinct k < 2^32 (an odd
    multiplier keeps base + k * c a bijection of k, and the finaliser is one), so a direction's chunks never
    share a generator state. 32 bits, all that torch's CPU Mersenne Twister takes from a seed."""
    return _fmix32((int(base) + int(k) * 0x9E3779B9) & _MASK32)


def draw_base_seed(generator: torch.Generator) -> int:
    """A direction's base seed: one 32-bit draw from the step's generator (which then advances by that draw)."""
    return int(torch.randint(0, 1 << 32, (1,), generator=generator, dtype=torch.int64, device=generator.device))


class SplitDraw:
    """The split-stream direction of one tensor of a block of ``total`` entries: entries ``offset`` ..
    ``offset + numel - 1`` of the block's direction with base seed ``base`` (module docstring), in ``shape`` and
    ``dtype``. Nothing is drawn until it is used; unlike a sequential draw it can be used any number of times,
    drawing the same numbers."""

    def __init__(
        self,
        shape: Sequence[int],
        *,
        base: int,
        offset: int,
        total: int,
        dtype: torch.dtype,
        device: torch.device | str = "cpu",
        chunk: int = SPLIT_CHUNK,
    ):
        if chunk <= 0 or chunk % 16:
            # torch's CPU normal_ maps 16 entries at a time; a multiple of 16 keeps every chunk on one kernel path
            raise ValueError(f"chunk must be a positive multiple of 16, got {chunk}")
        self.shape, self.dtype, self.device = tuple(int(s) for s in shape), dtype, torch.device(device)
        self.base, self.offset, self.total, self.chunk = int(base), int(offset), int(total), int(chunk)
        if not 0 <= self.offset <= self.total - self.numel:
            raise ValueError(f"a tensor of {self.numel} entries at {self.offset} is outside a block of {self.total}")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    def segments(self) -> list[tuple[int, int, int, int, int]]:
        """(chunk index k, its length, start in the chunk, start in the flattened tensor, count) of each piece
        of a chunk this tensor holds."""
        out, start, end = [], self.offset, self.offset + self.numel
        while start < end:
            k, at = divmod(start, self.chunk)
            count = min(self.chunk - at, end - start)
            out.append((k, min(self.chunk, self.total - k * self.chunk), at, start - self.offset, count))
            start += count
        return out

    def materialize(self) -> Tensor:
        """The direction as a tensor of ``shape``, drawn chunk by chunk on the calling thread."""
        out = torch.empty(self.numel, dtype=self.dtype, device=self.device)
        gen = torch.Generator(device=self.device)
        for k, length, at, start, count in self.segments():
            gen.manual_seed(chunk_seed(self.base, k))
            drawn = torch.empty(length, dtype=self.dtype, device=self.device).normal_(generator=gen)
            out[start : start + count].copy_(drawn[at : at + count])
        return out.view(self.shape)

    def add_to(self, target: Tensor, alpha: float) -> None:
        """target <- target + alpha * u in place, drawn and added a chunk at a time on all threads where that
        rounds like one whole add (float32 / float64 on the CPU, a contiguous target); materialised elsewhere."""
        add_split([target], [self], alpha)


def _chunked(target: Tensor) -> bool:
    return target.is_contiguous() and chunks_apply(target.device, target.dtype)


_POOL: ThreadPoolExecutor | None = None
_POOL_KEY: tuple[int, int] = (0, 0)
_LOCAL = threading.local()


def _one_intra_op_thread() -> None:
    # each worker is one of the step's threads: an add that split itself again over the intra-op threads
    # oversubscribes the cores (a pass over MiniLM's weights: 57 ms against 42 with one thread per worker)
    torch.set_num_threads(1)


def _pool(workers: int) -> ThreadPoolExecutor:
    """A process-wide pool of ``workers`` threads of one intra-op thread each, rebuilt when the count changes
    and in a forked child (which inherits the pool but not its threads: work handed to it would never run)."""
    global _POOL, _POOL_KEY
    key = (workers, os.getpid())
    if _POOL is None or _POOL_KEY != key:
        if _POOL is not None and _POOL_KEY[1] == key[1]:
            _POOL.shutdown(wait=True)
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zo-split", initializer=_one_intra_op_thread)
        _POOL_KEY = key
    return _POOL


def _scratch(dtype: torch.dtype, count: int) -> tuple[torch.Generator, Tensor]:
    """This thread's generator and ``count`` entries of its buffer of ``dtype`` (kept between passes; a draw
    into the head of a longer buffer gives the numbers of a draw into a fresh tensor of that length)."""
    if not hasattr(_LOCAL, "gen"):
        _LOCAL.gen, _LOCAL.bufs = torch.Generator(), {}
    buf = _LOCAL.bufs.get(dtype)
    if buf is None or buf.numel() < count:
        buf = _LOCAL.bufs[dtype] = torch.empty(count, dtype=dtype)
    return _LOCAL.gen, buf[:count]


# one chunk's work: its seed, its length, and the (flat target, start in the chunk, start in the target, count)
# of the pieces it adds to
_Task = tuple[int, int, list[tuple[Tensor, int, int, int]]]


def _put(dest: Tensor, values: Tensor, alpha: float | None) -> None:
    """dest <- dest + alpha * values in place, or dest <- values when ``alpha`` is None."""
    if alpha is None:
        dest.copy_(values)
    else:
        dest.add_(values, alpha=alpha)


def _run_tasks(tasks: list[_Task], alpha: float | None) -> None:
    """Draw each chunk into this thread's buffer (once per dtype its pieces have) and add its pieces in place
    (``alpha`` None: write them)."""
    for seed, chunk, pieces in tasks:
        drawn: dict[torch.dtype, Tensor] = {}
        for flat, at, start, count in pieces:
            values = drawn.get(flat.dtype)
            if values is None:
                gen, buf = _scratch(flat.dtype, chunk)
                gen.manual_seed(seed)
                values = drawn[flat.dtype] = buf.normal_(generator=gen)
            _put(flat[start : start + count], values[at : at + count], alpha)


def add_split(
    targets: Sequence[Tensor], draws: Sequence[SplitDraw], alpha: float | None, *, workers: int | None = None
) -> None:
    """targets[i] <- targets[i] + alpha * draws[i] for every i, in place (``alpha`` None: targets[i] <-
    draws[i]): the chunks that the tensors which can be split hold are dealt round-robin to ``workers`` threads
    (default ``torch.get_num_threads()``), each chunk drawn once for all the tensors it spans; the other tensors
    are materialised and added whole here. The result does not depend on ``workers``: each entry is added once,
    by one thread."""
    if len(targets) != len(draws):
        raise ValueError(f"{len(targets)} tensors but {len(draws)} directions")
    chunks: dict[tuple[int, int, int], list[tuple[Tensor, int, int, int]]] = {}
    with torch.no_grad():
        for target, u in zip(targets, draws):
            check_target(target, u.shape, u.dtype)
            if not _chunked(target):
                _put(target, u.materialize(), alpha)
                continue
            flat = target.view(-1)
            for k, length, at, start, count in u.segments():
                chunks.setdefault((u.base, k, length), []).append((flat, at, start, count))
        tasks = [(chunk_seed(base, k), length, pieces) for (base, k, length), pieces in chunks.items()]
        threads = torch.get_num_threads()
        workers = max(1, int(workers if workers is not None else threads))
        if workers == 1 or len(tasks) < 2:
            _run_tasks(tasks, alpha)
            return
        shares = [tasks[w::workers] for w in range(min(workers, len(tasks)))]
        try:
            for future in [_pool(workers).submit(_run_tasks, share, alpha) for share in shares]:
                future.result()
        finally:
            # a worker's set_num_threads(1) also sets the count new threads start with; this thread's own is
            # untouched, and setting it again puts the process-wide default back
            torch.set_num_threads(threads)


def materialize_split(draws: Sequence[SplitDraw]) -> list[Tensor]:
    """The tensors of a direction (``split_directions``), drawn on all threads: ``SplitDraw.materialize`` of
    each, bit for bit, with each chunk drawn once however many tensors it spans."""
    out = [torch.empty(u.shape, dtype=u.dtype, device=u.device) for u in draws]
    add_split(out, draws, None)
    return out


def split_directions(
    shapes: Sequence[Sequence[int]],
    *,
    generator: torch.Generator,
    dtypes: Sequence[torch.dtype],
    chunk: int | None = None,
) -> list[SplitDraw]:
    """One split-stream direction over a block of tensors of ``shapes`` (in order) and ``dtypes``: draws its base
    seed from ``generator`` (advancing it by one draw) and places each tensor at its offset in the block."""
    if generator.device.type != "cpu":
        # each chunk would be a kernel launch and a reseed (20,000 per pass over a 1.3B model), while a GPU's
        # Philox generator already draws the sequential stream in parallel
        raise ValueError(
            f"the split stream spreads the CPU generator's draws over CPU threads; on {generator.device.type} use "
            "the sequential stream"
        )
    chunk = SPLIT_CHUNK if chunk is None else chunk
    base = draw_base_seed(generator)
    total = sum(math.prod(s) for s in shapes)
    draws, offset = [], 0
    for shape, dtype in zip(shapes, dtypes, strict=True):
        u = SplitDraw(shape, base=base, offset=offset, total=total, dtype=dtype, chunk=chunk)
        draws.append(u)
        offset += u.numel
    return draws


def check_stream(stream: object, form: str) -> str:
    """``stream`` if it is one of ZO_STREAMS and applies to ``form``, else a ValueError saying why."""
    if stream not in ZO_STREAMS:
        raise ValueError(f"unknown ZO noise stream {stream!r}; accepted: {', '.join(ZO_STREAMS)}")
    if stream == "split" and form == "spsa":
        raise ValueError(
            "the split stream draws Gaussian directions (forms central, forward); the spsa form's packed "
            "Rademacher signs have one stream, already cheap (zo.signs)"
        )
    return str(stream)
