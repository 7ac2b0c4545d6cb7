"""A benchmark stopped at its time limit (``timeout`` sends SIGTERM) prints what it measured before it stops."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STACKS_ENV = "BENCH_STACKS_EVERY"


def dump_stacks_from_env() -> float:
    """With BENCH_STACKS_EVERY=S in the environment, print every thread's Python stack to stderr every S
    seconds until the process ends: where a benchmark that prints nothing spends its time (a stall inside one
    C call, which no Python signal handler interrupts). Returns S (0 when unset)."""
    raw = os.environ.get(STACKS_ENV, "").strip()
    if not raw:
        return 0.0
    try:
        every = float(raw)
        problem = None if every > 0 else f"{STACKS_ENV} must be positive seconds, got {raw}"
    except ValueError:
        problem = f"{STACKS_ENV}={raw!r} is not a number of seconds"
    if problem:  # bad input: one line, exit 2, before any work
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    faulthandler.dump_traceback_later(every, repeat=True, file=sys.stderr)
    return every


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Inside the block SIGTERM raises KeyboardInterrupt, which the benchmark catches after its last complete
    repetition; outside it the previous handler is back."""

    def interrupt(signum, frame):
        print("# SIGTERM at:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=False)
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
