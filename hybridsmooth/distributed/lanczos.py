"""The top Hessian eigenvalue of a sharded model: Lanczos on vectors each rank holds one shard of.

The step is the single-process one (``curvature.ritz.lanczos_update``) with reductions whose local parts
(float64-accumulated across chunks, as in ``curvature.precise``) are summed over the ranks; a pass over the
basis sums all j coefficients in one collective. So every rank builds the same tridiagonal T_m bit for bit
and takes the same decisions (a pass, a restart, a stop); only the shards of the basis differ. The explicit
residual ||A v - theta v|| of the unit Ritz vector certifies the result as in
``curvature.eigen.lanczos_top_eigs``.

At a model's scale the basis is what runs out: 60 float64 rows of a 1.3B-weight model's 8-way shard take
79 GB on each rank. The basis is therefore kept in the working dtype (float32 vectors lose nothing: their
reductions accumulate in float64), grows as the solve goes on, and is capped at what fits in the smallest
rank's free memory (or ``max_basis``), with an explicit restart from the Ritz vector when it is full; and
with ``reorth='partial'`` a product gets a pass over the basis only when Simon's estimates of the loss of
orthogonality ask for it (``curvature.semi_orthogonality``), which spares both the basis reads and the
collective.

The products come from ``fd_hvp``: central differences of the FSDP2-sharded gradient,
H v ~ (g(x + h v) - g(x - h v)) / (2h), with x restored from saved shards (exact, as in
``directions.measure_exact``). The difference is not exactly linear, which is why the explicit residual
(not the recurrence) decides convergence; its error is O(h^2 |f'''|) plus rounding eps |g| / h.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import scipy.linalg
import torch
from torch import Tensor, nn

from ..curvature import precise
from ..curvature.ritz import (
    EigResult,
    _ExplicitSchedule,
    _order,
    _ritz_vectors,
    basis_capacity,
    basis_rows,
    lanczos_update,
    with_room,
)
from ..curvature.semi_orthogonality import SemiOrthogonality
from ..rng import derive_seed
from .comm import all_min, all_sum_, rank_world
from .sharded import local_shards, resharded


def sharded_gradient(
    modules: Sequence[nn.Module],
    params: Sequence[Tensor],
    local_loss: Callable[[], Tensor],
    local_size: int,
    group=None,
) -> Tensor:
    """This rank's shard of grad_x of the mean loss over all ranks' examples, flat. FSDP2 reduce-scatters
    the MEAN of the ranks' gradients, so each local loss is weighted by world * b_r / B first."""
    _, world = rank_world(group)
    total = float(all_sum_(torch.tensor([float(local_size)], dtype=torch.float64), group))
    value = resharded(modules, local_loss)() * (world * local_size / total)
    value.backward()
    flat = torch.cat([p.grad.to_local().reshape(-1) for p in params])
    for p in params:
        p.grad = None
    return flat


def fd_hvp(gradient: Callable[[], Tensor], params: Sequence[Tensor], *, h: float = 1e-4) -> Callable[[Tensor], Tensor]:
    """v (this rank's flat shard) -> this rank's shard of H v by central differences of ``gradient`` (a
    flat local gradient shard at the current x); x moves along v on every rank at once and is copied back."""
    shards = local_shards(params)

    def matvec(v: Tensor) -> Tensor:
        saved = [s.detach().clone() for s in shards]
        grads = []
        for scale in (h, -h):
            with torch.no_grad():
                for s, d in zip(shards, v.split([s.numel() for s in shards])):
                    s.add_(d.view_as(s), alpha=scale)
            try:
                grads.append(gradient())
            finally:
                with torch.no_grad():
                    for s, c in zip(shards, saved):
                        s.copy_(c)
        return (grads[0] - grads[1]) / (2 * h)

    return matvec


class ShardedReductions:
    """``precise``'s reductions on vectors each rank holds one shard of: each rank reduces its shard with
    float64 accumulation and one collective sums the parts. A world of one reduces like ``precise``."""

    def __init__(self, group=None):
        self.group = group

    def _sum(self, part: Tensor) -> Tensor:
        return all_sum_(part.reshape(-1).to(torch.float64), self.group)

    def dot(self, a: Tensor, b: Tensor) -> float:
        return float(self._sum(precise.project64(a.reshape(1, -1), b.reshape(-1))))

    def norm(self, v: Tensor) -> float:
        local = torch.tensor([precise.norm(v) ** 2], dtype=torch.float64, device=v.device)
        return float(self._sum(local)) ** 0.5

    def project(self, basis: Tensor, w: Tensor) -> Tensor:
        return self._sum(precise.project64(basis, w)).to(w.dtype)


def _start(local_dim: int, seed: int, inner: ShardedReductions, dtype, device) -> Tensor:
    # each shard from its own key: the start vector depends on the mesh, like the ZO noise
    rank, _ = rank_world(inner.group)
    g = torch.Generator().manual_seed(derive_seed(seed, rank))
    v = torch.randn(local_dim, generator=g, dtype=torch.float64).to(dtype=dtype, device=device)
    return v.div_(inner.norm(v))


def _explicit_residual(matvec, v: Tensor, theta: float, inner: ShardedReductions) -> float:
    r = matvec(v).to(v.dtype).sub_(v, alpha=theta)
    return inner.norm(r)


