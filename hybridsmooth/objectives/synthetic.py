"""Synthetic finite sums whose constants are known in closed form (THEORY 3, 4.5, 6.1 and checks 5-15).

Every instance is a ``FiniteSum`` over flat blocks x (ZO) and y (FO), float64 by default, batched over
leading dimensions, with a closed-form ``grad``. ``constants.notes`` says which values are exact and which
are only valid bounds.

=============== ======================================================================= ====================
spec name       f_i(x, y)                                                                THEORY
=============== ======================================================================= ====================
``cauchy``      log(1 + (a_i^T z - t_i)^2),  z = (x, y)   (nonconvex, rho'' in [-1/4, 2]) 3.5, check 11
``quartic``     1/4 ||x||^4 + <a_i, x> + 1/2 L_y ||y - c_i||^2,  sum a_i = sum c_i = 0     3.3, checks 6, 14
``cossum``      sum_j cos(omega x_j) + 1/2 L_y ||y||^2   (n = 1)                         4.5, checks 2-4
``signedquad``  sum_j (L/2) x_j |x_j| + 1/2 L_y ||y||^2  (n = 1, C^1 but not C^2)        4.5, check 2
``falsifier``   1/2 ||x||^2 + (K_i/2) ||y||^2,  K_1 = K, K_2 = 2 - K   (n = 2)            check 15
``interpolating`` h(x, y) + g_i(y): Cauchy-type h and g_i, so grad_x f_i = grad_x f     check 12b
``bilinear``    b <x, y>   (L_x = L_y = 0, yet (BD) fails)                               3.2
``coupled2``    block quadratic with H = [[a I_m, B], [B^T, c I_m]], ||B|| = s sqrt(ac)  3.2, checks 5, 9
=============== ======================================================================= ====================

This module builds the Cauchy-type sums (``cauchy``, ``interpolating``); the others live in their own
modules: ``quartic.py`` (with the sublevel-set gradient bounds of THEORY 3.3), ``zo_bias.py`` (``cossum``,
``signedquad``) and ``counterexamples.py`` (``falsifier``, ``bilinear``, ``coupled2``). Their names are
importable from here as well. The spec names and keys of every family are listed in ``objectives.registry``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .base import Constants, FiniteSum, broadcast_blocks, check_finite_float
from .checks import check_memory, check_sizes, expand_index, random_start

# Cauchy loss rho(r) = log(1 + r^2): rho'(r) = 2r/(1 + r^2) has |rho'| <= 1, and
# rho''(r) = 2(1 - r^2)/(1 + r^2)^2 ranges over [-1/4, 2] (minimum at r^2 = 3, maximum at r = 0).
CAUCHY_RHO2_MIN = -0.25
CAUCHY_RHO2_MAX = 2.0
CAUCHY_RHO1_MAX = 1.0


def cauchy_rho(r: Tensor) -> Tensor:
    return torch.log1p(r * r)


def cauchy_rho_prime(r: Tensor) -> Tensor:
    return 2 * r / (1 + r * r)


def cauchy_rho_second(r: Tensor) -> Tensor:
    r2 = r * r
    return 2 * (1 - r2) / (1 + r2) ** 2


# --- small shared helpers ---------------------------------------------------------------------------


def _ridge_grad(z: Tensor, A: Tensor, t: Tensor, weights: Tensor, idx) -> Tensor:
    """Gradient in z of the Cauchy ridge sum sum_i w_i rho(a_i^T z - t_i) (idx None) or of one term."""
    if idx is None:
        r = z @ A.T - t  # (..., n)
        return (weights * cauchy_rho_prime(r)) @ A
    if isinstance(idx, int):
        r = z @ A[idx] - t[idx]
        return cauchy_rho_prime(r).unsqueeze(-1) * A[idx]
    idx = expand_index(idx, z.shape[:-1], z.device)
    a = A[idx]  # (..., d)
    r = (z * a).sum(-1) - t[idx]
    return cauchy_rho_prime(r).unsqueeze(-1) * a


def _top_eig(M: np.ndarray) -> float:
    return float(np.linalg.eigvalsh(M)[-1]) if M.size else 0.0


def _finite_second_moment(A: np.ndarray) -> np.ndarray:
    """mean_i a_i a_i^T; rows too large for float64 overflow here first, and the eigensolver would then
    only say that it did not converge."""
    M = A.T @ A / A.shape[0]
    if not np.isfinite(M).all():
        raise ValueError("the data overflow float64 (mean a_i a_i^T is not finite): lower scale")
    return M


def _young_joint_lambda(M: np.ndarray, d_x: int, s: float) -> tuple[float, float]:
    """Valid (Lambda_x, Lambda_y) with 0 <= M <= diag(Lambda_x I, Lambda_y I) for a PSD M = [[P, Q], [Q^T, R]].

    Young's inequality in the M inner product: (u + w)^T M (u + w) <= (1 + s) u^T M u + (1 + 1/s) w^T M w,
    so M <= diag((1 + s) ||P|| I, (1 + 1/s) ||R|| I) for every s > 0 (THEORY 3.5).
    """
    return (1 + s) * _top_eig(M[:d_x, :d_x]), (1 + 1 / s) * _top_eig(M[d_x:, d_x:])


# --- 1. Cauchy-loss finite sum ------------------------------------------------------------------------


class CauchySum(FiniteSum):
    """f_i(z) = log(1 + (a_i^T z - t_i)^2), z = (x, y): a nonconvex ridge sum (THEORY 3.5, check 11).

    grad f_i = rho'(r_i) a_i and grad^2 f_i = rho''(r_i) a_i a_i^T with r_i = a_i^T z - t_i,
    |rho'| <= 1 and rho'' in [-1/4, 2]. Hence, with M = sum_i w_i a_i a_i^T:

    * (R1) holds with Lambda_x = 2(1 + s) max_i ||a_{i,x}||^2, Lambda_y = 2(1 + 1/s) max_i ||a_{i,y}||^2 (any s > 0);
    * L_x <= 2 ||M_xx||, L_y <= 2 ||M_yy|| (since -M/4 <= grad^2 f <= 2M), L_b,max <= 2 max_i ||a_{i,b}||^2;
    * sigma_b^2 <= sum_i w_i ||a_{i,b}||^2 (variance <= second moment, |rho'| <= 1); f* >= 0.
    """

    name = "cauchy"

    def __init__(
        self,
        A: Tensor,
        t: Tensor,
        d_x: int,
        *,
        s: float = 1.0,
        x0=None,
        y0=None,
        dtype=torch.float64,
        device="cpu",
        spec: str = "",
    ):
        A = torch.as_tensor(A, dtype=dtype, device=device)
        t = torch.as_tensor(t, dtype=dtype, device=device)
        if A.dim() != 2 or t.shape != (A.shape[0],):
            raise ValueError(f"need A of shape (n, d) and t of shape (n,), got {tuple(A.shape)} and {tuple(t.shape)}")
        if not 0 <= d_x <= A.shape[1]:
            raise ValueError(f"d_x must lie in [0, {A.shape[1]}], got {d_x}")
        s = check_finite_float("s (Young parameter)", s, positive=True)
        self.A, self.t, self.young_s = A, t, s
        n = A.shape[0]
        super().__init__(
            n=n,
            d_x=d_x,
            d_y=A.shape[1] - d_x,
            dtype=dtype,
            device=device,
            constants=self._constants(A.cpu().numpy(), t.cpu().numpy(), d_x, s),
            x0=x0,
            y0=y0,
            spec=spec,
        )

    @staticmethod
    def _constants(A: np.ndarray, t: np.ndarray, d_x: int, s: float) -> Constants:
        Ax, Ay = A[:, :d_x], A[:, d_x:]
        sq_x, sq_y = (Ax**2).sum(1), (Ay**2).sum(1)
        M = _finite_second_moment(A)
        beta, alpha = CAUCHY_RHO2_MAX, -CAUCHY_RHO2_MIN
        top_xx, top_yy = _top_eig(M[:d_x, :d_x]), _top_eig(M[d_x:, d_x:])
        # cross block: triangle inequality, or the PSD parts P+ <= beta M, P- <= alpha M with
        # ||P_xy|| <= sqrt(||P_xx|| ||P_yy||) for PSD P; both are valid, keep the smaller
        L_xy = min(beta * float(np.mean(np.sqrt(sq_x * sq_y))), (beta + alpha) * math.sqrt(top_xx * top_yy))
        # f* = 0 exactly when every residual can vanish at once (a_i^T z = t_i solvable)
        sol = np.linalg.lstsq(A, t, rcond=None)[0]
        solvable = bool(np.max(np.abs(A @ sol - t)) <= 1e-10 * max(1.0, float(np.max(np.abs(t)))))
        return Constants(
            L_x=beta * top_xx,
            L_y=beta * top_yy,
            L_xy=L_xy,
            L_x_max=beta * float(sq_x.max(initial=0.0)),
            L_y_max=beta * float(sq_y.max(initial=0.0)),
            sigma2_x=float(sq_x.mean()),
            sigma2_y=float(sq_y.mean()),
            f_star=0.0,
            joint_L_x=beta * (1 + s) * float(sq_x.max(initial=0.0)),
            joint_L_y=beta * (1 + 1 / s) * float(sq_y.max(initial=0.0)),
            notes=(
                "bounds, not exact values: L_x, L_y = 2||M_bb|| (M = mean a_i a_i^T); L_xy = min(2 mean "
                "||a_ix|| ||a_iy||, 2.25 sqrt(||M_xx|| ||M_yy||)); sigma2_b = mean_i ||a_ib||^2; joint_L (R1, "
                f"THEORY 3.5) with Young s={s:g}. L_b_max = 2 max_i ||a_ib||^2 is a bound that is also the exact "
                "sup (attained where r_i = 0). f_star = 0 is "
                + (
                    "exact (a_i^T z = t_i is solvable)"
                    if solvable
                    else "a lower bound (a_i^T z = t_i has no solution, so inf f > 0)"
                )
            ),
        )

    def _z(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.cat(broadcast_blocks(x, y), dim=-1)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        return cauchy_rho(self._z(x, y) @ self.A.T - self.t)

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        g = _ridge_grad(self._z(x, y), self.A, self.t, self.weights, idx)
        return g[..., : self.d_x], g[..., self.d_x :]

    def sample_hessians(self, x: Tensor, y: Tensor) -> Tensor:
        """Exact per-sample Hessians rho''(r_i) a_i a_i^T, shape ``batch + (n, d, d)``."""
        r = self._z(x, y) @ self.A.T - self.t
        return cauchy_rho_second(r)[..., None, None] * (self.A[:, :, None] * self.A[:, None, :])


def make_cauchy(
    *,
    dx: int = 10,
    dy: int = 4,
    n: int = 16,
    seed: int = 0,
    scale: float = 1.0,
    target: float = 1.0,
    s: float = 1.0,
    start: float = 3.0,
    spec: str = "",
    dtype=torch.float64,
) -> CauchySum:
    """Cauchy-loss sum with a_i ~ scale * N(0, I_d / d) (so ||a_i|| ~ scale), t_i ~ target * N(0, 1)."""
    check_sizes(dx=dx, dy=dy)
    if n < 1 or dx + dy < 1:
        raise ValueError(f"need n >= 1 and dx + dy >= 1, got n={n}, dx={dx}, dy={dy}")
    scale = check_finite_float("scale", scale)
    target = check_finite_float("target", target)
    # A and its working copies (n x d), M = A^T A / n and its blocks (d x d)
    check_memory("cauchy", 4 * n * (dx + dy) + 2 * (dx + dy) ** 2, dx=dx, dy=dy, n=n)
    rng = np.random.default_rng(seed)
    d = dx + dy
    A = scale * rng.standard_normal((n, d)) / math.sqrt(d)
    t = target * rng.standard_normal(n)
    x0, y0 = random_start(rng, dx, dy, check_finite_float("start", start))
    return CauchySum(torch.as_tensor(A), torch.as_tensor(t), dx, s=s, x0=x0, y0=y0, dtype=dtype, spec=spec)


# --- 6. interpolating x-block (check 12b) -----------------------------------------------------------------


class InterpolatingSum(FiniteSum):
    """f_i(x, y) = h(x, y) + g_i(y) with h = mean_j log(1 + (b_j^T z - s_j)^2), g_i = log(1 + (c_i^T y - r_i)^2).

    grad_x f_i = grad_x h for every i, so sigma_x = 0 exactly (THEORY check 12b). With M_h = mean_j b_j b_j^T,
    M_g = mean_i c_i c_i^T and rho'' in [-1/4, 2] (all bounds, as for ``cauchy``):
    L_x = L_x,max <= 2||M_h,xx||; L_y <= 2(||M_h,yy|| + ||M_g||); L_y,max <= 2(||M_h,yy|| + max_i ||c_i||^2);
    (R1): Lambda_x = 2(1 + s)||M_h,xx||, Lambda_y = 2(1 + 1/s)||M_h,yy|| + 2 max_i ||c_i||^2;
    sigma_y^2 <= mean_i ||c_i||^2; f* >= 0.
    """

    name = "interpolating"

    def __init__(
        self,
        B: Tensor,
        s_h: Tensor,
        C: Tensor,
        r: Tensor,
        d_x: int,
        *,
        s: float = 1.0,
        x0=None,
        y0=None,
        dtype=torch.float64,
        device="cpu",
        spec: str = "",
    ):
        B, s_h, C, r = (torch.as_tensor(v, dtype=dtype, device=device) for v in (B, s_h, C, r))
        if B.dim() != 2 or s_h.shape != (B.shape[0],) or C.dim() != 2 or r.shape != (C.shape[0],):
            raise ValueError("need B (m, d), s_h (m,), C (n, d_y), r (n,)")
        if B.shape[1] != d_x + C.shape[1]:
            raise ValueError(f"B has {B.shape[1]} columns, expected d_x + d_y = {d_x + C.shape[1]}")
        s = check_finite_float("s (Young parameter)", s, positive=True)
        self.B, self.s_h, self.C, self.r, self.young_s = B, s_h, C, r, s
        self.h_weights = torch.full((B.shape[0],), 1.0 / B.shape[0], dtype=dtype, device=device)
        super().__init__(
            n=C.shape[0],
            d_x=d_x,
            d_y=C.shape[1],
            dtype=dtype,
            device=device,
            constants=self._constants(B.cpu().numpy(), C.cpu().numpy(), d_x, s),
            x0=x0,
            y0=y0,
            spec=spec,
        )

    @staticmethod
    def _constants(B: np.ndarray, C: np.ndarray, d_x: int, s: float) -> Constants:
        beta, alpha = CAUCHY_RHO2_MAX, -CAUCHY_RHO2_MIN
        Mh = _finite_second_moment(B)
        Mg = _finite_second_moment(C)
        top_hx, top_hy, top_g = _top_eig(Mh[:d_x, :d_x]), _top_eig(Mh[d_x:, d_x:]), _top_eig(Mg)
        sq_c = (C**2).sum(1)
        lam_x, lam_y = _young_joint_lambda(Mh, d_x, s)
        sq_bx, sq_by = (B[:, :d_x] ** 2).sum(1), (B[:, d_x:] ** 2).sum(1)
        L_xy = min(beta * float(np.mean(np.sqrt(sq_bx * sq_by))), (beta + alpha) * math.sqrt(top_hx * top_hy))
        return Constants(
            L_x=beta * top_hx,
            L_y=beta * (top_hy + top_g),
            L_xy=L_xy,
            L_x_max=beta * top_hx,
            L_y_max=beta * (top_hy + float(sq_c.max())),
            sigma2_x=0.0,
            sigma2_y=float(sq_c.mean()),
            f_star=0.0,
            joint_L_x=beta * lam_x,
            joint_L_y=beta * lam_y + beta * float(sq_c.max()),
            notes=(
                f"sigma2_x = 0 exact (grad_x f_i = grad_x h); all other values are bounds: L from "
                f"rho'' in [-1/4, 2], joint_L (R1) with Young s={s:g} in the M_h inner product, "
                "sigma2_y = mean ||c_i||^2 (|rho'| <= 1), f_star = 0 a lower bound"
            ),
        )

    def _h_and_g(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        z = torch.cat((x, y), dim=-1)
        h = cauchy_rho(z @ self.B.T - self.s_h) @ self.h_weights  # (...,)
        g = cauchy_rho(y @ self.C.T - self.r)  # (..., n)
        return h, g

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        h, g = self._h_and_g(x, y)
        return h.unsqueeze(-1) + g

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        gh = _ridge_grad(torch.cat((x, y), dim=-1), self.B, self.s_h, self.h_weights, None)
        gg = _ridge_grad(y, self.C, self.r, self.weights, idx)
        return gh[..., : self.d_x], gh[..., self.d_x :] + gg


def make_interpolating(
    *,
    dx: int = 10,
    dy: int = 4,
    n: int = 16,
    m: int = 8,
    seed: int = 0,
    scale: float = 1.0,
    target: float = 1.0,
    s: float = 1.0,
    start: float = 3.0,
    spec: str = "",
    dtype=torch.float64,
) -> InterpolatingSum:
    """Interpolating x-block instance: m shared Cauchy terms h (b_j ~ scale N(0, I_d/d)), n sample terms g_i
    on y (c_i ~ scale N(0, I_dy/dy)); targets ~ target * N(0, 1)."""
    check_sizes(dx=dx)
    if n < 1 or m < 1 or dy < 1:
        raise ValueError(f"need n >= 1, m >= 1 and dy >= 1, got n={n}, m={m}, dy={dy}")
    scale = check_finite_float("scale", scale)
    target = check_finite_float("target", target)
    d = dx + dy
    # B (m x d) and C (n x dy) with working copies, M_h (d x d) and M_g (dy x dy)
    check_memory("interpolating", 4 * (m * d + n * dy) + 2 * (d * d + dy * dy), dx=dx, dy=dy, n=n, m=m)
    rng = np.random.default_rng(seed)
    B = scale * rng.standard_normal((m, d)) / math.sqrt(d)
    s_h = target * rng.standard_normal(m)
    C = scale * rng.standard_normal((n, dy)) / math.sqrt(dy)
    r = target * rng.standard_normal(n)
    x0, y0 = random_start(rng, dx, dy, check_finite_float("start", start))
    return InterpolatingSum(
        torch.as_tensor(B),
        torch.as_tensor(s_h),
        torch.as_tensor(C),
        torch.as_tensor(r),
        dx,
        s=s,
        x0=x0,
        y0=y0,
        dtype=dtype,
        spec=spec,
    )
