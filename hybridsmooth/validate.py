"""Checks of user-given values that end in a one-line error naming the bad part.

Every check takes ``what``, the name the message starts with (``"quadratic: Lx"`` for a spec key,
``"--seeds"`` for an option), and ``error``, the exception class to raise: ``SpecError`` (the default) for
spec keys, ``UsageError`` for command-line options. Each returns the value, converted, so that a check
reads as an assignment.

A *rule* binds a check to a spec key in the problem table (``hybridsmooth.objectives.registry``); it
is called as ``rule(what, value)``. The plain checks are rules as they stand (``finite``, ``positive``, ...);
``at_least``, ``between``, ``choice`` and ``optional`` make rules with parameters.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from typing import Any

from .errors import SpecError, UsageError

Rule = Callable[[str, Any], Any]


def _number(what: str, value: Any, error: type[Exception]) -> float:
    if isinstance(value, bool):
        raise error(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise error(f"{what} must be a number, got {value!r}") from None


def finite(what: str, value: Any, *, error: type[Exception] = SpecError) -> float:
    value = _number(what, value, error)
    if not math.isfinite(value):
        raise error(f"{what} must be a finite number, got {value!r}")
    return value


def positive(what: str, value: Any, *, error: type[Exception] = SpecError) -> float:
    value = _number(what, value, error)
    if not (math.isfinite(value) and value > 0):
        raise error(f"{what} must be a finite positive number, got {value!r}")
    return value


def non_negative(what: str, value: Any, *, error: type[Exception] = SpecError) -> float:
    value = _number(what, value, error)
    if not (math.isfinite(value) and value >= 0):
        raise error(f"{what} must be a finite number >= 0, got {value!r}")
    return value


def in_range(what: str, value: Any, lo: float, hi: float, *, error: type[Exception] = SpecError) -> float:
    """A finite number in the closed interval [lo, hi]."""
    value = _number(what, value, error)
    if not (math.isfinite(value) and lo <= value <= hi):
        raise error(f"{what} must lie in [{lo:g}, {hi:g}], got {value!r}")
    return value


def integer(
    what: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    error: type[Exception] = SpecError,
    why: str = "",
) -> int:
    """An int (bools and floats refused: ``dx=2.5`` must not become 2) within [minimum, maximum]; ``why``
    explains a bound that is not obvious."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be an integer, got {value!r}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise error(f"{what} must be an integer {_bounds(minimum, maximum)}{f' ({why})' if why else ''}, got {value}")
    return value


def threads(what: str, value: Any, *, error: type[Exception] = UsageError) -> int:
    """A torch thread count: at most this machine's CPUs (more only contend, and a huge count overflows)."""
    cpus = os.cpu_count() or 1
    return integer(what, value, minimum=1, maximum=cpus, error=error, why=f"this machine has {cpus} CPUs")


def non_negative_int(what: str, value: Any, *, error: type[Exception] = SpecError) -> int:
    return integer(what, value, minimum=0, error=error)


def positive_int(what: str, value: Any, *, error: type[Exception] = SpecError) -> int:
    return integer(what, value, minimum=1, error=error)


def boolean(what: str, value: Any, *, error: type[Exception] = SpecError) -> bool:
    if not isinstance(value, bool):
        raise error(f"{what} must be a boolean (true/false), got {value!r}")
    return value


def one_of(what: str, value: Any, choices: Iterable[str], *, error: type[Exception] = SpecError) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise error(f"{what} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _bounds(minimum: int | None, maximum: int | None) -> str:
    if minimum is not None and maximum is not None:
        return f"in {minimum}..{maximum}"
    return f">= {minimum}" if minimum is not None else f"<= {maximum}"


# --- memory -----------------------------------------------------------------------------------------------


def physical_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * page_size if pages > 0 and page_size > 0 else None


def format_bytes(n: int) -> str:
    """Decimal units (1 GB = 10^9 bytes), three significant digits."""
    if n < 1000:
        return f"{n} B"
    units = ("KB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    digits = len(str(int(n)))
    exponent = (digits - 1) // 3
    if exponent > len(units):  # sizes from absurd specs: a float would overflow
        return f"about 10^{digits - 1} B"
    return f"{n / 1000**exponent:.3g} {units[exponent - 1]}"


def check_allocation(
    n_elements: int, bytes_per_element: int, what: str, *, error: type[Exception] = UsageError
) -> None:
    """Refuse an array that could not fit in this machine's physical memory, before trying to allocate it:
    numpy and torch would fail with a multi-line error, or the system would start swapping."""
    need = int(n_elements) * int(bytes_per_element)
    have = physical_memory()
    if have is not None and need > have:
        raise error(f"{what} needs {format_bytes(need)} of memory; this machine has {format_bytes(have)}")


# --- rules: checks bound to spec keys in the problem table ----------------------------------------------
# finite, positive, non_negative, non_negative_int, positive_int and boolean are rules as they stand.


def at_least(minimum: int) -> Rule:
    """An integer key with a lower bound (sizes: 0 for a block that may be empty, 1 for a count)."""

    def rule(what: str, value: Any) -> int:
        return integer(what, value, minimum=minimum)

    return rule


def between(lo: float, hi: float) -> Rule:
    def rule(what: str, value: Any) -> float:
        return in_range(what, value, lo, hi)

    return rule


def choice(*choices: str) -> Rule:
    def rule(what: str, value: Any) -> str:
        return one_of(what, value, choices)

    return rule


def optional(inner: Rule) -> Rule:
    """A key whose default ``None`` means "derived from other keys"; a given value must pass ``inner``."""

    def rule(what: str, value: Any) -> Any:
        return None if value is None else inner(what, value)

    return rule
