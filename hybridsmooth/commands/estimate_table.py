"""The rows of ``hybridsmooth estimate``: block constants at one or more points, the maximum per block."""

from __future__ import annotations

import math

import torch

from .. import validate
from ..curvature import block_constants, draws, supremum_bound
from ..curvature.block_constants import BLOCK_QUANTITY, default_tol
from ..errors import UsageError
from ..objectives.base import Objective
from .estimate_progress import Progress


def estimate_table(
    objective: Objective,
    *,
    blocks: list[str],
    method: str = "lanczos",
    k: int = 1,
    n_points: int = 1,
    spread: float = 0.5,
    idx: int | None = None,
    backend: str = "reverse_over_reverse",
    tol: float | None = None,
    max_iter: int = 300,
    seed: int = 0,
    reuse_graph: bool = True,
    points: list | None = None,
    progress: bool = False,
    reorth: str = "auto",
) -> list[dict]:
    """One row per block (see ``commands.estimate``); the work behind the command, callable from Python.
    ``points``: evaluate at these (x, y) points instead of the initial point and its perturbations.
    ``progress``: draw a bar on stderr. ``reorth``: Lanczos' re-orthogonalisation (``lanczos_top_eigs``)."""
    _check_settings(
        objective, blocks, method=method, k=k, n_points=n_points, spread=spread, idx=idx, max_iter=max_iter, seed=seed
    )
    if tol is None:
        tol = default_tol(objective.dtype, backend)
    points = _points(objective, n_points, spread, seed) if points is None else list(points)
    solved = _solve_points(
        objective,
        points,
        blocks,
        method=method,
        k=k,
        idx=idx,
        backend=backend,
        tol=tol,
        max_iter=max_iter,
        seed=seed,
        reuse_graph=reuse_graph,
        progress=progress,
        reorth=reorth,
    )
    return [dict(_row(objective, b, [point[b] for point in solved], idx), rtol=tol) for b in blocks]


def _check_settings(
    objective: Objective,
    blocks: list[str],
    *,
    method: str,
    k: int,
    n_points: int,
    spread: float,
    idx: int | None,
    max_iter: int,
    seed: int,
) -> None:
    """Refuse settings the solvers cannot honour, with the command's option names, before any work."""
    if k < 1:
        raise UsageError(f"--k must be >= 1, got {k}")
    if method == "power" and k != 1:
        raise UsageError("power iteration finds one eigenvalue; use --k 1 or --method lanczos|eigsh")
    if n_points < 1:
        raise UsageError(f"--points must be >= 1, got {n_points}")
    # the start vectors and the points are seeded by 64-bit integers
    validate.integer("--seed", seed, minimum=0, maximum=2**63 - 1 - n_points, error=UsageError)
    # every point is kept (x, y) until the table is made
    validate.check_allocation(n_points * (objective.d_x + objective.d_y), 8, f"--points {n_points}")
    if max_iter < 1:
        raise UsageError(f"--max-iter must be >= 1, got {max_iter}")
    if not (spread >= 0 and math.isfinite(spread)):
        raise UsageError(f"--spread must be a finite number >= 0, got {spread}")
    if idx is not None and not 0 <= idx < objective.n:
        raise UsageError(f"--idx must lie in [0, {objective.n}), got {idx}")
    sizes = {"xx": objective.d_x, "yy": objective.d_y, "xy": min(objective.d_x, objective.d_y)}
    for b in blocks:
        if sizes[b] == 0:
            raise UsageError(f"block {b} is empty for d_x={objective.d_x}, d_y={objective.d_y}")
        if k > sizes[b]:
            raise UsageError(f"--k {k} exceeds the number of eigenvalues of block {b} ({sizes[b]})")
        if method == "eigsh" and k >= (sizes[b] if b != "xy" else objective.d_x + objective.d_y):
            raise UsageError(f"--method eigsh needs --k below the block size ({sizes[b]}) for block {b}")


def _closed_form_constant(objective: Objective, block: str, idx) -> float | None:
    """The problem's closed-form constant of a block (a sup over all z) for problems without a constant
    Hessian: L_b of f, or L_b_max of f_idx; none for the cross block of one sample."""
    c = objective.constants
    value = {"xx": c.L_x, "yy": c.L_y, "xy": c.L_xy} if idx is None else {"xx": c.L_x_max, "yy": c.L_y_max, "xy": None}
    return None if value[block] is None else float(value[block])


