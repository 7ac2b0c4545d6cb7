"""The minimal linear-operator contract every curvature algorithm is written against.

An operator is a frozen object with ``shape``, ``dtype``, ``device``, ``matvec(v)`` and ``matmat(V)`` (the
columns of V, through ``apply_many`` when the operator has a batched product); it counts the
Hessian-vector products (HVPs) its products cost, so that every eigenvalue or trace estimate can report
its price. Sums of blocks, diagonal scalings and the dilation [[0, B], [B^T, 0]] (THEORY 3.1, cross-block
norm) are built from this contract alone, and ``to_scipy`` bridges to ``scipy.sparse.linalg``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    import scipy.sparse.linalg


@dataclass
class HVPCounter:
    """Mutable tally shared by all operators built on one HVP engine (the operators themselves are frozen)."""

    hvps: int = 0

    def add(self, k: int) -> None:
        self.hvps += int(k)


@dataclass(frozen=True)
class Operator:
    """A linear map R^shape[1] -> R^shape[0] given by its matrix-vector product.

    ``hvps_per_matvec`` is what one product costs in HVPs of the underlying objective (2 for the
    cross-block dilation, 0 for an explicit matrix); ``counter`` accumulates it. ``apply_many``, if given,
    maps a block of columns V (shape[1], k) to (shape[0], k) at once and must agree with ``apply`` column by
    column; without it ``matmat`` loops over the columns. ``exact_products`` is False where a product carries an
    error beyond rounding (finite differences): Lanczos then re-orthogonalises fully, since its estimates of
    the loss of orthogonality model rounding alone.
    """

    shape: tuple[int, int]
    dtype: torch.dtype
    device: torch.device
    apply: Callable[[Tensor], Tensor] = field(repr=False)
    hvps_per_matvec: int = 1
    counter: HVPCounter = field(default_factory=HVPCounter, repr=False, compare=False)
    name: str = "operator"
    symmetric: bool = True
    apply_many: Callable[[Tensor], Tensor] | None = field(default=None, repr=False, compare=False)
    exact_products: bool = True

    def matvec(self, v: Tensor) -> Tensor:
        if v.shape != (self.shape[1],):
            raise ValueError(f"{self.name}: expected a vector of shape ({self.shape[1]},), got {tuple(v.shape)}")
        self.counter.add(self.hvps_per_matvec)
        return self.apply(v.to(dtype=self.dtype, device=self.device))

    def matmat(self, V: Tensor) -> Tensor:
        """A V for the columns of V (shape[1], k) -> (shape[0], k); counts k products, like k ``matvec`` calls."""
        if V.dim() != 2 or V.shape[0] != self.shape[1]:
            raise ValueError(f"{self.name}: expected columns of shape ({self.shape[1]}, k), got {tuple(V.shape)}")
        k = V.shape[1]
        self.counter.add(k * self.hvps_per_matvec)
        V = V.to(dtype=self.dtype, device=self.device)
        if k == 0:
            return V.new_zeros(self.shape[0], 0)
        if self.apply_many is not None:
            return self.apply_many(V)
        return torch.stack([self.apply(v) for v in V.T], dim=1)

    def __matmul__(self, v: Tensor) -> Tensor:
        return self.matmat(v) if v.dim() == 2 else self.matvec(v)

    def to_scipy(self) -> scipy.sparse.linalg.LinearOperator:
        """A scipy LinearOperator (float64 numpy in and out) that calls ``matvec``, and ``matmat`` on blocks."""
        from scipy.sparse.linalg import LinearOperator

        def mv(v: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(v).reshape(-1), dtype=self.dtype, device=self.device)
            return self.matvec(t).detach().cpu().to(torch.float64).numpy()

        def mm(V: np.ndarray) -> np.ndarray:
            t = torch.as_tensor(np.ascontiguousarray(V), dtype=self.dtype, device=self.device)
            return self.matmat(t).detach().cpu().to(torch.float64).numpy()

        return LinearOperator(self.shape, matvec=mv, matmat=mm, dtype=np.float64)


def matrix_operator(M: Tensor, *, name: str = "matrix") -> Operator:
    """An explicit matrix as an operator (tests, small problems); each product counts as one "HVP"."""
    if M.dim() != 2:
        raise ValueError(f"need a 2-D matrix, got shape {tuple(M.shape)}")
    sym = M.shape[0] == M.shape[1] and bool(torch.allclose(M, M.T))
    return Operator(
        (M.shape[0], M.shape[1]),
        M.dtype,
        M.device,
        lambda v: M @ v,
        hvps_per_matvec=1,
        name=name,
        symmetric=sym,
        apply_many=lambda V: M @ V,
    )


def to_dense(op: Operator) -> Tensor:
    """Materialise an operator column by column (shape[1] products): for tests on small problems only."""
    cols = [op.matvec(e) for e in torch.eye(op.shape[1], dtype=op.dtype, device=op.device)]
    return torch.stack(cols, dim=1)


def diagonal_scaled(op: Operator, left: Tensor, right: Tensor, *, name: str | None = None) -> Operator:
    """v -> diag(left) A diag(right) v; with left = right = Lambda^-1/2 this is the (R1) operator of THEORY 3.5."""
    if left.shape != (op.shape[0],) or right.shape != (op.shape[1],):
        raise ValueError(f"scalings must have shapes ({op.shape[0]},) and ({op.shape[1]},)")
    left = left.to(dtype=op.dtype, device=op.device)
    right = right.to(dtype=op.dtype, device=op.device)
    sym = op.symmetric and bool(torch.equal(left, right))
    # the wrapped operator counts its own HVPs (per column in matmat too); this wrapper adds none
    return Operator(
        op.shape,
        op.dtype,
        op.device,
        lambda v: left * op.matvec(right * v),
        hvps_per_matvec=0,
        counter=op.counter,
        name=name or f"scaled({op.name})",
        symmetric=sym,
        apply_many=lambda V: left[:, None] * op.matmat(right[:, None] * V),
        exact_products=op.exact_products,
    )


def dilation(B: Operator, Bt: Operator, *, name: str = "dilation") -> Operator:
    """The symmetric operator [[0, B], [B^T, 0]] of size m + n for B of shape (m, n).

    Its eigenvalues are +-sigma_i(B) (and zeros), so its top eigenvalue is sigma_max(B) = ||B||.
    """
    m, n = B.shape
    if Bt.shape != (n, m):
        raise ValueError(f"adjoint shape {Bt.shape} does not match {B.shape}")

    def apply(v: Tensor) -> Tensor:
        return torch.cat([B.matvec(v[m:]), Bt.matvec(v[:m])])

    def apply_many(V: Tensor) -> Tensor:
        return torch.cat([B.matmat(V[m:]), Bt.matmat(V[:m])])

    return Operator(
        (m + n, m + n),
        B.dtype,
        B.device,
        apply,
        hvps_per_matvec=0,
        counter=B.counter,
        name=name,
        apply_many=apply_many,
        exact_products=B.exact_products and Bt.exact_products,
    )


def gram(B: Operator, Bt: Operator, *, name: str = "gram") -> Operator:
    """B^T B (shape n x n): its top eigenvalue is ||B||^2 (power iteration route of THEORY 3.1)."""
    return Operator(
        (B.shape[1], B.shape[1]),
        B.dtype,
        B.device,
        lambda v: Bt.matvec(B.matvec(v)),
        hvps_per_matvec=0,
        counter=B.counter,
        name=name,
        apply_many=lambda V: Bt.matmat(B.matmat(V)),
        exact_products=B.exact_products and Bt.exact_products,
    )
