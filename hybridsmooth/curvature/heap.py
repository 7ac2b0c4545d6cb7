"""Keep freed memory in the process heap while an eigen-solve runs on the CPU (glibc only).

A Hessian product on the base weights allocates vectors far above glibc's largest mmap threshold (32 MB):
the product itself and each new basis row (91 MB on MiniLM's 22.7M weights) and the word embedding's dense
gradient (45 MB). Each such block is mapped afresh and released on free, so the kernel zero-fills it again
page by page on the next product; on a 2-core host those page faults cost about as much as the arithmetic.
``retained_heap`` routes every block through the heap and keeps what is freed there while the solve runs,
so the next product reuses pages already mapped; on the way out it hands the kept memory back
(``malloc_trim``). The numbers do not change: only where memory comes from.

Any ``mallopt`` call switches glibc's dynamic mmap threshold off for the rest of the process, so the way
out sets the values that adjustment would reach (blocks below 32 MB from the heap, 64 MB trim threshold)
rather than leaving the static defaults of 128 kB, which would map every mid-sized block afresh.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
import threading
from collections.abc import Callable, Iterator

import torch

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_DURING = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, 2**31 - 1))
_AFTER = ((_M_MMAP_MAX, 65536), (_M_MMAP_THRESHOLD, 32 << 20), (_M_TRIM_THRESHOLD, 64 << 20))

# the switch a benchmark flips to measure both ways in one process
enabled = True
_lock = threading.Lock()
_depth = 0
_libc: ctypes.CDLL | None | bool = False  # False: not looked up yet


def glibc() -> ctypes.CDLL | None:
    """The process's C library when it is glibc with ``mallopt`` and ``malloc_trim``, else None."""
    global _libc
    if _libc is False:
        _libc = None
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(None)
                lib.gnu_get_libc_version.restype = ctypes.c_char_p
                if hasattr(lib, "mallopt") and hasattr(lib, "malloc_trim") and lib.gnu_get_libc_version():
                    _libc = lib
            except (OSError, AttributeError):
                _libc = None
    return _libc


@contextlib.contextmanager
def switched(on: bool) -> Iterator[None]:
    """``enabled`` set to ``on`` within the block and restored after it, also when the block raises."""
    global enabled
    before, enabled = enabled, bool(on)
    try:
        yield
    finally:
        enabled = before


def _set(lib: ctypes.CDLL, settings) -> None:
    for param, value in settings:
        lib.mallopt(ctypes.c_int(param), ctypes.c_int(value))


@contextlib.contextmanager
def retained_heap(device: torch.device | str = "cpu") -> Iterator[bool]:
    """Within the block, freed memory stays in the heap (module docstring); yields whether that applies
    (a CPU device on glibc). Nested blocks keep it until the outermost one ends."""
    global _depth
    lib = glibc() if enabled and torch.device(device).type == "cpu" else None
    if lib is None:
        yield False
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            _set(lib, _DURING)
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set(lib, _AFTER)
                lib.malloc_trim(ctypes.c_size_t(0))


def keeps_heap(solver: Callable) -> Callable:
    """A solver whose first argument is an Operator, run inside ``retained_heap`` on that operator's device."""

    @functools.wraps(solver)
    def run(op, *args, **kwargs):
        with retained_heap(op.device):
            return solver(op, *args, **kwargs)

    return run
