"""Eigen-solvers as free functions over any symmetric :class:`~hybridsmooth.curvature.operators.Operator`.

The largest-magnitude eigenvalue of a block operator is the block smoothness constant at that point,
L_b(z) = ||grad^2_bb f(z)|| (THEORY 3.1); extreme algebraic eigenvalues of the scaled full Hessian test
the joint condition (THEORY 3.5). Every solver returns an :class:`EigResult` carrying its error bars:
residual norms ||A v - lambda v||, iterations, HVPs spent, wall time, convergence flag and seed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import scipy.linalg
import torch
from torch import Tensor

from .operators import Operator

Which = Literal["LM", "LA", "SA"]
WHICH: tuple[str, ...] = ("LM", "LA", "SA")


@dataclass(frozen=True)
class EigResult:
    """Eigenvalue estimates, best first in the order ``which`` asks for.

    ``residuals[i]`` = ||A v_i - lambda_i v_i|| for the unit Ritz vector v_i (computed explicitly with one
    extra product each when ``residual_kind == 'explicit'``; the Lanczos recurrence value otherwise).
    For a symmetric A some eigenvalue lies within residuals[i] of estimates[i] (Bauer-Fike/Weyl).
    """

    estimates: tuple[float, ...]
    residuals: tuple[float, ...]
    iterations: int
    n_hvp: int
    seconds: float
    converged: bool
    seed: int | None
    method: str
    which: str
    residual_kind: str = "explicit"
    vectors: Tensor | None = field(default=None, repr=False, compare=False)
    history: tuple[float, ...] = field(default=(), repr=False, compare=False)
    block_size: int = 1
    restarts: int = 0

    @property
    def top(self) -> float:
        return self.estimates[0]


def _check_symmetric(op: Operator, k: int) -> int:
    if op.shape[0] != op.shape[1]:
        raise ValueError(f"{op.name}: eigen-solvers need a square operator, got shape {op.shape}")
    if not op.symmetric:
        raise ValueError(f"{op.name} is not symmetric; use dilation() or gram() for a cross block")
    d = op.shape[0]
    if not 1 <= k <= d:
        raise ValueError(f"k must lie in [1, {d}] for a {d}x{d} operator, got {k}")
    return d


def _start_vector(op: Operator, seed: int, v0: Tensor | None) -> Tensor:
    if v0 is not None:
        v = v0.to(dtype=op.dtype, device=op.device).clone()
    else:
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        v = torch.randn(op.shape[0], generator=g, dtype=torch.float64).to(dtype=op.dtype, device=op.device)
    nrm = torch.linalg.vector_norm(v)
    if not nrm > 0:
        raise ValueError("the start vector must be non-zero")
    return v / nrm


def _order(theta: np.ndarray, which: str) -> np.ndarray:
    if which == "LM":
        return np.argsort(-np.abs(theta), kind="stable")
    if which == "LA":
        return np.argsort(-theta, kind="stable")
    if which == "SA":
        return np.argsort(theta, kind="stable")
    raise ValueError(f"unknown which {which!r}; accepted: {', '.join(WHICH)}")


def _apply_rows(op: Operator, V: Tensor) -> Tensor:
    """Rows A v_i of the rows v_i of V, through ``op.matmat`` (columns in, columns out) when the operator
    has one, else one ``matvec`` per row; either way the operator's counter sees every product."""
    matmat = getattr(op, "matmat", None)
    if callable(matmat):
        return matmat(V.T).T
    return torch.stack([op.matvec(v) for v in V])


def _explicit_residuals(op: Operator, values: np.ndarray, vectors: Tensor) -> tuple[float, ...]:
    """||A v_i - lambda_i v_i|| for the columns v_i of ``vectors`` (one product each)."""
    lam = torch.as_tensor(np.asarray(values, dtype=float), dtype=vectors.dtype, device=vectors.device)
    R = _apply_rows(op, vectors.T) - lam[:, None] * vectors.T
    return tuple(float(r) for r in torch.linalg.vector_norm(R, dim=1))


