"""Argument checks shared by the Theorem R formulas: each returns the value as a plain number or raises a
one-line ValueError naming the argument."""

from __future__ import annotations

import math


def nonneg(name: str, value: float) -> float:
    value = float(value)
    if math.isnan(value) or value < 0 or value == math.inf:
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return value


def pos(name: str, value: float, *, allow_inf: bool = False) -> float:
    value = float(value)
    if math.isnan(value) or value <= 0 or (value == math.inf and not allow_inf):
        raise ValueError(f"{name} must be a finite positive number, got {value!r}")
    return value


def count(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def dim(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def open_unit(name: str, value: float) -> float:
    """A level strictly between 0 and 1, such as a failure probability delta (at 1 the bounds say nothing)."""
    value = pos(name, value)
    if value >= 1:
        raise ValueError(f"{name} must lie in (0, 1), got {value}")
    return value
