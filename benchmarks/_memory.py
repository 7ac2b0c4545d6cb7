"""Peak-memory probes for the benchmarks: process RSS on the CPU, the caching allocator on CUDA.

torch's CPU allocations are not tracked by ``torch.cuda``, so on the CPU the peak of one operation is the
growth of the process's resident set over a baseline taken just before it. Linux keeps a resettable
high-water mark (``VmHWM`` in /proc/self/status, reset by writing 5 to /proc/self/clear_refs): resetting it
right before the operation makes the baseline the current RSS, so a larger transient peak from loading the
model cannot hide the operation's growth. Where the reset is not allowed, ``resource.getrusage`` ru_maxrss
(never reset) is the fallback, and its growth is a lower bound.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def ru_maxrss_bytes() -> int:
    """The process's lifetime peak RSS (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def current_rss_bytes() -> int | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark to the current RSS; False where that is not possible."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    hwm, rss = _status_kib("VmHWM"), _status_kib("VmRSS")
    return hwm is not None and rss is not None and hwm <= rss + 64  # a few pages of slack


@dataclass(frozen=True)
class RssWindow:
    """Peak RSS growth of the code run between :func:`start_rss_window` and :meth:`growth_bytes`."""

    baseline: int
    resettable: bool

    def growth_bytes(self) -> int:
        if self.resettable:
            peak = _status_kib("VmHWM")
            if peak is not None:
                return max(peak * 1024 - self.baseline, 0)
        return max(ru_maxrss_bytes() - self.baseline, 0)


def start_rss_window() -> RssWindow:
    """Open a window: reset the high-water mark when possible (baseline = current RSS), else baseline =
    the lifetime peak so far (ru_maxrss), which can only under-report the growth."""
    if reset_peak_rss():
        rss = current_rss_bytes()
        if rss is not None:
            return RssWindow(baseline=rss, resettable=True)
    return RssWindow(baseline=ru_maxrss_bytes(), resettable=False)