def _all_within(residuals, tol: float, scale: float) -> bool:
    return bool(np.all(np.asarray(residuals, dtype=float) <= tol * scale))


class _ExplicitSchedule:
    """When to pay for explicit residuals (one product per wanted Ritz vector).

    The recurrence residual is free but only valid for an exactly linear symmetric operator, so it merely
    triggers a check. After a failed check the next one waits until the basis has grown by a quarter (at
    least ``step`` products): an operator that stays nonlinear then costs O(k log max_iter) extra products
    instead of k per step. A check is always due when the basis can grow no further.
    """

    def __init__(self, step: int):
        self.step, self.failed_at = step, None

    def due(self, n: int, final: bool) -> bool:
        return final or self.failed_at is None or n >= self.failed_at + max(self.step, self.failed_at // 4)

    def fail(self, n: int) -> None:
        self.failed_at = n

    def check(self, op: Operator, Q: Tensor, S: np.ndarray, idx: np.ndarray, theta: np.ndarray, n: int,
              final: bool, tol: float, scale: float) -> tuple[bool, tuple | None]:
        """(converged, (n, explicit residuals) or None): the explicit test of the wanted Ritz pairs of the
        basis Q (n rows) when one is due."""
        if not self.due(n, final):
            return False, None
        vec = Q[:n].T @ torch.as_tensor(S[:, idx], dtype=op.dtype, device=op.device)
        checked = (n, _explicit_residuals(op, theta[idx], vec))
        if _all_within(checked[1], tol, scale):
            return True, checked
        self.fail(n)
        return False, checked


def lanczos_top_eigs(op: Operator, k: int = 1, *, which: Which = "LM", max_iter: int = 100, tol: float = 1e-6,
                     seed: int = 0, v0: Tensor | None = None, explicit_residuals: bool = True,
                     return_vectors: bool = False) -> EigResult:
    """The k wanted eigenvalues of a symmetric operator by Lanczos with full re-orthogonalisation.

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

    ``which``: 'LM' largest magnitude (the norm), 'LA' largest algebraic, 'SA' smallest algebraic.
    ``v0``: start vector of shape (d,) or, for k >= 2, start block of shape (d, c) (columns completed with
    random vectors from ``seed`` up to the block size). ``iterations`` counts the products that built the
    basis; ``n_hvp`` adds the explicit residual products.
    """
    if which not in WHICH:
        raise ValueError(f"unknown which {which!r}; accepted: {', '.join(WHICH)}")
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter}, {tol}")
    d = _check_symmetric(op, k)
    if max_iter < k:
        raise ValueError(f"max_iter = {max_iter} products cannot give k = {k} eigenvalues; need max_iter >= k")
    if k == 1:
        return _single_lanczos(op, which, min(int(max_iter), d), tol, seed, v0, explicit_residuals, return_vectors)
    return _block_lanczos(op, k, which, min(int(max_iter), d), tol, seed, v0, explicit_residuals, return_vectors)


def _random_unit_orthogonal(Q: Tensor, gen: torch.Generator) -> Tensor:
    """A random unit vector orthogonal to the rows of Q (fewer than d rows)."""
    v = torch.randn(Q.shape[1], generator=gen, dtype=torch.float64).to(dtype=Q.dtype, device=Q.device)
    for _ in range(2):
        v = v - Q.T @ (Q @ v)
    return v / torch.linalg.vector_norm(v)


