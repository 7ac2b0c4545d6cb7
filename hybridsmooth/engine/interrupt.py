"""Ctrl-C (or ``kill``) that stops a run between steps, so that what was recorded can be kept.

A run interrupted in the middle of an in-place ZO step would leave its weights perturbed; a checkpoint
taken then would store a point the run never visited. Inside ``deferred_interrupt()`` the first SIGINT or
SIGTERM only asks the loop to stop at its next step boundary (where it saves and raises
``RunInterrupted``); a second one interrupts at once. ``kill -9`` cannot be caught: what survives it is
the last checkpoint.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class RunInterrupted(KeyboardInterrupt):
    """A run stopped by the user after saving what it had recorded; the message says where and how to resume."""


class StopFlag:
    requested: bool = False


@contextmanager
def deferred_interrupt():
    """Yields a ``StopFlag`` whose ``requested`` turns true on the first SIGINT or SIGTERM (main thread only;
    elsewhere signals cannot be caught and the flag simply stays false)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        if flag.requested:  # asked twice: stop now
            raise KeyboardInterrupt
        flag.requested = True

    for sig in previous:
        signal.signal(sig, handler)
    try:
        yield flag
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
