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


def _touch_and_free(mb: int) -> float:
    """Writes every page of an ``mb`` MB block and frees it; returns how many MB the free handed back.

    Measured against the resident size while the block is held, not against a start value: a heap that
    already holds freed pages from earlier tests serves part of the block from them, so growth from the
    start says little, while the drop on free says exactly whether the block left the process."""
    t = torch.ones(mb * (1 << 20) // 4)
    held = _rss_mb()
    del t
    return held - _rss_mb()


@glibc_only
def test_freed_memory_stays_mapped_in_the_block_and_is_handed_back_after_it():
    assert _touch_and_free(256) > 200  # glibc's own thresholds: a 256 MB block is unmapped on free
    with heap.retained_heap("cpu") as kept:
        assert kept
        assert _touch_and_free(256) < 64  # kept in the heap for the next product
        inside = _rss_mb()
    assert inside - _rss_mb() > 200  # handed back on the way out


@glibc_only
def test_nested_blocks_keep_the_memory_until_the_outermost_ends():
    with heap.retained_heap():
        with heap.retained_heap():
            assert _touch_and_free(256) < 64
        inside = _rss_mb()
    assert inside - _rss_mb() > 200


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
