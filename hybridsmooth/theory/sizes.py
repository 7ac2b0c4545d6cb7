"""The two sizes of every numbered check (``fast``: seconds, what the tests run; ``full``: THEORY's sizes) and
the validation of a seed count."""

from __future__ import annotations

from typing import Literal

Size = Literal["fast", "full"]
SIZES: tuple[str, ...] = ("fast", "full")


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; accepted: {', '.join(SIZES)}")
    return size


def seed_count(seeds: int | None, default: int) -> int:
    """``seeds`` if given (an integer >= 2: a standard error needs two), else the size's ``default``."""
    if seeds is None:
        return default
    if isinstance(seeds, bool) or int(seeds) != seeds or seeds < 2:
        raise ValueError(f"seeds must be an integer >= 2 (a standard error needs two), got {seeds!r}")
    return int(seeds)
