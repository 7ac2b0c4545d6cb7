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
