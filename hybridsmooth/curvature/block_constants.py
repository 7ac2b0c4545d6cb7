"""Block smoothness constants at one point (THEORY 3.1): the one routine behind ``hybridsmooth estimate``, the
curvature figures and the real-model checks.

At a point z and for f_idx (or the full f), each requested block is one eigen-problem on Hessian-vector
products: xx -> L_x = ||H_xx||, yy -> L_y = ||H_yy||, xy -> L_xy = sigma_max(H_xy). Two conventions hold for
every caller:

* residual: the worst residual of the returned eigen-pairs, in the units of the estimate (eigenvalue units
  for xx and yy, singular-value units for xy; power iteration on H_yx H_xy is converted by
  |s^2 - sigma^2| <= r  =>  |s - sigma| <= r / s). By default it is the explicit ||A v - theta v|| (one more
  product per pair, the only certificate for finite-difference products); ``residuals="lanczos"`` keeps
  the free recurrence value, exact for exactly linear symmetric products.
* noise key: the start vector of block b comes from ``seed + BLOCK_SEED_OFFSET[b]`` (xx 0, yy 1, xy 2), so
  the blocks of one point never share a start vector; a mapping {block: seed} sets each seed instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import pandas as pd
import torch
from torch import Tensor

from ..objectives.base import Objective
from ..objectives.registry import as_objective
from .defects import OperatorDefects, operator_defects
from .eigen import EigResult, Reorth, eigsh_top, lanczos_top_eigs, power_iteration
from .hvp import Backend, HessianAtPoint
from .joint import cross_norm
from .operators import dilation, gram

BLOCKS: tuple[str, ...] = ("xx", "yy", "xy")
BLOCK_QUANTITY = {"xx": "L_x", "yy": "L_y", "xy": "L_xy"}
BLOCK_SEED_OFFSET = {"xx": 0, "yy": 1, "xy": 2}
SOLVERS: tuple[str, ...] = ("lanczos", "power", "eigsh")
ResidualKind = Literal["explicit", "lanczos"]


def default_tol(dtype: torch.dtype, backend: str) -> float:
    """Relative residual tolerance of the eigen-solves when none is given.

    Exact products (the autograd back-ends): 1e-10 in float64, 1e-5 otherwise. Finite-difference products
    carry their own relative error, ~1e-10 in float64 and up to ~3e-4 in float32 along the top
    eigenvectors (see fd_relative_step), which no residual can go below: 1e-7 and 2e-3 (1e-1 in 16 bits).
    """
    if backend != "finite_difference":
        return 1e-10 if dtype == torch.float64 else 1e-5
    return {torch.float64: 1e-7, torch.float32: 2e-3}.get(dtype, 1e-1)


@dataclass(frozen=True)
class BlockEstimate:
    """One block at one point: the estimate (the block norm), the k values found (``top_k``: signed
    eigenvalues for xx and yy, singular values for xy), the residual and verdict of the solver, its products
    and seconds, the start-vector seed, and the value at the point where the problem knows it in closed
    form (``exact``). ``defects``: the measured asymmetry and nonlinearity of the products, when asked."""

    block: str
    estimate: float
    top_k: tuple[float, ...]
    residual: float
    converged: bool
    iterations: int
    hvps: int
    seconds: float
    seed: int
    exact: float | None
    defects: OperatorDefects | None = None
    solver: EigResult | None = field(default=None, repr=False, compare=False)

    @property
    def quantity(self) -> str:
        return BLOCK_QUANTITY[self.block]


@dataclass(frozen=True)
class BlockConstants:
    """The requested blocks at one point, in the order asked for; ``result["xy"]`` picks one."""

    estimates: tuple[BlockEstimate, ...]
    idx: int | None
    solver: str
    backend: str

    @property
    def blocks(self) -> tuple[str, ...]:
        return tuple(e.block for e in self.estimates)

    @property
    def hvps(self) -> int:
        return sum(e.hvps for e in self.estimates)

    def __getitem__(self, block: str) -> BlockEstimate:
        for e in self.estimates:
            if e.block == block:
                return e
        raise KeyError(f"block {block!r} was not estimated; blocks: {', '.join(self.blocks)}")

    def to_frame(self) -> pd.DataFrame:
        """One row per block: block, quantity, estimate, exact, residual, converged, iterations, hvps,
        seconds, seed, top_k (and asymmetry, nonlinearity when the defects were measured)."""
        rows = []
        for e in self.estimates:
            row = dict(
                block=e.block,
                quantity=e.quantity,
                estimate=e.estimate,
                exact=e.exact,
                residual=e.residual,
                converged=e.converged,
                iterations=e.iterations,
                hvps=e.hvps,
                seconds=e.seconds,
                seed=e.seed,
                top_k=list(e.top_k),
            )
            if e.defects is not None:
                row.update(asymmetry=e.defects.asymmetry, nonlinearity=e.defects.nonlinearity)
            rows.append(row)
        return pd.DataFrame(rows)


def block_constants(
    objective: Objective | str,
    x: Tensor | None = None,
    y: Tensor | None = None,
    *,
    blocks: Sequence[str] = BLOCKS,
    idx: int | None = None,
    solver: str = "lanczos",
    max_iter: int = 300,
    tol: float | None = None,
    backend: Backend = "reverse_over_reverse",
    seed: int | Mapping[str, int] = 0,
    k: int = 1,
    residuals: ResidualKind | Mapping[str, ResidualKind] = "explicit",
    defects: bool = False,
    check: bool = True,
    reuse_graph: bool = True,
    on_product: Callable[[], None] | None = None,
    on_block_start: Callable[[str], None] | None = None,
    on_block_done: Callable[[str], None] | None = None,
    reorth: Reorth = "auto",
) -> BlockConstants:
    """Block norms of the Hessian of f_idx (``idx=None``: the full f) at (x, y), one eigen-solve per block.

    Args:
        objective: the problem, or its spec string; ``objective.constant_hessian()`` supplies the exact
            values when not None.
        x, y: the point, flat (no batch dimension); both None for the objective's starting point.
        blocks: among "xx", "yy", "xy", solved in this order on one Hessian engine.
        idx: the sample of f_idx, or None for the full f.
        solver: "lanczos" (k = 1: single vector; xy on the dilation, largest magnitude), "power" (k = 1;
            xy on H_yx H_xy) or "eigsh" (ARPACK, ignores ``max_iter``).
        max_iter: products per solve (clipped to the operator size by Lanczos).
        tol: relative residual tolerance; None: :func:`default_tol` for the objective's dtype and backend.
        backend: how products are taken (see ``hybridsmooth.curvature.hvp.BACKENDS``).
        seed: start-vector seed; an int follows the module's noise key, a mapping gives each block's seed.
        k: eigenvalues (singular values for xy) per block.
        residuals: "explicit" or "lanczos" (module docstring), or a mapping from block to one of them.
        defects: also measure the products' asymmetry and nonlinearity per block (four products each, not
            counted in ``hvps``).
        check, reuse_graph, on_product: passed to :class:`HessianAtPoint`.
        on_block_start, on_block_done: called with the block name around each solve (progress bars).
        reorth: Lanczos' re-orthogonalisation (``lanczos_top_eigs``): "auto" (partial on blocks of 2^20
            weights or more), "full" or "partial".

    Returns:
        :class:`BlockConstants`, one :class:`BlockEstimate` per block. Unconverged Ritz values are lower
        bounds on the block norms (a Ritz value of a symmetric operator lies inside its spectrum).

    Example, on a block quadratic whose L_x is 4 by construction:

    >>> from hybridsmooth.problems import make_problem
    >>> obj = make_problem("quadratic:dx=5,dy=3,Lx=4,Ly=2,n=2,seed=0")
    >>> result = block_constants(obj, *obj.initial_point())
    >>> xx = result["xx"]
    >>> abs(xx.estimate - 4.0) < 1e-6, abs(xx.exact - 4.0) < 1e-12, xx.converged
    (True, True, True)
    >>> list(result.to_frame().quantity)
    ['L_x', 'L_y', 'L_xy']

    A spec string and the starting point do as well (``hs.block_constants`` is this function):

    >>> c = block_constants("quadratic:dx=6,dy=3,Lx=4,Ly=2,n=2,seed=0", blocks=("xx", "yy"))
    >>> [round(v, 6) for v in c.to_frame().estimate]
    [4.0, 2.0]
    """
    objective = as_objective(objective)
    if (x is None) != (y is None):
        raise ValueError("give both x and y, or neither (for the starting point)")
    if x is None:
        x, y = objective.initial_point()
    blocks = _checked_blocks(blocks, solver, k)
    tol = default_tol(objective.dtype, backend) if tol is None else tol
    exact = _exact_block_norms(objective, blocks)
    engine = HessianAtPoint(
        objective, x, y, idx=idx, backend=backend, reuse_graph=reuse_graph, check=check, on_product=on_product
    )
    out = []
    try:
        for b in blocks:
            if on_block_start is not None:
                on_block_start(b)
            block_seed = seed[b] if isinstance(seed, Mapping) else seed + BLOCK_SEED_OFFSET[b]
            kind = residuals[b] if isinstance(residuals, Mapping) else residuals
            how = _Solve(solver, k, tol, max_iter, block_seed, kind == "explicit", reorth)
            value, top_k, residual, res = _solve(engine, b, how)
            measured = operator_defects(engine, b, block_seed, norm=value) if defects else None
            out.append(
                BlockEstimate(
                    b,
                    value,
                    top_k,
                    residual,
                    res.converged,
                    res.iterations,
                    res.n_hvp,
                    res.seconds,
                    block_seed,
                    exact[b],
                    measured,
                    res,
                )
            )
            if on_block_done is not None:
                on_block_done(b)
    finally:
        engine.release()
    return BlockConstants(tuple(out), idx, solver, backend)


def _checked_blocks(blocks: Sequence[str], solver: str, k: int) -> tuple[str, ...]:
    blocks = tuple(blocks)
    if not blocks or any(b not in BLOCKS for b in blocks) or len(set(blocks)) != len(blocks):
        raise ValueError(f"blocks must be distinct names among {', '.join(BLOCKS)}, got {blocks!r}")
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; accepted: {', '.join(SOLVERS)}")
    if k < 1 or (solver == "power" and k != 1):
        raise ValueError(f"k must be >= 1 (exactly 1 for power iteration), got {k}")
    return blocks


def _exact_block_norms(objective: Objective, blocks: tuple[str, ...]) -> dict[str, float | None]:
    """Spectral norms of the blocks of the problem's constant Hessian; None for every block without one."""
    H = objective.constant_hessian()
    if H is None:
        return {b: None for b in blocks}
    dx = objective.d_x
    subs = {"xx": H[:dx, :dx], "yy": H[dx:, dx:], "xy": H[:dx, dx:]}
    return {b: float(torch.linalg.matrix_norm(subs[b], 2)) if subs[b].numel() else 0.0 for b in blocks}


