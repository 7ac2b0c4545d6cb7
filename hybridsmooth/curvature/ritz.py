"""What every Krylov eigen-solver of this package shares: the result type, argument checks, start vectors,
Ritz-value ordering, operator products on a block of vectors, the explicit residual test, and the
single-vector Lanczos step that both the eigen-solver and the spectral density run.

The explicit residual ||A v - theta v|| is the only certificate a solver may call converged on: the
Lanczos recurrence residual assumes an exactly linear, symmetric operator, which finite-difference
products are not (``_ExplicitSchedule`` says when to pay for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from . import draws, precise
from .operators import Operator
from .semi_orthogonality import SemiOrthogonality

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
    # "full": every product's vector had a Gram-Schmidt pass over the whole basis; "partial": only
    # ``full_passes`` of them did, when the estimated loss of orthogonality asked (``semi_orthogonality``)
    reorth: str = "full"
    full_passes: int | None = None

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
        v = draws.normal(op.shape[0], draws.generator(seed, op.device), op.dtype, op.device)
    nrm = precise.norm(v)
    if not nrm > 0:
        raise ValueError("the start vector must be non-zero")
    return v.div_(nrm)  # v is this function's own tensor: no second vector of length d


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
    return precise.row_norms(R)


def _ritz_vectors(Q: Tensor, s: np.ndarray, *, dtype, device, inner=precise) -> Tensor:
    """The unit Ritz vectors Q^T s (columns; one vector for a 1-D s, the restart vector of a full basis). Q is
    orthonormal to rounding under full re-orthogonalisation and only semi-orthogonal under partial
    re-orthogonalisation, where ||Q^T s|| may differ from 1 by up to about sqrt(eps); the explicit residual
    certifies an eigenvalue within ||A v - theta v|| of theta for a unit v only. ``inner.norm`` measures a
    single vector (a sharded solver's sums over the ranks)."""
    V = Q.T @ torch.as_tensor(s, dtype=dtype, device=device)
    if V.dim() == 1:
        return V.div_(inner.norm(V))
    norms = torch.as_tensor(precise.row_norms(V.T), dtype=V.dtype, device=V.device)
    return V.div_(norms)  # in place: no second vector of length d


def _wanted_pairs(
    op: Operator,
    Q: Tensor,
    n: int,
    theta: np.ndarray,
    S: np.ndarray,
    idx: np.ndarray,
    explicit: bool,
    checked: tuple | None,
    recurrence: np.ndarray,
) -> tuple[np.ndarray, Tensor, tuple[float, ...]]:
    """The wanted Ritz values, their vectors in the basis Q[:n] and their residuals: explicit ones (reusing the
    last check when it was made on this very basis) or, without ``explicit``, the recurrence values."""
    values = theta[idx]
    vectors = _ritz_vectors(Q[:n], S[:, idx], dtype=op.dtype, device=op.device)
    if explicit:
        residuals = checked[1] if checked is not None and checked[0] == n else _explicit_residuals(op, values, vectors)
    else:
        residuals = tuple(float(r) for r in recurrence)
    return values, vectors, residuals


# share of the memory available when a solve starts that its Krylov basis may take
BASIS_MEMORY_FRACTION = 0.4


def _available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: the CUDA allocator's free bytes, or the kernel's MemAvailable on Linux."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def basis_capacity(d: int, wanted: int, *, dtype: torch.dtype, device, max_basis: int | None = None) -> int:
    """Rows of a Krylov basis of length-d vectors: ``wanted``, cut to ``max_basis`` when given, else to
    BASIS_MEMORY_FRACTION of the free memory (at least 4 rows). Full re-orthogonalisation needs every row:
    SmolLM2's 134.5M base weights take 538 MB a row, so 60 products would need 32 GB."""
    if max_basis is not None:
        if max_basis < 2:
            raise ValueError(f"max_basis must be >= 2 rows, got {max_basis}")
        return min(wanted, int(max_basis))
    free = _available_bytes(torch.device(device))
    if free is None:
        return wanted
    per_row = d * torch.tensor([], dtype=dtype).element_size()
    return min(wanted, max(4, int(BASIS_MEMORY_FRACTION * free // per_row)))


def basis_rows(d: int, rows: int, *, dtype: torch.dtype, device) -> Tensor:
    """A Krylov basis with room for ``rows`` rows now, left unset (every solver writes row n before it reads
    rows :n + 1, so on the CPU a row's memory is touched only when it is written); ``with_room`` grows it as
    the solve goes on. Zeroing room for the whole product budget up front cost (max_iter + 1) vectors of
    length d whether or not the solve needed them: 9 GB for 22.7M base weights at max_iter = 100."""
    return torch.empty(rows, d, dtype=dtype, device=device)


def with_room(Q: Tensor, rows: int, limit: int) -> Tensor:
    """``Q`` itself if it has ``rows`` rows, else a copy with its rows doubled (at least ``rows``, at most
    ``limit``): amortised O(1) copies per row. The new rows are left unset (every solver writes row n before
    it reads rows :n + 1), so their memory is touched only when a row is written."""
    if rows <= Q.shape[0]:
        return Q
    grown = Q.new_empty(min(max(rows, 2 * Q.shape[0]), max(limit, rows)), Q.shape[1])
    grown[: Q.shape[0]] = Q
    return grown


def lanczos_step(
    op: Operator, Q: Tensor, j: int, orthogonality: SemiOrthogonality | None = None
) -> tuple[float, Tensor, float]:
    """Step j of single-vector Lanczos with full re-orthogonalisation, from the orthonormal rows Q[: j + 1]:
    (alpha_j, w, beta_j) with alpha_j = q_j^T A q_j, w the residual of A q_j against the basis and
    beta_j = ||w||. One product. The caller decides what follows: q_{j+1} = w / beta_j, a restart, or a stop.
    With ``orthogonality`` the pass over the whole basis runs only when its estimates ask for it (partial
    re-orthogonalisation, ``semi_orthogonality``)."""
    return lanczos_update(Q, j, op.matvec(Q[j]), orthogonality)


def lanczos_update(
    Q: Tensor, j: int, w: Tensor, orthogonality: SemiOrthogonality | None = None, inner=precise
) -> tuple[float, Tensor, float]:
    """``lanczos_step`` from its product w = A Q[j], taken by the caller (several probes' products can then
    share one batched product); w is worked on in place unless it is a view of Q. ``inner`` supplies the
    reductions (``dot``, ``norm``, ``project``, as in ``precise``): a sharded solver passes ones whose local
    parts are summed over the ranks, so every rank takes the same decisions from the same scalars."""
    alpha = inner.dot(Q[j], w)
    # the three-term recurrence first: two axpys take the large components along q_j and q_{j-1}, so that
    # one pass of classical Gram-Schmidt against the whole basis usually suffices; a second pass runs only
    # when the first removed more than 1 - 1/sqrt(2) of the norm (the DGKS test). Each pass reads the whole
    # basis twice (538 MB a row on SmolLM2), which costs more than the product on a long run. The product is
    # the solver's own and is worked on in place (a copy first only when the operator handed back a view of
    # the basis), since each fresh vector of length d costs page faults, not only arithmetic.
    if w.untyped_storage().data_ptr() == Q.untyped_storage().data_ptr():
        w = torch.add(w, Q[j], alpha=-alpha)
    else:
        w.add_(Q[j], alpha=-alpha)
    if j > 0:
        w.add_(Q[j - 1], alpha=-inner.dot(Q[j - 1], w))
    basis = Q[: j + 1]
    norm = inner.norm(w)
    if orthogonality is not None and not orthogonality.needs_full_pass(alpha, norm):
        orthogonality.record(alpha, norm, full=False)
        return alpha, w, norm
    for _ in range(2):
        before = norm
        w.addmv_(basis.T, inner.project(basis, w), alpha=-1)
        norm = inner.norm(w)
        if norm > before / math.sqrt(2):
            break
    if orthogonality is not None:
        orthogonality.record(alpha, norm, full=True)
    return alpha, w, norm


def _all_within(residuals, tol: float, scale: float) -> bool:
    return bool(np.all(np.asarray(residuals, dtype=float) <= tol * scale))


class _ExplicitSchedule:
    """When to pay for explicit residuals (one product per wanted Ritz vector).

    The recurrence residual is free but only valid for an exactly linear symmetric operator, so it merely
    triggers a check. After a failed check the next one waits until the basis has grown by a quarter (at
    least ``step`` products): an operator that stays nonlinear then costs O(k log max_iter) extra products
    instead of k per step. A check is always due when the basis can grow no further. Without ``explicit``
    the recurrence is trusted and no product is spent. ``checked`` keeps the latest check, (n, explicit
    residuals), for ``_wanted_pairs`` to reuse when the basis has not grown since.
    """

    def __init__(self, step: int, explicit: bool):
        self.step, self.explicit, self.failed_at = step, explicit, None
        self.checked: tuple | None = None

    def due(self, n: int, final: bool) -> bool:
        return final or self.failed_at is None or n >= self.failed_at + max(self.step, self.failed_at // 4)

    def fail(self, n: int) -> None:
        self.failed_at = n

    def check(
        self,
        op: Operator,
        Q: Tensor,
        S: np.ndarray,
        idx: np.ndarray,
        theta: np.ndarray,
        n: int,
        final: bool,
        tol: float,
        scale: float,
    ) -> bool:
        """Whether the wanted Ritz pairs of the basis Q (n rows), whose recurrence residuals are within tol,
        are accepted: at once without ``explicit``, else by the explicit test when one is due."""
        if not self.explicit:
            return True
        if not self.due(n, final):
            return False
        vec = _ritz_vectors(Q[:n], S[:, idx], dtype=op.dtype, device=op.device)
        self.checked = (n, _explicit_residuals(op, theta[idx], vec))
        if _all_within(self.checked[1], tol, scale):
            return True
        self.fail(n)
        return False