def _single_lanczos(op: Operator, which: str, m_max: int, tol: float, seed: int, v0: Tensor | None,
                    explicit: bool, return_vectors: bool) -> EigResult:
    """Single-vector Lanczos: T_m = tridiag(beta, alpha, beta), recurrence residual beta_m |s_m|."""
    d = op.shape[0]
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    Q = torch.zeros(m_max + 1, d, dtype=op.dtype, device=op.device)
    Q[0] = _start_vector(op, seed, v0)
    alpha, beta = np.zeros(m_max), np.zeros(m_max)
    converged, m, history, checked = False, 0, [], None
    schedule, restart_gen = _ExplicitSchedule(1), None
    for j in range(m_max):
        w = op.matvec(Q[j])
        alpha[j] = float(Q[j] @ w)
        # two passes of classical Gram-Schmidt against the whole basis ("twice is enough")
        for _ in range(2):
            w = w - Q[: j + 1].T @ (Q[: j + 1] @ w)
        beta[j] = float(torch.linalg.vector_norm(w))
        m = j + 1
        if m == 1:
            theta, S = np.array([alpha[0]]), np.ones((1, 1))
        else:
            theta, S = scipy.linalg.eigh_tridiagonal(alpha[:m], beta[: m - 1])
        idx = _order(theta, which)[:1]
        scale = max(float(np.abs(theta).max()), np.finfo(float).tiny)
        history.append(float(theta[idx[0]]))
        closed = beta[j] <= 1e3 * np.finfo(float).eps * scale  # invariant subspace: these Ritz pairs are exact
        last = m == m_max
        if closed or _all_within(beta[j] * np.abs(S[-1, idx]), tol, scale):
            if not explicit:
                converged = True
                break
            converged, new = schedule.check(op, Q, S, idx, theta, m, last or closed, tol, scale)
            checked = new or checked
            if converged:
                break
        if last:
            break
        if closed:
            # a closed space whose Ritz pair fails the explicit test: carry on in a fresh direction
            if restart_gen is None:
                restart_gen = torch.Generator(device="cpu").manual_seed(int(seed) + 1)
            beta[j] = 0.0
            Q[j + 1] = _random_unit_orthogonal(Q[:m], restart_gen)
        else:
            Q[j + 1] = w / beta[j]
    values = theta[idx]
    vectors = Q[:m].T @ torch.as_tensor(S[:, idx], dtype=op.dtype, device=op.device)
    if explicit:
        residuals = checked[1] if checked is not None and checked[0] == m else _explicit_residuals(op, values, vectors)
        kind = "explicit"
    else:
        residuals, kind = tuple(float(r) for r in beta[m - 1] * np.abs(S[-1, idx])), "lanczos"
    return EigResult(tuple(float(v) for v in values), residuals, m, op.counter.hvps - start_hvp,
                     time.perf_counter() - t0, converged, None if v0 is not None else seed, "lanczos", which,
                     kind, vectors if return_vectors else None, tuple(history))


# --- block Lanczos (k >= 2) ----------------------------------------------------------------------------------


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
    return torch.randn(count, d, generator=gen, dtype=torch.float64).to(dtype=like.dtype, device=like.device)


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


