"""Norms and inner products of long float32 vectors, accumulated in float64 across chunks.

torch's float32 ``vector_norm`` on the CPU (torch 2.13) loses accuracy with length: 9e-6 relative at 1M
entries, 1.3e-3 at 22.7M (MiniLM's base weights), 1.4e-2 at 134.5M (SmolLM2's); ``torch.dot`` 2e-5 and
2e-4. A Lanczos basis normalised with such norms is not orthonormal (||q||^2 = 1.0025 on MiniLM), so its
Ritz vectors' explicit residuals do not meet what the recurrence promises, and a solve to 1e-2 on SmolLM2
never converged. Here each chunk is reduced in the vector's dtype (errors at the 1e-6 level) and the chunk
results are summed in float64; the cost is that of the plain reductions. float64 vectors and short ones use
the plain reductions, which are already accurate there.
"""

from __future__ import annotations

import torch
from torch import Tensor

CHUNK = 1 << 16
BATCHED_CHUNK = 1 << 12


def _plain(v: Tensor) -> bool:
    return v.dtype == torch.float64 or v.numel() <= CHUNK


def norm(v: Tensor) -> float:
    """||v||_2 of a tensor of any shape (all entries), accumulated in float64 across chunks."""
    flat = v.reshape(-1)
    if _plain(flat):
        return float(torch.linalg.vector_norm(flat))
    full = flat.numel() - flat.numel() % CHUNK
    parts = torch.linalg.vector_norm(flat[:full].view(-1, CHUNK), dim=1).double()
    total = float(parts.square().sum())
    if full < flat.numel():
        total += float(torch.linalg.vector_norm(flat[full:]).double()) ** 2
    return total**0.5


def row_norms(rows: Tensor) -> tuple[float, ...]:
    """The norm of each row of a 2-D tensor (``norm`` per row)."""
    return tuple(norm(r) for r in rows)


def project64(basis: Tensor, w: Tensor) -> Tensor:
    """basis @ w accumulated in float64 across chunks of columns, returned in float64 (what ``project`` and
    ``dot`` round; a sharded solver sums these parts over its ranks before rounding)."""
    if _plain(w) or basis.shape[0] == 0:
        return (basis @ w).double()
    if _takes_batched_path(w):
        return _project64_batched(basis, w)
    # a gemv accumulates in its dtype: 4e-8 relative over CHUNK = 65k columns, 3e-6 over 1M
    out = torch.zeros(basis.shape[0], dtype=torch.float64, device=w.device)
    for a in range(0, w.numel(), CHUNK):
        out += (basis[:, a : a + CHUNK] @ w[a : a + CHUNK]).double()
    return out


def _takes_batched_path(w: Tensor) -> bool:
    # the one place that chooses between the two reductions (the benchmark and a test force either one here)
    return w.device.type != "cpu"


def _project64_batched(basis: Tensor, w: Tensor) -> Tensor:
    """``project64`` as one batched product over chunks of BATCHED_CHUNK columns, each reduced in w's dtype,
    the chunks summed in float64. On a GPU the loop launched 4 kernels per chunk, 8,200 for one inner product
    over SmolLM2's 134.5M base weights: an SLQ run in hvp_matmat on the H200 (2026-12-04) finished no
    repetition in 45 s, stopped in this loop. The chunks are shorter than the loop's because a batched product
    may sum each chunk in sequence (the CPU's does: 2e-6 relative over 65k columns, 3e-8 over 4k). The CPU
    keeps the loop: its tests and figures were made with it, and there it is the faster of the two
    (benchmarks/lanczos_calls.py: 0.87 s against 1.15 s per Lanczos update at SmolLM2's length)."""
    k, d = basis.shape
    full = d - d % BATCHED_CHUNK
    n = full // BATCHED_CHUNK
    # (n, k, chunk) views of the basis and (n, chunk, 1) of w: one small gemv per chunk, nothing copied
    rows = basis[:, :full].unflatten(1, (n, BATCHED_CHUNK)).transpose(0, 1)
    out = torch.bmm(rows, w[:full].reshape(n, BATCHED_CHUNK, 1)).squeeze(-1).double().sum(0)
    if full < d:
        out += (basis[:, full:] @ w[full:]).double()
    return out


def project(basis: Tensor, w: Tensor) -> Tensor:
    """basis @ w (k rows of length d against a vector of length d), accumulated in float64 across chunks of
    columns; returned in w's dtype."""
    return project64(basis, w).to(w.dtype)


def dot(a: Tensor, b: Tensor) -> float:
    """a . b of two vectors, accumulated in float64 across chunks."""
    if _plain(b):
        return float(a.reshape(-1) @ b.reshape(-1))
    return float(project64(a.reshape(1, -1), b.reshape(-1))[0])


# the float64 reductions below convert one chunk at a time: converting a 22.7M-entry vector whole allocates
# 180 MB per operand per call, and on a host that hands back idle memory page by page that costs 0.22 s per
# dot against 0.02 s in chunks the allocator reuses (benchmarks/probe_cost.py)
CHUNK64 = 1 << 20


def dot64(a: Tensor, b: Tensor) -> float:
    """a . b with every product and sum in float64 (float32 entries multiply exactly there): for differences of
    two large inner products, where ``dot``'s float32 chunks would lose the result."""
    a, b = a.detach().reshape(-1), b.detach().reshape(-1)
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for i in range(0, a.numel(), CHUNK64):
        total += torch.dot(a[i : i + CHUNK64].double(), b[i : i + CHUNK64].double())
    return float(total)


def distance64(a: Tensor, b: Tensor) -> float:
    """||a - b||_2 with the difference and the sum of squares in float64."""
    a, b = a.detach().reshape(-1), b.detach().reshape(-1)
    total = torch.zeros((), dtype=torch.float64, device=a.device)
    for i in range(0, a.numel(), CHUNK64):
        d = a[i : i + CHUNK64].double() - b[i : i + CHUNK64].double()
        total += torch.dot(d, d)
    return float(total) ** 0.5