class _Solve(NamedTuple):
    """How one block is solved: the solver and its settings (``block_constants``' arguments)."""

    solver: str
    k: int
    tol: float
    max_iter: int
    seed: int
    explicit: bool
    reorth: Reorth = "auto"


def _solve(engine: HessianAtPoint, block: str, how: _Solve) -> tuple[float, tuple[float, ...], float, EigResult]:
    """(estimate, the k values, residual in the estimate's units, solver result) for one block."""
    if block == "xy":
        return _solve_cross(engine, how)
    op = engine.operator(block)
    if how.solver == "lanczos":
        res = lanczos_top_eigs(
            op,
            how.k,
            which="LM",
            tol=how.tol,
            max_iter=how.max_iter,
            seed=how.seed,
            explicit_residuals=how.explicit,
            reorth=how.reorth,
        )
    elif how.solver == "power":
        res = power_iteration(op, tol=how.tol, max_iter=how.max_iter, seed=how.seed)
    else:
        res = eigsh_top(op, how.k, which="LM", tol=how.tol, seed=how.seed)
    return abs(res.top), tuple(res.estimates), max(res.residuals), res


def _solve_cross(engine: HessianAtPoint, how: _Solve) -> tuple[float, tuple[float, ...], float, EigResult]:
    solver, k, tol, max_iter, seed = how.solver, how.k, how.tol, how.max_iter, how.seed
    if solver == "lanczos" and k == 1:
        cn = cross_norm(
            engine, tol=tol, max_iter=max_iter, seed=seed, explicit_residuals=how.explicit, reorth=how.reorth
        )
        return cn.estimate, (cn.estimate,), max(cn.solver.residuals), cn.solver
    if solver == "power":
        res = power_iteration(gram(engine.operator("xy"), engine.operator("yx")), tol=tol, max_iter=max_iter, seed=seed)
        s = math.sqrt(max(res.top, 0.0))
        return s, (s,), res.residuals[0] / max(s, 1e-300), res
    # k >= 2: the k largest of +-sigma_i are the k largest singular values
    op = dilation(engine.operator("xy"), engine.operator("yx"))
    res = (
        lanczos_top_eigs(op, k, which="LA", tol=tol, max_iter=max_iter, seed=seed, explicit_residuals=how.explicit)
        if solver == "lanczos"
        else eigsh_top(op, k, which="LA", tol=tol, seed=seed)
    )
    values = tuple(max(v, 0.0) for v in res.estimates)
    return values[0], values, max(res.residuals), res