def sharded_lanczos(
    matvec: Callable[[Tensor], Tensor],
    local_dim: int,
    *,
    dtype=torch.float64,
    device=None,
    max_iter: int = 60,
    tol: float = 1e-6,
    seed: int = 0,
    which: str = "LM",
    reorth: str = "full",
    max_basis: int | None = None,
    group=None,
) -> EigResult:
    """The top eigenvalue (``which`` as in ``lanczos_top_eigs``) of a symmetric operator whose vectors are
    sharded over the ranks, by single-vector Lanczos. ``converged`` when the explicit residual of the unit
    Ritz vector is <= tol * max|theta| (checked, one extra product, once the recurrence says so; after a
    failed check, as finite differences may give, the next waits until the basis has grown by a quarter).

    ``dtype``, ``device``: the basis vectors' (default float64 on the CPU; pass the shards' dtype and device
    on a model of any size: float32 reductions accumulate in float64 anyway). ``reorth``: 'full' (a pass over
    the basis for every product) or 'partial' (only when the estimated loss of orthogonality passes
    sqrt(eps)); partial assumes products exact to rounding, so keep 'full' for ``fd_hvp``'s finite
    differences, whose error the estimates do not model. ``max_basis``: the most rows kept (default: what fits
    in 40% of the smallest rank's free memory); a full basis restarts from the wanted Ritz vector (counted in
    ``restarts``). ``max_iter`` counts every product that builds a basis, across restarts."""
    if reorth not in ("full", "partial"):
        raise ValueError(f"unknown reorth {reorth!r}; accepted: full, partial")
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter}, {tol}")
    t0 = time.perf_counter()
    device = torch.device("cpu" if device is None else device)
    inner = ShardedReductions(group)
    d = int(all_sum_(torch.tensor([local_dim], device=device), group))
    m_max = min(int(max_iter), d)
    # every rank must keep the same number of rows: the smallest rank's room decides
    cap = all_min(basis_capacity(local_dim, m_max + 1, dtype=dtype, device=device, max_basis=max_basis), group, device)
    Q = basis_rows(local_dim, min(cap, 32), dtype=dtype, device=device)
    Q[0] = _start(local_dim, seed, inner, dtype, device)
    alpha, beta = np.zeros(cap), np.zeros(cap)
    fresh = lambda: SemiOrthogonality(torch.finfo(dtype).eps) if reorth == "partial" else None  # noqa: E731
    orth, full_passes = fresh(), 0
    products, used, restarts, converged, residual, j = 0, 0, 0, False, float("inf"), 0
    schedule = _ExplicitSchedule(1, True)
    while True:
        alpha[j], w, beta[j] = lanczos_update(Q, j, matvec(Q[j]).to(dtype=dtype, device=device), orth, inner)
        m, used, products = j + 1, used + 1, products + 1
        theta, S = scipy.linalg.eigh_tridiagonal(alpha[:m], beta[: m - 1]) if m > 1 else (alpha[:1], np.ones((1, 1)))
        i = _order(theta, which)[0]
        scale = max(float(np.abs(theta).max()), np.finfo(float).tiny)
        closed = beta[j] <= 1e3 * np.finfo(float).eps * scale
        last, full = used == m_max, m == cap
        final = closed or last or full
        # the recurrence only triggers the explicit test, which waits for the basis to grow after a failure
        if (final or beta[j] * abs(S[-1, i]) <= tol * scale) and schedule.due(m, final):
            v = _ritz_vectors(Q[:m], S[:, i], dtype=dtype, device=device, inner=inner)
            residual, products = _explicit_residual(matvec, v, float(theta[i]), inner), products + 1
            converged = residual <= tol * scale
            if converged or closed or last:
                break
            schedule.fail(m)
            if full:  # restart from the wanted Ritz vector: its Rayleigh quotient can only move towards the end
                Q[0] = v
                if orth is not None:
                    full_passes, orth = full_passes + orth.full_passes, fresh()
                restarts, j, schedule = restarts + 1, 0, _ExplicitSchedule(1, True)
                continue
        Q = with_room(Q, j + 2, cap)
        torch.div(w, beta[j], out=Q[j + 1])
        j += 1
    return EigResult(
        (float(theta[i]),),
        (residual,),
        used,
        products,
        time.perf_counter() - t0,
        converged,
        seed,
        "sharded-lanczos",
        which,
        restarts=restarts,
        reorth=reorth,
        full_passes=full_passes + orth.full_passes if orth is not None else None,
    )


def sharded_block_norm(
    modules: Sequence[nn.Module],
    params: Sequence[Tensor],
    local_loss: Callable[[], Tensor],
    local_size: int,
    *,
    h: float = 1e-4,
    **lanczos_kw,
) -> EigResult:
    """||H|| of the mean loss over all ranks' examples with respect to the sharded ``params`` (L_x of the base
    weights): ``sharded_lanczos`` on ``fd_hvp`` products of ``sharded_gradient`` with this rank's
    ``local_loss`` over its ``local_size`` examples. ``lanczos_kw`` go to ``sharded_lanczos``."""
    local_dim = sum(p.to_local().numel() for p in params)
    gradient = lambda: sharded_gradient(modules, params, local_loss, local_size)  # noqa: E731
    return sharded_lanczos(fd_hvp(gradient, params, h=h), local_dim, **lanczos_kw)