def _block_lanczos(op: Operator, k: int, which: str, n_max: int, tol: float, seed: int, v0: Tensor | None,
                   explicit: bool, return_vectors: bool) -> EigResult:
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
    d = op.shape[0]
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    b = min(k + 1, n_max)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    Q = torch.zeros(n_max, d, dtype=op.dtype, device=op.device)
    first = _start_block(op, b, gen, v0)[: n_max]
    n, s = first.shape[0], 0
    Q[:n] = first
    T = np.zeros((n_max, n_max))
    drop_eps, norm_scale = 1e3 * torch.finfo(op.dtype).eps, 0.0
    schedule, converged, checked, history, restarts = _ExplicitSchedule(b), False, None, [], 0
    while True:
        AQ = _apply_rows(op, Q[s:n])
        norm_scale = max(norm_scale, float(torch.linalg.vector_norm(AQ, dim=1).max()))
        C = (AQ @ Q[s:n].T).detach().cpu().to(torch.float64).numpy()
        T[s:n, s:n] = (C + C.T) / 2
        R = _project_out(AQ, Q[:n])
        theta, S, idx, scale = _ritz(T[:n, :n], which, k)
        history.append(float(theta[idx[0]]))
        P, B = _rank_split(R, Q[:n], drop_eps * max(norm_scale, scale))
        # ||R^T y|| for y on block j, from the full (undropped) remainder
        Sj = torch.as_tensor(S[s:n, idx], dtype=op.dtype, device=op.device)
        rec = torch.linalg.vector_norm(R.T @ Sj, dim=0).detach().cpu().to(torch.float64).numpy()
        closed, exhausted = P.shape[0] == 0, n == n_max
        if _all_within(rec, tol, scale) or closed:
            if not explicit:
                converged = True
                break
            converged, new = schedule.check(op, Q, S, idx, theta, n, closed or exhausted, tol, scale)
            checked = new or checked
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
            T[n:n + r, s:n], T[s:n, n:n + r] = B[:r], B[:r].T
        Q[n:n + r] = P
        s, n = n, n + r
    if len(idx) < k:
        raise ValueError(f"{op.name}: only {len(idx)} independent directions were found, fewer than k = {k}")
    values = theta[idx]
    vectors = Q[:n].T @ torch.as_tensor(S[:, idx], dtype=op.dtype, device=op.device)
    if explicit:
        residuals = checked[1] if checked is not None and checked[0] == n else _explicit_residuals(op, values, vectors)
        kind = "explicit"
    else:
        residuals, kind = tuple(float(r) for r in rec), "lanczos"
    seeded = v0 is None or v0.dim() == 1 or v0.shape[1] < b  # random rows completed the start block
    return EigResult(tuple(float(v) for v in values), residuals, n, op.counter.hvps - start_hvp,
                     time.perf_counter() - t0, converged, seed if seeded else None, "lanczos", which, kind,
                     vectors if return_vectors else None, tuple(history), block_size=b, restarts=restarts)


def power_iteration(op: Operator, *, max_iter: int = 1000, tol: float = 1e-6, seed: int = 0,
                    v0: Tensor | None = None, criterion: Literal["residual", "eigenvalue_change"] = "residual",
                    return_vectors: bool = False) -> EigResult:
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
    for it in range(1, int(max_iter) + 1):
        w = op.matvec(v)
        lam = float(v @ w)
        res = float(torch.linalg.vector_norm(w - lam * v))
        history.append(lam)
        if criterion == "residual":
            done = res <= tol * abs(lam)
        else:
            done = prev is not None and abs(lam - prev) <= tol * abs(lam)
        prev = lam
        wn = torch.linalg.vector_norm(w)
        if done or not wn > 0:
            converged = bool(done) or res == 0.0
            break
        v = w / wn
    return EigResult((lam,), (res,), it, op.counter.hvps - start_hvp, time.perf_counter() - t0, converged,
                     None if v0 is not None else seed, "power", "LM", "explicit",
                     v.unsqueeze(1) if return_vectors else None, tuple(history))


def eigsh_top(op: Operator, k: int = 1, *, which: Which = "LM", tol: float = 1e-10, seed: int = 0,
              max_iter: int | None = None, return_vectors: bool = False) -> EigResult:
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
        res = lanczos_top_eigs(op, k, which=which, tol=max(tol, 1e-14), seed=seed, return_vectors=return_vectors,
                               max_iter=d if max_iter is None else max_iter)
        return replace(res, method="eigsh->lanczos", seconds=time.perf_counter() - t0,
                       n_hvp=op.counter.hvps - start_hvp)
    order = _order(vals, which)
    vals, vecs = vals[order], vecs[:, order]
    products = (op.counter.hvps - start_hvp) // max(op.hvps_per_matvec, 1) if op.hvps_per_matvec else 0
    vectors = torch.as_tensor(vecs, dtype=op.dtype, device=op.device)
    residuals = _explicit_residuals(op, vals, vectors)
    return EigResult(tuple(float(v) for v in vals), residuals, int(products), op.counter.hvps - start_hvp,
                     time.perf_counter() - t0, converged, seed, "eigsh", which, "explicit",
                     vectors if return_vectors else None)
