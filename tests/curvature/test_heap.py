"""The eigen-solvers keep freed memory in the heap while they run (curvature.heap): memory stays mapped
inside the block and is handed back after it, and the numbers do not change."""

import re
from pathlib import Path

import pytest
import torch

from hybridsmooth.curvature import heap, lanczos_top_eigs, power_iteration
from hybridsmooth.curvature.operators import matrix_operator

glibc_only = pytest.mark.skipif(heap.glibc() is None, reason="glibc's mallopt is what the module drives")


def _rss_mb() -> float:
    text = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024


def _touch_and_free(mb: int) -> None:
    t = torch.ones(mb * (1 << 20) // 4)  # every page written
    del t


@glibc_only
def test_freed_memory_stays_mapped_in_the_block_and_is_handed_back_after_it():
    base = _rss_mb()
    _touch_and_free(256)
    assert _rss_mb() - base < 64  # glibc's own thresholds: a 256 MB block is unmapped on free
    with heap.retained_heap("cpu") as kept:
        assert kept
        _touch_and_free(256)
        assert _rss_mb() - base > 200  # kept in the heap for the next product
    assert _rss_mb() - base < 64  # handed back on the way out


@glibc_only
def test_nested_blocks_keep_the_memory_until_the_outermost_ends():
    base = _rss_mb()
    with heap.retained_heap():
        with heap.retained_heap():
            _touch_and_free(256)
        assert _rss_mb() - base > 200
    assert _rss_mb() - base < 64


def test_other_devices_and_the_switch_leave_the_allocator_alone():
    with heap.retained_heap("meta") as kept:
        assert not kept
    with pytest.raises(RuntimeError), heap.switched(False):
        with heap.retained_heap("cpu") as kept:
            assert not kept
        raise RuntimeError
    assert heap.enabled  # restored when the block raised


def test_the_solvers_give_the_same_bits_either_way(monkeypatch):
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(300, 300, generator=gen, dtype=torch.float64)
    op = matrix_operator(a + a.T)
    runs = []
    for on in (True, False):
        monkeypatch.setattr(heap, "enabled", on)
        lz = lanczos_top_eigs(op, 2, max_iter=60, tol=1e-8)
        pw = power_iteration(op, max_iter=50, tol=1e-12)
        runs.append((lz.estimates, lz.residuals, pw.estimates, pw.residuals))
    assert runs[0] == runs[1]


def test_vectors_above_the_mmap_threshold_give_the_same_bits_either_way(monkeypatch):
    # 12M float32 entries: 48 MB per vector, above glibc's largest mmap threshold, so the two settings take
    # the memory from different places (fresh mappings against the heap)
    from hybridsmooth.curvature.operators import Operator

    d = 12_000_000
    diag = torch.linspace(-1.0, 3.0, d, dtype=torch.float32)
    op = Operator((d, d), torch.float32, torch.device("cpu"), lambda v: diag * v, name="diagonal")
    runs = []
    for on in (True, False):
        monkeypatch.setattr(heap, "enabled", on)
        res = lanczos_top_eigs(op, 1, max_iter=6, tol=1e-300, explicit_residuals=False)
        runs.append((res.estimates, res.residuals))
    assert runs[0] == runs[1]