def _points(objective: Objective, n_points: int, spread: float, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    x0, y0 = objective.initial_point()
    if x0.dim() != 1:
        raise UsageError("the problem's initial point must be one point (no batch dimension)")
    pts = [(x0, y0)]
    if n_points > 1:
        z0 = torch.cat([x0, y0])
        scale = spread * max(1.0, float(z0.pow(2).mean().sqrt()))
        # drawn where the point lives (curvature.draws): the same numbers as ever on the CPU, and no
        # CPU-made displacement added to a GPU point
        g = draws.generator(seed, z0.device)
        for _ in range(n_points - 1):
            dz = scale * draws.normal(z0.numel(), g, z0.dtype, z0.device)
            pts.append((x0 + dz[: objective.d_x], y0 + dz[objective.d_x :]))
    return pts


def _row(objective: Objective, block: str, per_point: list, idx) -> dict:
    """The table row of one block from its BlockEstimate at every point: the maximum over the points."""
    values = [e.estimate for e in per_point]
    best = per_point[int(max(range(len(values)), key=values.__getitem__))]
    exact = best.exact if best.exact is not None else _closed_form_constant(objective, block, idx)
    row = dict(
        block=block,
        quantity=BLOCK_QUANTITY[block],
        estimate=best.estimate,
        exact=exact,
        rel_err=None if not exact else abs(best.estimate - exact) / abs(exact),
        upper95=supremum_bound(values, level=0.95).upper if len(values) >= 2 else None,
        residual=max(e.residual for e in per_point),
        # what --rtol is compared with: the residual over |estimate|, worst over the points
        rel_residual=max(_relative(e.residual, e.estimate) for e in per_point),
        hvps=sum(e.hvps for e in per_point),
        seconds=sum(e.seconds for e in per_point),
        # the solver's own verdict on its explicit residual, deliberately not re-derived here
        converged=all(e.converged for e in per_point),
        points=len(values),
        top_k=list(best.top_k),
        per_point=values,
        # how the solves re-orthogonalised: "full", or "partial" with the products that had a full pass
        reorth=_reorth_said(per_point),
    )
    if per_point[0].defects is not None:
        row.update(
            asymmetry=max(e.defects.asymmetry for e in per_point),
            nonlinearity=max(e.defects.nonlinearity for e in per_point),
        )
    return row


def _reorth_said(per_point: list) -> str:
    solvers = [e.solver for e in per_point if e.solver is not None]
    if not solvers or all(s.reorth == "full" for s in solvers):
        return "full"
    passes = sum(s.full_passes or 0 for s in solvers if s.reorth == "partial")
    products = sum(s.iterations for s in solvers if s.reorth == "partial")
    return f"partial ({passes} of {products} products with a full pass)"


def _relative(residual: float, estimate: float) -> float:
    if estimate == 0:
        return 0.0 if residual == 0 else math.inf
    return residual / abs(estimate)


def _solve_points(
    objective: Objective,
    points: list,
    blocks: list[str],
    *,
    method: str,
    k: int,
    idx,
    backend: str,
    tol: float,
    max_iter: int,
    seed: int,
    reuse_graph: bool,
    progress: bool,
    reorth: str = "auto",
) -> list:
    """``block_constants`` at every point, one point at a time so that at most one point's cached graphs are
    alive. Every block of point j starts from seed + j: the command's own noise key, kept so that its
    printed residuals and product counts stay those of earlier releases (``block_constants`` would offset
    the blocks). Finite-difference products get their defects measured."""
    solved = []
    bar = Progress(len(points) * len(blocks), progress)
    try:
        for j, (x, y) in enumerate(points):
            try:
                solved.append(
                    block_constants(
                        objective,
                        x,
                        y,
                        blocks=blocks,
                        idx=idx,
                        solver=method,
                        max_iter=max_iter,
                        tol=tol,
                        backend=backend,
                        seed={b: seed + j for b in blocks},
                        k=k,
                        defects=backend == "finite_difference",
                        reuse_graph=reuse_graph,
                        on_product=bar.product,
                        on_block_start=lambda b, j=j: bar.start(j, b),
                        on_block_done=lambda b: bar.done(),
                        reorth=reorth,
                    )
                )
            except ValueError as err:  # non-deterministic objective, Krylov breakdown before k values, ...
                raise UsageError(f"point {j}: {err}") from None
    finally:
        bar.close()
    return solved
