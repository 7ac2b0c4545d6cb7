"""Wall-clock timing of one call in the benchmarks, on a CPU or a GPU."""

from __future__ import annotations

import time

import torch


def _sync() -> None:
    # CUDA runs asynchronously: a timer read before the queue drains measures the launch, not the product
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def timed(fn):
    """(seconds, fn()) with the CUDA queue drained before and after."""
    _sync()
    t0 = time.perf_counter()
    out = fn()
    _sync()
    return time.perf_counter() - t0, out


def interleaved(ops: dict, reps: int) -> dict[str, list[float]]:
    """Seconds of each of ``ops`` (name -> zero-argument callable) over ``reps`` rounds, the operations taking
    turns within each round, so that a busy neighbour on a shared host slows all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in ops}
    for _ in range(reps):
        for name, fn in ops.items():
            times[name].append(timed(fn)[0])
    return times
