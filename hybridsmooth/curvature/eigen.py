"""Eigen-solvers as free functions over any symmetric :class:`~hybridsmooth.curvature.operators.Operator`.

The largest-magnitude eigenvalue of a block operator is the block smoothness constant at that point,
L_b(z) = ||grad^2_bb f(z)|| (THEORY 3.1); extreme algebraic eigenvalues of the scaled full Hessian test
the joint condition (THEORY 3.5). Every solver returns an :class:`EigResult` carrying its error bars:
residual norms ||A v - lambda v||, iterations, HVPs spent, wall time, convergence flag and seed.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Literal

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from . import draws, precise, semi_orthogonality
from .block_lanczos import _block_lanczos
from .heap import keeps_heap
from .operators import Operator
from .ritz import (
    WHICH,
    EigResult,
    Which,
    _all_within,
    _check_symmetric,
    _explicit_residuals,
    _ExplicitSchedule,
    _order,
    _ritz_vectors,
    _start_vector,
    _wanted_pairs,
    basis_capacity,
    basis_rows,
    lanczos_step,
    with_room,
)

__all__ = ["EigResult", "REORTH", "WHICH", "Which", "eigsh_top", "lanczos_top_eigs", "power_iteration"]

Reorth = Literal["auto", "full", "partial"]
REORTH: tuple[str, ...] = ("auto", "full", "partial")


@keeps_heap
def lanczos_top_eigs(
    op: Operator,
    k: int = 1,
    *,
    which: Which = "LM",
    max_iter: int = 100,
    tol: float = 1e-6,
    seed: int = 0,
    v0: Tensor | None = None,
    explicit_residuals: bool = True,
    return_vectors: bool = False,
    max_basis: int | None = None,
    reorth: Reorth = "auto",
) -> EigResult:
    """The k wanted eigenvalues of a symmetric operator by Lanczos with full or partial re-orthogonalisation.

    k = 1 runs single-vector Lanczos; k >= 2 runs block Lanczos with a block of b = k + 1 vectors (see
    :func:`_block_lanczos`), because one start vector sees only one direction per eigenspace and misses
    every repeated copy of an eigenvalue. Both build an orthonormal basis Q_n with one product per column
    (``max_iter`` products at most, memory max_iter + 1 vectors of length d) and the projected matrix
    T_n = Q_n^T A Q_n, and satisfy A Q_n = Q_n T_n + R_n E_n^T, so a Ritz pair (theta, Q_n s) has the
    recurrence residual ||R_n s_last||. That identity needs an exactly linear, symmetric A; finite-difference
    products are neither, so once the recurrence residuals of the k wanted pairs are <= tol * max|theta|
    the explicit residuals ||A v - theta v|| are computed (one product each, counted in ``n_hvp``) and
    ``converged`` requires those too; if they fail the iteration continues while the budget lasts.
    ``explicit_residuals=False`` skips them: ``converged`` then rests on the recurrence alone and
    ``residual_kind`` is 'lanczos'.

    An invariant subspace (the Krylov space closes, e.g. A = 2I) is a result: its Ritz values are exact
    eigenvalues. If they do not yet settle the k wanted ones, the iteration restarts from a random block
    orthogonal to the basis (deflation) until they do or the space R^d is exhausted.

    ``max_basis`` (k = 1): the most basis vectors kept at once; a full basis restarts from the wanted Ritz
    vector (``restarts`` counts them). Default: what fits in 40% of the free memory when the solve starts
    (the whole budget on small operators).

    ``reorth`` (k = 1): 'full' passes every new vector through Gram-Schmidt against the whole basis; 'partial'
    does so only when Simon's estimates of the loss of orthogonality exceed sqrt(eps) (``semi_orthogonality``),
    which keeps the Ritz values those of full re-orthogonalisation to about eps ||A|| and spares a pass over the
    basis on most products; 'auto' is 'partial' from ``semi_orthogonality.PARTIAL_REORTH_FROM`` unknowns, where
    a pass costs a noticeable share of a product, and 'full' below and on operators whose products are not
    exact to rounding (finite differences: ``Operator.exact_products``). Block Lanczos (k >= 2) always
    re-orthogonalises fully. The result says which ran and, for 'partial', how many products had a full pass
    (``full_passes``).

    ``which``: 'LM' largest magnitude (the norm), 'LA' largest algebraic, 'SA' smallest algebraic.
    ``v0``: start vector of shape (d,) or, for k >= 2, start block of shape (d, c) (columns completed with
    random vectors from ``seed`` up to the block size). ``iterations`` counts the products that built the
    basis; ``n_hvp`` adds the explicit residual products.

    Example, a diagonal matrix whose top eigenvalue 5 appears twice (k = 2 finds both copies):

    >>> import torch
    >>> from hybridsmooth.curvature.operators import matrix_operator
    >>> A = torch.diag(torch.tensor([5.0, 5.0, 2.0, 1.0, 0.5], dtype=torch.float64))
    >>> res = lanczos_top_eigs(matrix_operator(A), k=2, tol=1e-10)
    >>> [round(v, 10) for v in res.estimates], res.converged
    ([5.0, 5.0], True)
    """
    if which not in WHICH:
        raise ValueError(f"unknown which {which!r}; accepted: {', '.join(WHICH)}")
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter}, {tol}")
    if reorth not in REORTH:
        raise ValueError(f"unknown reorth {reorth!r}; accepted: {', '.join(REORTH)}")
    d = _check_symmetric(op, k)
    if max_iter < k:
        raise ValueError(f"max_iter = {max_iter} products cannot give k = {k} eigenvalues; need max_iter >= k")
    if k == 1:
        partial = reorth == "partial" or (reorth == "auto" and semi_orthogonality.partial_by_default(op))
        return _single_lanczos(
            op, which, min(int(max_iter), d), tol, seed, v0, explicit_residuals, return_vectors, max_basis, partial
        )
    return _block_lanczos(op, k, which, min(int(max_iter), d), tol, seed, v0, explicit_residuals, return_vectors)


def _random_unit_orthogonal(Q: Tensor, gen: torch.Generator) -> Tensor:
    """A random unit vector orthogonal to the rows of Q (fewer than d rows)."""
    v = draws.normal(Q.shape[1], gen, Q.dtype, Q.device)
    for _ in range(2):
        v = v - Q.T @ precise.project(Q, v)
    return v / precise.norm(v)


def _single_lanczos(
    op: Operator,
    which: str,
    m_max: int,
    tol: float,
    seed: int,
    v0: Tensor | None,
    explicit: bool,
    return_vectors: bool,
    max_basis: int | None = None,
    partial: bool = False,
) -> EigResult:
    """Single-vector Lanczos: T_m = tridiag(beta, alpha, beta), recurrence residual beta_m |s_m|.

    When the basis reaches its capacity (``ritz.basis_capacity``: ``max_basis`` rows, or what fits in the
    free memory) before the budget of ``m_max`` products is spent, the solve restarts from its wanted Ritz
    vector (an explicit restart, counted in ``restarts``): the Ritz value can only grow in magnitude from
    there, and memory stays at the capacity instead of the budget."""
    d = op.shape[0]
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    cap = basis_capacity(d, m_max + 1, dtype=op.dtype, device=op.device, max_basis=max_basis)
    Q = basis_rows(d, min(cap, 32), dtype=op.dtype, device=op.device)
    Q[0] = _start_vector(op, seed, v0)
    alpha, beta = np.zeros(cap), np.zeros(cap)
    converged, m, used, restarts, history = False, 0, 0, 0, []
    schedule, restart_gen = _ExplicitSchedule(1, explicit), None
    orth = semi_orthogonality.for_operator(op) if partial else None
    full_passes = 0
    j = 0
    while True:
        alpha[j], w, beta[j] = lanczos_step(op, Q, j, orth)
        m, used = j + 1, used + 1
        if m == 1:
            theta, S = np.array([alpha[0]]), np.ones((1, 1))
        else:
            theta, S = scipy.linalg.eigh_tridiagonal(alpha[:m], beta[: m - 1])
        idx = _order(theta, which)[:1]
        scale = max(float(np.abs(theta).max()), np.finfo(float).tiny)
        history.append(float(theta[idx[0]]))
        closed = beta[j] <= 1e3 * np.finfo(float).eps * scale  # invariant subspace: these Ritz pairs are exact
        last, full = used == m_max, m == cap
        if closed or _all_within(beta[j] * np.abs(S[-1, idx]), tol, scale):
            converged = schedule.check(op, Q, S, idx, theta, m, last or closed or full, tol, scale)
            if converged:
                break
        if last:
            break
        if full:
            Q[0] = _ritz_vectors(Q[:m], S[:, idx[0]], dtype=Q.dtype, device=Q.device)
            schedule, restarts, j = _ExplicitSchedule(1, explicit), restarts + 1, 0
            if orth is not None:
                full_passes, orth = full_passes + orth.full_passes, semi_orthogonality.for_operator(op)
            continue
        Q = with_room(Q, j + 2, cap)
        if closed:
            # a closed space whose Ritz pair fails the explicit test: carry on in a fresh direction
            if restart_gen is None:
                restart_gen = draws.generator(int(seed) + 1, Q.device)
            beta[j] = 0.0
            Q[j + 1] = _random_unit_orthogonal(Q[:m], restart_gen)
            if orth is not None:
                orth.fresh_direction()
        else:
            torch.div(w, beta[j], out=Q[j + 1])  # into the basis row: no temporary of length d
        j += 1
    recurrence = beta[m - 1] * np.abs(S[-1, idx])
    values, vectors, residuals = _wanted_pairs(op, Q, m, theta, S, idx, explicit, schedule.checked, recurrence)
    return EigResult(
        tuple(float(v) for v in values),
        residuals,
        used,
        op.counter.hvps - start_hvp,
        time.perf_counter() - t0,
        converged,
        None if v0 is not None else seed,
        "lanczos",
        which,
        "explicit" if explicit else "lanczos",
        vectors if return_vectors else None,
        tuple(history),
        restarts=restarts,
        reorth="partial" if orth is not None else "full",
        full_passes=full_passes + orth.full_passes if orth is not None else None,
    )


@keeps_heap
def power_iteration(
    op: Operator,
    *,
    max_iter: int = 1000,
    tol: float = 1e-6,
    seed: int = 0,
    v0: Tensor | None = None,
    criterion: Literal["residual", "eigenvalue_change"] = "residual",
    return_vectors: bool = False,
) -> EigResult:
    """Power iteration for the largest-magnitude eigenvalue (Rayleigh quotient of A^j v0).

    Each iteration costs one product and gives, for the current unit v, lambda = v^T A v and the residual
    ||A v - lambda v||. ``criterion='residual'`` stops when the residual is <= tol |lambda| (a certificate);
    ``'eigenvalue_change'`` stops when lambda moved by <= tol |lambda| (PyHessian's rule; cheaper, no
    certificate). Converges like (|lambda_2|/|lambda_1|)^j, and not at all when lambda_1 = -lambda_2.
    """
    if criterion not in ("residual", "eigenvalue_change"):
        raise ValueError(f"unknown criterion {criterion!r}; accepted: residual, eigenvalue_change")
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter}, {tol}")
    _check_symmetric(op, 1)
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    v = _start_vector(op, seed, v0)
    lam, res, prev, converged, it, history = 0.0, float("inf"), None, False, 0, []
    for it in range(1, int(max_iter) + 1):  # noqa: B007  (it is the count returned after the loop)
        w = op.matvec(v)
        lam = precise.dot(v, w)
        res = precise.norm(w - lam * v)
        history.append(lam)
        if criterion == "residual":
            done = res <= tol * abs(lam)
        else:
            done = prev is not None and abs(lam - prev) <= tol * abs(lam)
        prev = lam
        wn = precise.norm(w)
        if done or not wn > 0:
            converged = bool(done) or res == 0.0
            break
        v = w / wn
    return EigResult(
        (lam,),
        (res,),
        it,
        op.counter.hvps - start_hvp,
        time.perf_counter() - t0,
        converged,
        None if v0 is not None else seed,
        "power",
        "LM",
        "explicit",
        v.unsqueeze(1) if return_vectors else None,
        tuple(history),
    )


def eigsh_top(
    op: Operator,
    k: int = 1,
    *,
    which: Which = "LM",
    tol: float = 1e-10,
    seed: int = 0,
    max_iter: int | None = None,
    return_vectors: bool = False,
) -> EigResult:
    """scipy.sparse.linalg.eigsh (implicitly restarted Lanczos, ARPACK) through ``op.to_scipy()``.

    In float64 numpy; for small problems and as an oracle. ``iterations`` counts products.
    """
    from scipy.sparse.linalg import ArpackError, ArpackNoConvergence, eigsh

    d = _check_symmetric(op, k)
    if which not in WHICH:
        raise ValueError(f"unknown which {which!r}; accepted: {', '.join(WHICH)}")
    if k >= d:
        raise ValueError(f"eigsh needs k < d = {d}; use a dense eigensolver for k = d")
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    v0 = _start_vector(op, seed, None).detach().cpu().to(torch.float64).numpy()
    converged = True
    try:
        vals, vecs = eigsh(op.to_scipy(), k=k, which=which, tol=tol, v0=v0, maxiter=max_iter)
    except ArpackNoConvergence as err:
        vals, vecs, converged = err.eigenvalues, err.eigenvectors, False
        if len(vals) == 0:
            raise ValueError(f"eigsh found no eigenvalue of {op.name} within {max_iter} iterations") from None
    except ArpackError:
        # ARPACK gives up when the Krylov space closes at once (a zero block maps every start vector to 0);
        # our Lanczos treats a closed space as exact, so it answers, and says it did
        res = lanczos_top_eigs(
            op,
            k,
            which=which,
            tol=max(tol, 1e-14),
            seed=seed,
            return_vectors=return_vectors,
            max_iter=d if max_iter is None else max_iter,
        )
        return replace(
            res, method="eigsh->lanczos", seconds=time.perf_counter() - t0, n_hvp=op.counter.hvps - start_hvp
        )
    order = _order(vals, which)
    vals, vecs = vals[order], vecs[:, order]
    products = (op.counter.hvps - start_hvp) // max(op.hvps_per_matvec, 1) if op.hvps_per_matvec else 0
    vectors = torch.as_tensor(vecs, dtype=op.dtype, device=op.device)
    residuals = _explicit_residuals(op, vals, vectors)
    return EigResult(
        tuple(float(v) for v in vals),
        residuals,
        int(products),
        op.counter.hvps - start_hvp,
        time.perf_counter() - t0,
        converged,
        seed,
        "eigsh",
        which,
        "explicit",
        vectors if return_vectors else None,
    )
