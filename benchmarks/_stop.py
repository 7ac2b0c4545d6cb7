"""A benchmark stopped at its time limit (``timeout`` sends SIGTERM) prints what it measured before it stops."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block SIGTERM raises KeyboardInterrupt, which the benchmark catches after its last complete
    repetition; outside it the previous handler is back."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def repeat_until_stopped(reps: int, measure: Callable[[int], None], samples: dict[tuple, list[float]]) -> int:
    """``measure(rep)`` for rep = 0 .. reps - 1, each one's seconds on stderr. SIGTERM stops the loop: the
    repetition it cut short is dropped from ``samples`` (each key's list holds one entry per repetition).
    Returns the number of finished repetitions (0: nothing to report)."""
    done = 0
    try:
        with sigterm_interrupts():
            for rep in range(reps):
                t0 = time.perf_counter()
                measure(rep)
                done += 1
                print(f"  rep {done}/{reps} done in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        print(f"# stopped after {done} of {reps} repetitions", flush=True)
        for key in samples:
            del samples[key][done:]
    return done
