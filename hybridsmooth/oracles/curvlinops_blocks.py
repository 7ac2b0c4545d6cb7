"""Block norms of a model objective's Hessian from curvlinops, as an oracle independent of our HVP engine.

curvlinops builds the minibatch Hessian operator with ``torch.func`` (forward-over-reverse on a functional
copy of the model), where :mod:`hybridsmooth.curvature.hvp` double-backwards through a parameter swap; the
eigen-solves here are scipy's ARPACK (``eigsh``, ``svds``) on ``.to_scipy()``, not our Lanczos. So an
agreement checks the products and the solver at once.

* xx, yy: curvlinops' operator on the block's Parameters only (the other block a constant) -> L = |lambda|
  of largest magnitude.
* xy: curvlinops' operator on both blocks, restricted to rows x and columns y -> sigma_max(H_xy).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from torch import nn

from ..errors import UsageError
from ..objectives.module import batch_size_of
from . import require
from .scores_model import ScoresModel, batch_at, block_params, only_requires_grad

QUANTITY = {"xx": "L_x", "yy": "L_y", "xy": "L_xy"}


@dataclass(frozen=True)
class OracleValue:
    block: str
    value: float
    products: int
    seconds: float


def curvlinops_block_norms(
    objective, blocks: Sequence[str] = ("xx", "yy", "xy"), *, batch_index: int = 0, tol: float = 1e-10, seed: int = 0
) -> pd.DataFrame:
    """One row per block: ``block``, ``quantity``, ``value`` (the block norm of the Hessian of the loss on
    minibatch ``batch_index`` at the objective's live point), ``products`` (Hessian products ARPACK used),
    ``seconds``, ``oracle``. ``tol`` is ARPACK's relative accuracy of the returned value."""
    require("curvlinops", "the curvlinops oracle")
    import curvlinops

    unknown = [b for b in blocks if b not in QUANTITY]
    if unknown:
        raise UsageError(f"unknown block(s) {', '.join(unknown)}; accepted: {', '.join(QUANTITY)}")
    batch = batch_at(objective, batch_index)
    rows = []
    for block in blocks:
        found = (
            _xy_norm(objective, batch, tol, seed) if block == "xy" else _block_norm(objective, batch, block, tol, seed)
        )
        rows.append(
            {
                "block": block,
                "quantity": QUANTITY[block],
                "value": found.value,
                "products": found.products,
                "seconds": found.seconds,
                "oracle": f"curvlinops {getattr(curvlinops, '__version__', '')}".strip(),
            }
        )
    return pd.DataFrame(rows)


def _hessian(objective, params, batch):
    """curvlinops' Hessian of mean cross-entropy on ``batch`` w.r.t. ``params``, as a scipy operator."""
    from curvlinops import HessianLinearOperator

    model = ScoresModel(objective)
    op = HessianLinearOperator(
        model, nn.CrossEntropyLoss(), params, [(batch, batch["labels"])], batch_size_fn=batch_size_of
    )
    return model, op.to_scipy()


class _Counted:
    """A scipy operator's matvec, counted (the products are the oracle's cost)."""

    def __init__(self, op):
        self.op, self.count = op, 0

    def __call__(self, v):
        self.count += 1
        return np.asarray(self.op @ np.asarray(v).reshape(-1), dtype=self.op.dtype)


def _start(dim: int, dtype, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(dim).astype(dtype)


def _block_norm(objective, batch, block: str, tol: float, seed: int) -> OracleValue:
    from scipy.sparse.linalg import LinearOperator, eigsh

    params = block_params(objective, block)
    with only_requires_grad(objective.model, params):
        _, op = _hessian(objective, params, batch)
        counted = _Counted(op)
        t0 = time.perf_counter()
        values = eigsh(
            LinearOperator(op.shape, matvec=counted, dtype=op.dtype),
            k=1,
            which="LM",
            tol=tol,
            v0=_start(op.shape[0], op.dtype, seed),
            return_eigenvectors=False,
        )
    return OracleValue(block, float(abs(values[0])), counted.count, time.perf_counter() - t0)


def _xy_norm(objective, batch, tol: float, seed: int) -> OracleValue:
    """sigma_max of the x-rows, y-columns block of the joint Hessian operator."""
    from scipy.sparse.linalg import LinearOperator, svds

    params = block_params(objective, "xx") + block_params(objective, "yy")
    d_x, d_y = objective.d_x, objective.d_y
    with only_requires_grad(objective.model, params):
        _, full = _hessian(objective, params, batch)
        counted = _Counted(full)
        zeros_x, zeros_y = np.zeros(d_x, dtype=full.dtype), np.zeros(d_y, dtype=full.dtype)
        block = LinearOperator(
            (d_x, d_y),
            matvec=lambda v: counted(np.concatenate([zeros_x, np.asarray(v).reshape(-1)]))[:d_x],
            rmatvec=lambda u: counted(np.concatenate([np.asarray(u).reshape(-1), zeros_y]))[d_x:],
            dtype=full.dtype,
        )
        t0 = time.perf_counter()
        values = svds(block, k=1, tol=tol, v0=_start(min(d_x, d_y), full.dtype, seed), return_singular_vectors=False)
    return OracleValue("xy", float(values[0]), counted.count, time.perf_counter() - t0)
