"""Block Lanczos for the k >= 2 wanted eigenvalues of a symmetric operator (see ``eigen.lanczos_top_eigs``).

One start vector sees one direction per eigenspace and misses every repeated copy of an eigenvalue; a
block of b = k + 1 vectors sees up to b copies. Full re-orthogonalisation (two passes of block
Gram-Schmidt), rank-revealing deflation of dependent columns, and restarts orthogonal to the basis when
the Krylov space closes before the wanted pairs pass the explicit residual test. Each step multiplies its
whole block with one ``Operator.matmat`` (a batched HVP on a Hessian operator), as do the explicit residuals.
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from . import draws
from .operators import Operator
from .ritz import EigResult, _all_within, _apply_rows, _ExplicitSchedule, _order, _wanted_pairs, basis_rows, with_room


def _project_out(W: Tensor, Q: Tensor) -> Tensor:
    """W (I - Q^T Q) by two passes of block classical Gram-Schmidt; Q has orthonormal rows.

    One pass leaves components of size eps ||W|| / ||W (I - Q^T Q)|| along Q; the second brings them to
    eps ("twice is enough") unless W lies almost inside span(Q), which rank-revealing handles after.
    """
    if Q.shape[0] == 0:
        return W
    for _ in range(2):
        W = W - (W @ Q.T) @ Q
    return W


def _rank_split(W: Tensor, Q: Tensor, drop: float) -> tuple[Tensor, np.ndarray]:
    """Orthonormal rows P and coefficients B with W^T ~ P^T B, keeping only directions above ``drop``.

    With the thin SVD W^T = U Sigma V^T, columns of U whose singular value is <= drop are dependent on the
    basis up to rounding: they are dropped rather than divided by ~0 (deflation inside the block). The kept
    columns are projected off Q once more, because dividing by a small sigma magnifies what the
    Gram-Schmidt passes left along Q by 1/sigma, and re-orthonormalised (U' = P^T R); then B = R Sigma V^T.
    """
    U, sig, Vh = torch.linalg.svd(W.T, full_matrices=False)
    r = int((sig > drop).sum())
    if r == 0:
        return W.new_zeros(0, W.shape[1]), np.zeros((0, W.shape[0]))
    Pt, R = torch.linalg.qr(_project_out(U[:, :r].T, Q).T)
    B = R @ (sig[:r, None] * Vh[:r])
    return Pt.T, B.detach().cpu().to(torch.float64).numpy()


def _random_rows(count: int, d: int, gen: torch.Generator, like: Tensor) -> Tensor:
    return draws.normal((count, d), gen, like.dtype, like.device)


def _fresh_block(Q: Tensor, size: int, gen: torch.Generator, first: Tensor | None = None) -> Tensor:
    """``size`` orthonormal rows orthogonal to the rows of Q: ``first`` (if given) then Gaussian rows.

    Rank-deficient supplied rows are dropped and replaced by random ones, so the block has full size.
    """
    d = Q.shape[1]
    size = min(size, d - Q.shape[0])
    rows = Q.new_zeros(0, d)
    cand = first if first is not None else _random_rows(size, d, gen, Q)
    # a Gaussian row keeps a fraction ~ sqrt((d - n) / d) of its norm off an n-row basis, far above the drop
    # level, so one draw almost always suffices; the bound only stops a basis that fills R^d in low precision
    for _ in range(8):
        if rows.shape[0] >= size:
            break
        basis = torch.cat([Q, rows])
        W = _project_out(cand, basis)
        scale = max(float(torch.linalg.vector_norm(cand, dim=1).max()), np.finfo(float).tiny)
        P, _ = _rank_split(W, basis, 1e3 * torch.finfo(Q.dtype).eps * scale)
        rows = torch.cat([rows, P[: size - rows.shape[0]]])
        cand = _random_rows(size - rows.shape[0], d, gen, Q)
    return rows


def _start_block(op: Operator, size: int, gen: torch.Generator, v0: Tensor | None) -> Tensor:
    empty = torch.zeros(0, op.shape[0], dtype=op.dtype, device=op.device)
    if v0 is None:
        return _fresh_block(empty, size, gen)
    given = v0.to(dtype=op.dtype, device=op.device)
    given = given.reshape(1, -1) if given.dim() == 1 else given.T
    if given.shape[1] != op.shape[0] or not bool((torch.linalg.vector_norm(given, dim=1) > 0).all()):
        raise ValueError(f"v0 must be non-zero of shape ({op.shape[0]},) or ({op.shape[0]}, c)")
    block = _fresh_block(empty, given.shape[0], gen, first=given)
    if block.shape[0] < size:
        block = torch.cat([block, _fresh_block(block, size - block.shape[0], gen)])
    return block


def _ritz(T: np.ndarray, which: str, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Eigenpairs of the projected matrix, the k wanted indices and the scale max|theta|."""
    theta, S = scipy.linalg.eigh(T)
    return theta, S, _order(theta, which)[:k], max(float(np.abs(theta).max()), np.finfo(float).tiny)


def _block_lanczos(
    op: Operator,
    k: int,
    which: str,
    n_max: int,
    tol: float,
    seed: int,
    v0: Tensor | None,
    explicit: bool,
    return_vectors: bool,
) -> EigResult:
    """Block Lanczos with full re-orthogonalisation, rank-revealing deflation and restarts.

    Block j holds the orthonormal rows Q_j (b_j <= b of them). One step forms A Q_j (b_j products), the
    diagonal block T_jj = sym(Q_j A Q_j^T), and the remainder R = A Q_j - (its projection on all blocks so
    far, two Gram-Schmidt passes). The thin SVD of R splits it into the next block and the coefficient
    block B_j (R^T = Q_{j+1}^T B_j), dropping dependent directions, which T records below and (transposed)
    above its diagonal. With T_n block tridiagonal, A Q_n^T = Q_n^T T_n + R^T E_j^T, so the Ritz pair
    (theta, Q_n^T s) has the recurrence residual ||R^T s_j|| = ||Sigma V^T s_j|| (s_j: the rows of s on
    block j), which includes the dropped directions. When the whole remainder drops (an invariant
    subspace) the Ritz values are exact; if the wanted pairs still fail, a random block orthogonal to the
    basis restarts the recurrence (T gets no coupling to it: A maps the closed space into itself).

    A block of size b resolves eigenvalues of multiplicity up to b, and b = k + 1 lets the k-th wanted
    value converge at the rate set by its gap to the (k + 2)-th rather than to a possibly equal (k + 1)-th.
    Memory: the basis (at most ``n_max`` rows of length d) plus two blocks; each step solves the dense
    n x n projected eigenproblem, O(n^3), small next to the products for budgets of a few hundred.
    """
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    b = min(k + 1, n_max)
    gen = draws.generator(seed, op.device)
    Q, n = _initial_basis(op, n_max, b, gen, v0)
    s = 0  # first row of the newest block
    T = np.zeros((n_max, n_max))
    drop_eps, norm_scale = 1e3 * torch.finfo(op.dtype).eps, 0.0
    schedule, converged, history, restarts = _ExplicitSchedule(b, explicit), False, [], 0
    while True:
        R, norm_scale = _block_step(op, Q, T, s, n, norm_scale)
        theta, S, idx, scale = _ritz(T[:n, :n], which, k)
        history.append(float(theta[idx[0]]))
        P, B = _rank_split(R, Q[:n], drop_eps * max(norm_scale, scale))
        rec = _recurrence_residuals(R, S[s:n, idx])
        closed, exhausted = P.shape[0] == 0, n == n_max
        if _all_within(rec, tol, scale) or closed:
            converged = schedule.check(op, Q, S, idx, theta, n, closed or exhausted, tol, scale)
            if converged:
                break
        if exhausted:
            break
        if closed:
            P, restarts = _fresh_block(Q[:n], b, gen), restarts + 1
        P = P[: n_max - n]  # the budget may cut the last block short
        r = P.shape[0]
        if r == 0:  # no direction left outside the basis at working precision
            break
        if not closed:
            T[n : n + r, s:n], T[s:n, n : n + r] = B[:r], B[:r].T
        Q = with_room(Q, n + r, n_max)
        Q[n : n + r] = P
        s, n = n, n + r
    if len(idx) < k:
        raise ValueError(f"{op.name}: only {len(idx)} independent directions were found, fewer than k = {k}")
    values, vectors, residuals = _wanted_pairs(op, Q, n, theta, S, idx, explicit, schedule.checked, rec)
    seeded = v0 is None or v0.dim() == 1 or v0.shape[1] < b  # random rows completed the start block
    return EigResult(
        tuple(float(v) for v in values),
        residuals,
        n,
        op.counter.hvps - start_hvp,
        time.perf_counter() - t0,
        converged,
        seed if seeded else None,
        "lanczos",
        which,
        "explicit" if explicit else "lanczos",
        vectors if return_vectors else None,
        tuple(history),
        block_size=b,
        restarts=restarts,
    )


def _initial_basis(op: Operator, n_max: int, b: int, gen: torch.Generator, v0: Tensor | None) -> tuple[Tensor, int]:
    """A basis (grown by ``with_room`` as the solve goes on, up to ``n_max`` rows) with the start block in
    its first n rows, and n."""
    first = _start_block(op, b, gen, v0)[:n_max]
    Q = basis_rows(op.shape[0], min(n_max, max(8, 4 * first.shape[0])), dtype=op.dtype, device=op.device)
    n = first.shape[0]
    Q[:n] = first
    return Q, n


def _recurrence_residuals(R: Tensor, S_block: np.ndarray) -> np.ndarray:
    """||R^T y|| for the wanted Ritz coefficients y on the last block, from the full (undropped) remainder R."""
    Sj = torch.as_tensor(S_block, dtype=R.dtype, device=R.device)
    return torch.linalg.vector_norm(R.T @ Sj, dim=0).detach().cpu().to(torch.float64).numpy()


def _block_step(op: Operator, Q: Tensor, T: np.ndarray, s: int, n: int, norm_scale: float) -> tuple[Tensor, float]:
    """Products A Q_j for the rows s..n of Q (block j, one ``matmat``), its diagonal block of T (in place), and
    the remainder R with the running scale max ||A q|| for the deflation threshold."""
    AQ = _apply_rows(op, Q[s:n])
    norm_scale = max(norm_scale, float(torch.linalg.vector_norm(AQ, dim=1).max()))
    C = (AQ @ Q[s:n].T).detach().cpu().to(torch.float64).numpy()
    T[s:n, s:n] = (C + C.T) / 2
    return _project_out(AQ, Q[:n]), norm_scale
