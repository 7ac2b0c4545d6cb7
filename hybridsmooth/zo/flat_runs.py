"""Packed Rademacher noise over runs of adjacent tensors as one tensor: the same signs, fewer passes' overhead.

A model's block x is one flat buffer cut into per-tensor views (``objectives.module``), and a ZO step draws its
noise tensor by tensor: on MiniLM, 103 tensors of which 64 are biases and norms, so each pass over x pays
about 5 ms of per-tensor calls on top of 10 ms of arithmetic. Packed signs (``zo.signs``) make two adjacent
tensors one tensor without changing a sign, when the first one's size is a multiple of 64:

* the generator on the CPU draws words one after the other, so one draw of a + b words is the a words of
  the first tensor followed by the b of the second (checked in the tests);
* each tensor's signs start at a fresh word and fill whole 64-bit words when its size is a multiple of 64,
  so the second tensor's coordinate c is the merged tensor's coordinate a_size + c, in the same word and bit.

So a run of such views (consecutive in one storage, the same dtype, no rows of their own to move) becomes a
single 1-D view over the same memory, and every pass over it is one draw and one chunked add. The numbers are
bitwise those of the tensor-by-tensor step. Only on the CPU: a CUDA generator advances its counter per call
in rounded amounts, so one draw there is not two draws concatenated.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

WORD_BITS = 64


def _adjacent(p: Tensor, q: Tensor) -> bool:
    return (
        p.dtype == q.dtype
        and p.is_contiguous()
        and q.is_contiguous()
        and p.untyped_storage().data_ptr() == q.untyped_storage().data_ptr()
        and q.storage_offset() == p.storage_offset() + p.numel()
    )


def merge_adjacent(params: Sequence[Tensor], rows: Sequence[Tensor | None]) -> tuple[list[Tensor], list]:
    """``params`` with every run of mergeable neighbours (module docstring) replaced by one 1-D view over
    it, and ``rows`` to match (a tensor with rows of its own is never merged)."""
    out_p: list[Tensor] = []
    out_r: list = []
    run: list[Tensor] = []

    def close() -> None:
        if not run:
            return
        if len(run) == 1:
            out_p.append(run[0])
        else:
            first = run[0]
            out_p.append(first.as_strided((sum(t.numel() for t in run),), (1,), first.storage_offset()))
        out_r.append(None)
        run.clear()

    for p, r in zip(params, rows, strict=True):
        if p.device.type != "cpu" or r is not None:
            close()
            out_p.append(p)
            out_r.append(r)
            continue
        if run and not (run[-1].numel() % WORD_BITS == 0 and _adjacent(run[-1], p)):
            close()
        run.append(p)
    close()
    return out_p, out_r
