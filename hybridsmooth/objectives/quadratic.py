"""Block quadratics with chosen spectra, an optional cross block and heterogeneous per-sample centres.

    f_i(z) = 1/2 (z - c_i)^T H (z - c_i),     H = [[A, B], [B^T, C]],     z = (x, y)

A has eigenvalues in [m_x, L_x], C in [m_y, L_y], and B = s A^{1/2} W C^{1/2} with ||W|| = 1, so that
H is positive semi-definite exactly when the coupling s <= 1 and ||Lambda^{-1/2} H Lambda^{-1/2}|| is
controlled by s (THEORY 3.2, counterexample 2). Every constant is exact:

* L_x = ||A||, L_y = ||C||, L_xy = ||B|| (per-sample constants are the same: all f_i share H);
* grad f_i(z) - grad f(z) = H (c_bar - c_i) does not depend on z, so sigma_x^2 and sigma_y^2 are exact;
* f* = 1/2 (1/n) sum_i (c_i - c_bar)^T H (c_i - c_bar), attained at z = c_bar (for H positive definite).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .. import validate
from ..errors import SpecError
from .base import Constants, FiniteSum, broadcast_blocks
from .checks import random_start

SPECTRA = ("loguniform", "linear", "isotropic")

# dense float64 d x d matrices alive at once while building: H, its blocks, the rotations, the eigensolver's
# workspace and the torch copy
_DENSE_COPIES = 4


def spectrum(d: int, lo: float, hi: float, kind: str = "loguniform") -> np.ndarray:
    """d eigenvalues from ``hi`` down to ``lo``: 'loguniform' (geometric), 'linear', or 'isotropic' (all ``hi``)."""
    if d == 0:
        return np.zeros(0)
    if kind == "isotropic" or d == 1:
        return np.full(d, float(hi))
    if kind == "loguniform":
        if lo <= 0:
            raise ValueError(f"a log-uniform spectrum needs a positive smallest eigenvalue, got {lo}")
        return np.geomspace(hi, lo, d)
    if kind == "linear":
        return np.linspace(hi, lo, d)
    raise ValueError(f"unknown spectrum {kind!r}; accepted: {', '.join(SPECTRA)}")


def random_orthogonal(d: int, rng: np.random.Generator) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    return q * np.sign(np.diag(r))


def sym_sqrt(evals: np.ndarray, evecs: np.ndarray) -> np.ndarray:
    return (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T


class BlockQuadratic(FiniteSum):
    """Finite sum of quadratics sharing one block Hessian H, centred at per-sample points c_i."""

    name = "quadratic"

    def __init__(
        self,
        H: np.ndarray | Tensor,
        centres: np.ndarray | Tensor,
        d_x: int,
        *,
        x0=None,
        y0=None,
        dtype=torch.float64,
        device="cpu",
        spec: str = "",
        notes: str = "",
    ):
        H = torch.as_tensor(np.asarray(H), dtype=dtype, device=device)
        C = torch.as_tensor(np.asarray(centres), dtype=dtype, device=device)
        if H.dim() != 2 or H.shape[0] != H.shape[1]:
            raise ValueError(f"H must be a square matrix, got shape {tuple(H.shape)}")
        if C.dim() != 2 or C.shape[1] != H.shape[0]:
            raise ValueError(f"centres must have shape (n, {H.shape[0]}), got {tuple(C.shape)}")
        # non-finite entries first: NaN would otherwise be reported as an asymmetry
        if not bool(torch.isfinite(H).all()):
            raise ValueError("H has non-finite entries (a value too large for float64, or NaN)")
        if not bool(torch.isfinite(C).all()):
            raise ValueError("the centres have non-finite entries (spread too large for float64?)")
        if H.numel() == 0:
            raise ValueError("H is empty: need at least one coordinate (dx + dy >= 1)")
        if not torch.allclose(H, H.T, atol=1e-12 * max(1.0, float(H.abs().max()))):
            raise ValueError("H must be symmetric")
        d = H.shape[0]
        n = C.shape[0]
        self.H, self.centres = H, C
        # A diagonal H (no coupling, unrotated spectra) needs no matrix products: O(d) per evaluation.
        offdiag = H - torch.diag(torch.diagonal(H))
        self._diag = torch.diagonal(H).clone() if not bool(offdiag.any()) else None
        consts = self._exact_constants(H.cpu().numpy(), C.cpu().numpy(), d_x, notes)
        super().__init__(
            n=n, d_x=d_x, d_y=d - d_x, dtype=dtype, device=device, constants=consts, x0=x0, y0=y0, spec=spec
        )
        # f(z) = 1/2 (z - c_w)^T H (z - c_w) + 1/2 sum_i w_i (c_i - c_w)^T H (c_i - c_w) with c_w = sum_i w_i c_i:
        # one product per evaluation instead of n, and no cancellation in f - f* near the minimiser.
        self._c_w = self.weights @ C
        dev = C - self._c_w
        self._f_offset = 0.5 * (self.weights @ (self._apply_H(dev) * dev).sum(-1))

    @staticmethod
    def _exact_constants(H: np.ndarray, C: np.ndarray, d_x: int, notes: str) -> Constants:
        A, B, Cy = H[:d_x, :d_x], H[:d_x, d_x:], H[d_x:, d_x:]
        norm = lambda M: float(np.linalg.norm(M, 2)) if M.size else 0.0  # noqa: E731
        cbar = C.mean(0)
        dev = (cbar - C) @ H  # rows: grad f_i - grad f (z-independent)
        evals = np.linalg.eigvalsh(H)
        f_star = None
        if evals.min() > 1e-12 * max(1.0, evals.max()):
            f_star = float(0.5 * np.mean(np.einsum("id,de,ie->i", C - cbar, H, C - cbar)))
        L_x, L_y = norm(A), norm(Cy)
        return Constants(
            L_x=L_x,
            L_y=L_y,
            L_xy=norm(B),
            L_x_max=L_x,
            L_y_max=L_y,
            sigma2_x=float(np.mean(np.sum(dev[:, :d_x] ** 2, 1))),
            sigma2_y=float(np.mean(np.sum(dev[:, d_x:] ** 2, 1))),
            f_star=f_star,
            notes=notes or "closed forms: block spectral norms of H; sigma^2 exact (z-independent)",
        )

    # H is shared, so one sample's value costs one matrix-vector product.
    def _residual(self, x: Tensor, y: Tensor, idx) -> Tensor:
        z = torch.cat(broadcast_blocks(x, y), dim=-1)
        if idx is None:
            return z.unsqueeze(-2) - self.centres  # (..., n, d)
        if isinstance(idx, int):
            return z - self.centres[idx]
        idx = torch.as_tensor(idx, device=z.device).long().expand(z.shape[:-1])
        return z - self.centres[idx]

    def _apply_H(self, r: Tensor) -> Tensor:
        return r * self._diag if self._diag is not None else r @ self.H

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        r = self._residual(x, y, None)
        return 0.5 * (self._apply_H(r) * r).sum(-1)

    def loss(self, x: Tensor, y: Tensor, idx=None) -> Tensor:
        if idx is None:
            r = torch.cat(broadcast_blocks(x, y), dim=-1) - self._c_w
            return 0.5 * (self._apply_H(r) * r).sum(-1) + self._f_offset
        r = self._residual(x, y, idx)
        return 0.5 * (self._apply_H(r) * r).sum(-1)

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        if idx is None:
            g = self._apply_H(torch.cat(broadcast_blocks(x, y), dim=-1) - self._c_w)
        else:
            g = self._apply_H(self._residual(x, y, idx))
        return g[..., : self.d_x], g[..., self.d_x :]

    def constant_hessian(self) -> Tensor:
        """The exact (shared) Hessian, (d, d)."""
        return self.H


def make_block_quadratic(
    *,
    dx: int = 50,
    dy: int = 10,
    Lx: float = 10.0,
    Ly: float = 1.0,
    mx: float | None = None,
    my: float | None = None,
    spectrum_x: str = "loguniform",
    spectrum_y: str = "loguniform",
    coupling: float = 0.0,
    n: int = 16,
    spread: float = 1.0,
    start: float = 3.0,
    rotate: bool = True,
    seed: int = 0,
    spec: str = "",
    dtype=torch.float64,
) -> BlockQuadratic:
    """Coupled block quadratic (see the module docstring). ``coupling`` is s = ||A^-1/2 B C^-1/2|| in [0, 1];
    ``spread`` scales the per-sample centres (0 gives sigma = 0); ``start`` the distance of z_0 from c_bar;
    ``rotate=False`` keeps the eigenvectors on the coordinate axes (with no coupling H is then diagonal and
    every evaluation costs O(d))."""
    if not 0.0 <= coupling <= 1.0:
        raise ValueError(f"coupling must lie in [0, 1] (H is PSD exactly then), got {coupling}")
    if dx < 0 or dy < 0 or dx + dy < 1:
        raise ValueError(f"need dx, dy >= 0 and dx + dy >= 1, got dx={dx}, dy={dy}")
    if n < 1:
        raise ValueError(f"need n >= 1, got n={n}")
    mx = Lx / 10 if mx is None else mx
    my = Ly / 10 if my is None else my
    for block, lo, hi, kind, size in (("x", mx, Lx, spectrum_x, dx), ("y", my, Ly, spectrum_y, dy)):
        if not 0 <= lo <= hi:  # the spectrum runs from L down to m
            raise ValueError(f"m{block} must lie in [0, L{block}={hi:g}], got {lo:g}")
        if kind == "loguniform" and size > 1 and lo <= 0:
            raise ValueError(f"spectrum_{block}=loguniform needs m{block} > 0 (and L{block} > 0), got m{block}={lo:g}")
    d = dx + dy
    validate.check_allocation(
        _DENSE_COPIES * d * d + 2 * n * d,
        8,
        f"quadratic: dx={dx}, dy={dy}, n={n} (a dense {d} x {d} float64 Hessian)",
        error=SpecError,
    )
    rng = np.random.default_rng(seed)
    ea, Ua = spectrum(dx, mx, Lx, spectrum_x), random_orthogonal(dx, rng)
    ec, Uc = spectrum(dy, my, Ly, spectrum_y), random_orthogonal(dy, rng)
    if not rotate:  # draw the rotations anyway so that the centres and z_0 do not depend on `rotate`
        Ua, Uc = np.eye(dx), np.eye(dy)
    A = (Ua * ea) @ Ua.T
    Cy = (Uc * ec) @ Uc.T
    H = np.zeros((dx + dy, dx + dy))
    H[:dx, :dx], H[dx:, dx:] = A, Cy
    if coupling > 0 and dx > 0 and dy > 0:
        W = rng.standard_normal((dx, dy))
        W /= np.linalg.norm(W, 2)
        B = coupling * sym_sqrt(ea, Ua) @ W @ sym_sqrt(ec, Uc)
        H[:dx, dx:], H[dx:, :dx] = B, B.T
    H = 0.5 * (H + H.T)
    centres = spread * rng.standard_normal((n, dx + dy)) / math.sqrt(dx + dy)
    centres -= centres.mean(0)  # c_bar = 0: the minimiser is the origin
    x0, y0 = random_start(rng, dx, dy, start)
    return BlockQuadratic(H, centres, dx, x0=x0, y0=y0, dtype=dtype, spec=spec)
