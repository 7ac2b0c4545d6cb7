"""Eigen-solvers as free functions over any symmetric :class:`~hybridsmooth.curvature.operators.Operator`.

The largest-magnitude eigenvalue of a block operator is the block smoothness constant at that point,
L_b(z) = ||grad^2_bb f(z)|| (THEORY 3.1); extreme algebraic eigenvalues of the scaled full Hessian test
the joint condition (THEORY 3.5). Every solver returns an :class:`EigResult` carrying its error bars:
residual norms ||A v - lambda v||, iterations, HVPs spent, wall time, convergence flag and seed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
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


def _explicit_residuals(op: Operator, values: np.ndarray, vectors: Tensor) -> tuple[float, ...]:
    out = []
    for lam, v in zip(values, vectors.T):
        out.append(float(torch.linalg.vector_norm(op.matvec(v) - float(lam) * v)))
    return tuple(out)


def lanczos_top_eigs(op: Operator, k: int = 1, *, which: Which = "LM", max_iter: int = 100, tol: float = 1e-6,
                     seed: int = 0, v0: Tensor | None = None, explicit_residuals: bool = True,
                     return_vectors: bool = False) -> EigResult:
    """Lanczos with full re-orthogonalisation (two Gram-Schmidt passes per step, no restarts).

    After m steps, A Q_m = Q_m T_m + beta_m q_{m+1} e_m^T, so a Ritz pair (theta, Q_m s) has residual
    exactly beta_m |s_m| (kept exact in floating point by the full re-orthogonalisation). Stops when the
    k wanted Ritz values have beta_m |s_m| <= tol * max|theta| or after ``max_iter`` products (memory:
    max_iter + 1 vectors of length d). ``which``: 'LM' largest magnitude (the norm), 'LA' largest
    algebraic, 'SA' smallest algebraic.
    """
    if which not in WHICH:
        raise ValueError(f"unknown which {which!r}; accepted: {', '.join(WHICH)}")
    if max_iter < 1 or not tol > 0:
        raise ValueError(f"need max_iter >= 1 and tol > 0, got {max_iter}, {tol}")
    d = _check_symmetric(op, k)
    m_max = min(int(max_iter), d)
    t0, start_hvp = time.perf_counter(), op.counter.hvps
    Q = torch.zeros(m_max + 1, d, dtype=op.dtype, device=op.device)
    Q[0] = _start_vector(op, seed, v0)
    alpha, beta = np.zeros(m_max), np.zeros(m_max)
    converged, m, history = False, 0, []
    theta = S = idx = None
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
        idx = _order(theta, which)[:k]
        scale = max(float(np.abs(theta).max()), np.finfo(float).tiny)
        ritz_res = beta[j] * np.abs(S[-1, idx])
        history.append(float(theta[idx[0]]))
        if m >= k and np.all(ritz_res <= tol * scale):
            converged = True
            break
        if beta[j] <= 1e3 * np.finfo(float).eps * scale:  # invariant subspace: these Ritz pairs are exact
            converged = m >= k
            break
        Q[j + 1] = w / beta[j]
    if m < k:
        raise ValueError(f"the Krylov space closed after {m} steps, fewer than k = {k}; pick another seed or v0")
    values = theta[idx]
    vectors = Q[:m].T @ torch.as_tensor(S[:, idx], dtype=op.dtype, device=op.device)
    if explicit_residuals:
        residuals, kind = _explicit_residuals(op, values, vectors), "explicit"
    else:
        residuals, kind = tuple(float(r) for r in beta[m - 1] * np.abs(S[-1, idx])), "lanczos"
    return EigResult(tuple(float(v) for v in values), residuals, m, op.counter.hvps - start_hvp,
                     time.perf_counter() - t0, converged, None if v0 is not None else seed, "lanczos", which,
                     kind, vectors if return_vectors else None, tuple(history))


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
    from scipy.sparse.linalg import ArpackNoConvergence, eigsh

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
    order = _order(vals, which)
    vals, vecs = vals[order], vecs[:, order]
    products = (op.counter.hvps - start_hvp) // max(op.hvps_per_matvec, 1) if op.hvps_per_matvec else 0
    vectors = torch.as_tensor(vecs, dtype=op.dtype, device=op.device)
    residuals = _explicit_residuals(op, vals, vectors)
    return EigResult(tuple(float(v) for v in vals), residuals, int(products), op.counter.hvps - start_hvp,
                     time.perf_counter() - t0, converged, seed, "eigsh", which, "explicit",
                     vectors if return_vectors else None)
