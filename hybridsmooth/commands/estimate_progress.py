"""The progress bar of ``hybridsmooth estimate``: one step per (point, block) solve, on stderr."""

from __future__ import annotations

import sys
import time


class Progress:
    """A bar on stderr over the (point, block) solves; its postfix counts the products of the running solve.

    The postfix is redrawn at most twice a second: products of a small problem take microseconds."""

    def __init__(self, total: int, enabled: bool):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc="estimate", unit="solve", file=sys.stderr, leave=False, disable=not enabled)
        self.label, self.products, self.shown_at = "", 0, 0.0

    def start(self, point: int, block: str) -> None:
        self.label, self.products = f"point {point}, {block}", 0
        self.bar.set_postfix_str(self.label, refresh=True)

    def product(self) -> None:
        self.products += 1
        now = time.monotonic()
        if now - self.shown_at >= 0.5:
            self.shown_at = now
            self.bar.set_postfix_str(f"{self.label}: {self.products} products", refresh=True)

    def done(self) -> None:
        self.bar.update(1)
        if self.bar.n == self.bar.total:  # update() redraws at most every 0.1 s: show the end for sure
            self.bar.refresh()

    def close(self) -> None:
        self.bar.close()
