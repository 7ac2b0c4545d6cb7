"""The in-place ZO step that moves only the rows a forward pass reads (an embedding matrix indexed by token ids).

A word-embedding matrix that nothing but an index lookup reads (no tied output head) enters the loss only
through the rows of the tokens in the minibatch: 512 tokens read at most 512 of MiniLM's 30,522 rows, while
the matrix is half of its base weights. The perturbations x +- mu u that exist only to be measured can
then skip the other rows; the update x <- x - eta phi u / q still moves every row. Per step that is one full
pass over such a matrix instead of three.

What stays and what changes in one step from the same point, for the same seed:

* The directions are drawn exactly as before (the same generator calls, so the same u for every tensor).
* Every loss value of the step is bitwise the same: the forward reads the same numbers.
* The rows read end bitwise where they did: each move is the same single rounding of x + c u.
* The rows not read are no longer moved out and back: they get x + c u with c the update only, one
  rounding instead of three (closer to the exact x - eta phi u / q). Later steps that read those rows then
  differ by that rounding.

The block is restricted to Rademacher directions (form spsa), where c u is exact (u = +-1), so a move of a
gathered row rounds exactly as the same move of the whole tensor; with Gaussian directions the two kernels
could round c u differently, and the rows read would not be bitwise those of the dense step.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from . import flat_runs
from .inplace import _PerturbedBlock
from .signs import PackedSigns, add_direction


def rows_of(u: Tensor | PackedSigns, rows: Tensor) -> Tensor:
    """The rows ``rows`` of the direction ``u`` (packed signs expanded only there)."""
    return u.take_rows(rows) if isinstance(u, PackedSigns) else u.index_select(0, rows)


def check_rows(params: Sequence[Tensor], rows: Sequence[Tensor | None]) -> list[Tensor | None]:
    """One entry per parameter: None (all rows move) or the sorted unique row indices a forward reads."""
    rows = list(rows)
    if len(rows) != len(params):
        raise ValueError(f"rows: one entry per parameter tensor ({len(params)}), got {len(rows)}")
    out: list[Tensor | None] = []
    for p, r in zip(params, rows, strict=True):
        if r is None:
            out.append(None)
            continue
        if p.dim() < 1 or r.dim() != 1 or r.dtype not in (torch.int32, torch.int64):
            raise ValueError("rows: a 1-D integer tensor of row indices for a tensor with rows")
        r = torch.unique(r.to(device=p.device, dtype=torch.int64))
        if len(r) and (int(r[0]) < 0 or int(r[-1]) >= p.shape[0]):
            raise ValueError(f"rows: indices must lie in [0, {p.shape[0]}), got {int(r[0])}..{int(r[-1])}")
        out.append(r)
    return out


def _move_rows(p: Tensor, u: Tensor | PackedSigns, rows: Tensor, scale: float) -> None:
    kept = p.index_select(0, rows)
    kept.add_(rows_of(u, rows), alpha=scale)
    p.index_copy_(0, rows, kept)


class ReadRowsBlock(_PerturbedBlock):
    """``_PerturbedBlock`` whose measuring moves touch only ``rows[k]`` of parameter k (all of it where
    None); the update after the measurement moves every row (module docstring)."""

    def __init__(self, params: list[Tensor], *, rows: list[Tensor | None], **kw):
        super().__init__(params, **kw)
        self.rows = rows

    def _shift(self, directions, scale: float) -> None:
        with torch.no_grad():
            for p, u, r in zip(self.params, directions, self.rows, strict=True):
                if r is None:
                    add_direction(p, u, scale)
                else:
                    _move_rows(p, u, r, scale)

    def move(self, scale: float, *, offset: float) -> None:
        self._shift(self.directions(self.current), scale)
        self.offset = offset

    def restore(self) -> None:
        if self.offset != 0.0:
            self._shift(self.directions(self.current), -self.offset)
            self.offset = 0.0

    def settle(self, update: float, capture: tuple | None = None) -> None:
        """Rows read: x0 + offset u -> x0 + update u in one rounding, as the dense step; rows not read: they
        sit at x0, so they get x0 + update u."""
        if capture is not None:
            raise ValueError("a rounding probe needs the dense step (rows=None)")
        fused = -self.offset + update
        with torch.no_grad():
            for p, u, r in zip(self.params, self.directions(self.current), self.rows, strict=True):
                if r is None:
                    add_direction(p, u, fused)
                    continue
                kept = p.index_select(0, r)
                add_direction(p, u, update)
                kept.add_(rows_of(u, r), alpha=fused)
                p.index_copy_(0, r, kept)
        self.offset = 0.0


def plain_spsa_block(params: list[Tensor], *, rows, merge: bool, **kw) -> _PerturbedBlock:
    """The block of a Rademacher step in precision plain: adjacent views merged (``merge``; ``zo.flat_runs``)
    and, with ``rows``, the measuring moves restricted to them."""
    rows = check_rows(params, rows) if rows is not None else None
    if merge:
        params, merged_rows = flat_runs.merge_adjacent(params, rows if rows is not None else [None] * len(params))
        rows = merged_rows if rows is not None else None
    return ReadRowsBlock(params, rows=rows, **kw) if rows is not None else _PerturbedBlock(params, **kw)
