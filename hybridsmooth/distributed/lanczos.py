"""The top Hessian eigenvalue of a sharded model: Lanczos on vectors each rank holds one shard of.

Every inner product and norm is a local dot product summed over the ranks (``comm.all_dot``; the
re-orthogonalisation sums all j coefficients in one collective), so every rank builds the same
tridiagonal T_m bit for bit and takes the same decisions; only the shards of the basis differ. The
explicit residual ||A v - theta v|| certifies the result as in ``curvature.eigen.lanczos_top_eigs``.

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

from ..curvature.ritz import EigResult, _order
from ..rng import derive_seed
from .comm import all_dot, all_sum_, rank_world
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


def _start(local_dim: int, seed: int, group, dtype) -> Tensor:
    # each shard from its own key: the start vector depends on the mesh, like the ZO noise
    rank, _ = rank_world(group)
    g = torch.Generator().manual_seed(derive_seed(seed, rank))
    v = torch.randn(local_dim, generator=g, dtype=torch.float64).to(dtype)
    return v / all_dot(v, v, group) ** 0.5


def _orthogonalise(w: Tensor, Q: Tensor, group) -> Tensor:
    # classical Gram-Schmidt twice; the j coefficients of one pass are summed over the ranks in one collective
    for _ in range(2):
        w = w - Q.T @ all_sum_(Q @ w, group)
    return w


def _explicit_residual(matvec, Q: Tensor, s: np.ndarray, theta: float, group) -> float:
    v = Q.T @ torch.as_tensor(s, dtype=Q.dtype)
    r = matvec(v) - theta * v
    return all_dot(r, r, group) ** 0.5


def sharded_lanczos(
    matvec: Callable[[Tensor], Tensor],
    local_dim: int,
    *,
    dtype=torch.float64,
    max_iter: int = 60,
    tol: float = 1e-6,
    seed: int = 0,
    which: str = "LM",
    group=None,
) -> EigResult:
    """The top eigenvalue (``which`` as in ``lanczos_top_eigs``) of a symmetric operator whose vectors are
    sharded over the ranks: single-vector Lanczos with full re-orthogonalisation. ``converged`` when the
    explicit residual is <= tol * max|theta| (checked, one extra product, once the recurrence says so)."""
    t0 = time.perf_counter()
    d = int(all_sum_(torch.tensor([local_dim]), group))
    m_max = min(int(max_iter), d)
    Q = torch.zeros(m_max + 1, local_dim, dtype=dtype)
    Q[0] = _start(local_dim, seed, group, dtype)
    alpha, beta = np.zeros(m_max), np.zeros(m_max)
    products, converged, residual, m = 0, False, float("inf"), 0
    for j in range(m_max):
        w = matvec(Q[j])
        alpha[j] = all_dot(Q[j], w, group)
        w = _orthogonalise(w, Q[: j + 1], group)
        beta[j], m, products = all_dot(w, w, group) ** 0.5, j + 1, products + 1
        theta, S = scipy.linalg.eigh_tridiagonal(alpha[:m], beta[: m - 1]) if m > 1 else (alpha[:1], np.ones((1, 1)))
        i = _order(theta, which)[0]
        scale = max(float(np.abs(theta).max()), np.finfo(float).tiny)
        closed = beta[j] <= 1e3 * np.finfo(float).eps * scale
        if closed or m == m_max or beta[j] * abs(S[-1, i]) <= tol * scale:
            residual, products = _explicit_residual(matvec, Q[:m], S[:, i], float(theta[i]), group), products + 1
            converged = residual <= tol * scale
            if converged or closed:
                break
        Q[j + 1] = w / beta[j]
    return EigResult(
        (float(theta[i]),),
        (residual,),
        m,
        products,
        time.perf_counter() - t0,
        converged,
        seed,
        "sharded-lanczos",
        which,
    )
