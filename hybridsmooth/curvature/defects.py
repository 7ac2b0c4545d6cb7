"""How far a computed block operator is from a symmetric linear map (finite-difference products are neither)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from . import draws

if TYPE_CHECKING:
    from .hvp import BlockName, HessianAtPoint


@dataclass(frozen=True)
class OperatorDefects:
    """How far a block operator is from a symmetric linear map, measured on random probes (relative units).

    ``asymmetry`` = |u^T (B v) - v^T (B^T u)| / (||u|| ||B|| ||v||), where B^T is the engine's transposed
    block (H_yx for H_xy, the block itself otherwise); ``nonlinearity`` = ||B(v + w) - B v - B w|| /
    (||B v|| + ||B w||). Both vanish, to rounding, for the autograd back-ends. ``norm`` is the ||B|| used.
    """

    asymmetry: float
    nonlinearity: float
    norm: float
    hvps: int


TRANSPOSED = {"xx": "xx", "yy": "yy", "full": "full", "xy": "yx", "yx": "xy"}


def _probe(n: int, g: torch.Generator, like: Tensor) -> Tensor:
    v = draws.normal(n, g, torch.float64, like.device)
    return (v / torch.linalg.vector_norm(v)).to(dtype=like.dtype, device=like.device)


def operator_defects(
    engine: HessianAtPoint, block: BlockName = "xx", seed: int = 0, *, norm: float | None = None
) -> OperatorDefects:
    """Measured asymmetry and nonlinearity of the engine's ``block`` operator (4 products, see OperatorDefects).

    Exact Hessian-vector products are symmetric and linear; finite differences are neither: each product
    has its own step (scaled to the direction) and its own truncation and rounding errors, so
    u^T H v - v^T H u and H(v + w) - H v - H w are the product's error made visible. The homogeneity
    defect H(2v) - 2 H v is not measured: the step scales as 1 / ||v||, so 2v is evaluated at the very same
    points as v and the defect is zero by construction. ``norm``: ||B|| if known (the estimate); otherwise
    the largest ||B p|| over the unit probes p, a lower bound, which makes the asymmetry an upper estimate.
    """
    op, op_t = engine.operator(block), engine.operator(TRANSPOSED[block])
    start = engine.counter.hvps
    g = draws.generator(seed, engine.x.device)
    u, v, w = _probe(op.shape[0], g, engine.x), _probe(op.shape[1], g, engine.x), _probe(op.shape[1], g, engine.x)
    bv, btu, bw, bvw = op.matvec(v), op_t.matvec(u), op.matvec(w), op.matvec(v + w)
    scale = norm if norm is not None and norm > 0 else max(float(bv.norm()), float(btu.norm()), float(bw.norm()))
    gap = abs(float(u @ bv) - float(v @ btu))
    added = float(bv.norm()) + float(bw.norm())
    return OperatorDefects(
        asymmetry=gap / scale if scale > 0 else 0.0,
        nonlinearity=float((bvw - bv - bw).norm()) / added if added > 0 else 0.0,
        norm=scale,
        hvps=engine.counter.hvps - start,
    )
