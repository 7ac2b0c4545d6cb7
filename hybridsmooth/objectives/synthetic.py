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

It also holds the sublevel-set gradient bounds of THEORY 3.3, G = sup{u >= 0 : u^2 <= 2 ell(2u) F}, as
plain functions (generic, power-law ell, and the (L0, L1) closed form).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .. import validate
from ..errors import SpecError
from .base import Constants, FiniteSum, broadcast_blocks, check_finite_float
from .quadratic import BlockQuadratic, random_orthogonal

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


def _expand_index(idx: Tensor, batch: torch.Size, device: torch.device) -> Tensor:
    """A LongTensor idx broadcast to the batch shape, with the same rule as ``base.select_samples``."""
    idx = torch.as_tensor(idx, device=device).long()
    return idx.expand(batch) if idx.dim() <= len(batch) else idx


def _ridge_grad(z: Tensor, A: Tensor, t: Tensor, weights: Tensor, idx) -> Tensor:
    """Gradient in z of the Cauchy ridge sum sum_i w_i rho(a_i^T z - t_i) (idx None) or of one term."""
    if idx is None:
        r = z @ A.T - t                                   # (..., n)
        return (weights * cauchy_rho_prime(r)) @ A
    if isinstance(idx, int):
        r = z @ A[idx] - t[idx]
        return cauchy_rho_prime(r).unsqueeze(-1) * A[idx]
    idx = _expand_index(idx, z.shape[:-1], z.device)
    a = A[idx]                                            # (..., d)
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


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value}")


def _check_memory(problem: str, n_floats: int, **sizes: int) -> None:
    """Refuse sizes whose float64 arrays cannot fit in memory, before numpy tries (and fails with a
    multi-line error, or swaps for minutes)."""
    named = ", ".join(f"{k}={v}" for k, v in sizes.items())
    validate.check_allocation(n_floats, 8, f"{problem}: {named}", error=SpecError)


def _start_point(rng: np.random.Generator, d: int, start: float) -> np.ndarray:
    """A random starting point at distance about ``start`` from the origin."""
    return start * rng.standard_normal(d) / math.sqrt(max(d, 1))


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

    def __init__(self, A: Tensor, t: Tensor, d_x: int, *, s: float = 1.0, x0=None, y0=None,
                 dtype=torch.float64, device="cpu", spec: str = ""):
        A = torch.as_tensor(A, dtype=dtype, device=device)
        t = torch.as_tensor(t, dtype=dtype, device=device)
        if A.dim() != 2 or t.shape != (A.shape[0],):
            raise ValueError(f"need A of shape (n, d) and t of shape (n,), got {tuple(A.shape)} and {tuple(t.shape)}")
        if not 0 <= d_x <= A.shape[1]:
            raise ValueError(f"d_x must lie in [0, {A.shape[1]}], got {d_x}")
        s = check_finite_float("s (Young parameter)", s, positive=True)
        self.A, self.t, self.young_s = A, t, s
        n = A.shape[0]
        super().__init__(n=n, d_x=d_x, d_y=A.shape[1] - d_x, dtype=dtype, device=device,
                         constants=self._constants(A.cpu().numpy(), t.cpu().numpy(), d_x, s), x0=x0, y0=y0,
                         spec=spec)

    @staticmethod
    def _constants(A: np.ndarray, t: np.ndarray, d_x: int, s: float) -> Constants:
        n = A.shape[0]
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
            L_x=beta * top_xx, L_y=beta * top_yy, L_xy=L_xy,
            L_x_max=beta * float(sq_x.max(initial=0.0)), L_y_max=beta * float(sq_y.max(initial=0.0)),
            sigma2_x=float(sq_x.mean()), sigma2_y=float(sq_y.mean()), f_star=0.0,
            joint_L_x=beta * (1 + s) * float(sq_x.max(initial=0.0)),
            joint_L_y=beta * (1 + 1 / s) * float(sq_y.max(initial=0.0)),
            notes=("bounds, not exact values: L_x, L_y = 2||M_bb|| (M = mean a_i a_i^T); L_xy = min(2 mean "
                   "||a_ix|| ||a_iy||, 2.25 sqrt(||M_xx|| ||M_yy||)); sigma2_b = mean_i ||a_ib||^2; joint_L (R1, "
                   f"THEORY 3.5) with Young s={s:g}. L_b_max = 2 max_i ||a_ib||^2 is a bound that is also the exact "
                   "sup (attained where r_i = 0). f_star = 0 is "
                   + ("exact (a_i^T z = t_i is solvable)" if solvable else
                      "a lower bound (a_i^T z = t_i has no solution, so inf f > 0)")),
        )

    def _z(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.cat(broadcast_blocks(x, y), dim=-1)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        return cauchy_rho(self._z(x, y) @ self.A.T - self.t)

    def grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        g = _ridge_grad(self._z(x, y), self.A, self.t, self.weights, idx)
        return g[..., : self.d_x], g[..., self.d_x:]

    def sample_hessians(self, x: Tensor, y: Tensor) -> Tensor:
        """Exact per-sample Hessians rho''(r_i) a_i a_i^T, shape ``batch + (n, d, d)``."""
        r = self._z(x, y) @ self.A.T - self.t
        return cauchy_rho_second(r)[..., None, None] * (self.A[:, :, None] * self.A[:, None, :])


def make_cauchy(*, dx: int = 10, dy: int = 4, n: int = 16, seed: int = 0, scale: float = 1.0,
                target: float = 1.0, s: float = 1.0, start: float = 3.0, spec: str = "",
                dtype=torch.float64) -> CauchySum:
    """Cauchy-loss sum with a_i ~ scale * N(0, I_d / d) (so ||a_i|| ~ scale), t_i ~ target * N(0, 1)."""
    _check_sizes(dx=dx, dy=dy)
    if n < 1 or dx + dy < 1:
        raise ValueError(f"need n >= 1 and dx + dy >= 1, got n={n}, dx={dx}, dy={dy}")
    scale = check_finite_float("scale", scale)
    target = check_finite_float("target", target)
    # A and its working copies (n x d), M = A^T A / n and its blocks (d x d)
    _check_memory("cauchy", 4 * n * (dx + dy) + 2 * (dx + dy) ** 2, dx=dx, dy=dy, n=n)
    rng = np.random.default_rng(seed)
    d = dx + dy
    A = scale * rng.standard_normal((n, d)) / math.sqrt(d)
    t = target * rng.standard_normal(n)
    z0 = _start_point(rng, d, check_finite_float("start", start))
    return CauchySum(torch.as_tensor(A), torch.as_tensor(t), dx, s=s, x0=torch.as_tensor(z0[:dx]),
                     y0=torch.as_tensor(z0[dx:]), dtype=dtype, spec=spec)


# --- 2. quartic plus quadratic, and the sublevel-set gradient bounds ----------------------------------------


def quartic_ell_x(u):
    """ell_x(u) = 3 u^(2/3) for f = 1/4||x||^4 + ... (THEORY check 6): ||grad^2_xx f|| = 3||x||^2 and
    ||x||^3 = ||grad_x f|| <= ||grad f||, so ||grad^2_xx f|| <= 3 ||grad f||^(2/3)."""
    if isinstance(u, Tensor):
        return 3 * u.clamp_min(0) ** (2.0 / 3.0)
    return 3 * max(float(u), 0.0) ** (2.0 / 3.0)


def gradient_bound_on_sublevel_set(ell: Callable[[float], float], F: float, *, rtol: float = 1e-14) -> float:
    """G = sup{u >= 0 : u^2 <= 2 ell(2u) F}, the gradient bound on {f - f* <= F} (THEORY 3.3, [LI] Lemma 3.5).

    Found by doubling then bisection; this finds the sup when u -> u^2 / ell(2u) is increasing (true for the
    power family c u^p with p < 2 and for (L0, L1) smoothness), which the caller must make sure of.
    """
    F = check_finite_float("F", F)
    if F < 0:
        raise ValueError(f"F must be non-negative, got {F}")
    holds = lambda u: u * u <= 2.0 * float(ell(2.0 * u)) * F  # noqa: E731
    if F == 0 or not holds(1e-300):
        return 0.0
    lo, hi = 0.0, 1.0
    for _ in range(2100):
        if not holds(hi):
            break
        lo, hi = hi, 2 * hi
    else:
        raise ValueError("ell is not sub-quadratic: u^2 <= 2 ell(2u) F holds for every u tried")
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if holds(mid) else (lo, mid)
    return lo


def gradient_bound_power_ell(c: float, p: float, F: float) -> float:
    """Closed form of G for ell(u) = c u^p, p < 2: u^(2-p) = 2^(1+p) c F (THEORY 3.3)."""
    if not p < 2:
        raise ValueError(f"the power p must be below 2 (sub-quadratic ell), got {p}")
    return (2.0 ** (1 + p) * c * F) ** (1.0 / (2 - p))


def gradient_bound_l0l1(F: float, *, L0_x: float, L1_x: float, L0_y: float, L1_y: float) -> float:
    """G_safe for ell_b(u) = L0_b + L1_b u, using ell_x + ell_y (THEORY 3.3):
    G_safe = 2F(L1x + L1y) + sqrt(4F^2 (L1x + L1y)^2 + 2F(L0x + L0y))."""
    L0, L1 = L0_x + L0_y, L1_x + L1_y
    return 2 * F * L1 + math.sqrt(4 * F * F * L1 * L1 + 2 * F * L0)


@dataclass(frozen=True)
class QuarticSublevelConstants:
    """Exact constants of the quartic instance on G_F = {f - f* <= F} = {1/4||x||^4 + 1/2 L_y||y||^2 <= F}.

    R_x = (4F)^(1/4), R_y = sqrt(2F / L_y) (the largest ||x||, ||y|| in G_F);
    G = sup ||grad f|| = sqrt(max((4F)^(3/2), 2 L_y F)) (||grad f||^2 = ||x||^6 + L_y^2||y||^2 is maximised at an end
    of the boundary, the interior stationary point ||x||^2 = L_y/3 being a minimum);
    L_x = 3 R_x^2, L_y = L_y; G_x_max = R_x^3 + max_i ||a_i||, G_y_max = L_y (R_y + max_i ||c_i||) (S9).
    """

    F: float
    R_x: float
    R_y: float
    G: float
    L_x: float
    L_y: float
    G_x_max: float
    G_y_max: float


class QuarticSum(FiniteSum):
    """f_i(x, y) = 1/4||x||^4 + <a_i, x> + 1/2 L_y ||y - c_i||^2 with sum a_i = sum c_i = 0 (THEORY checks 6, 14).

    f = 1/4||x||^4 + 1/2 L_y ||y||^2 + 1/2 L_y mean_i ||c_i||^2, so f* = 1/2 L_y mean ||c_i||^2 (at 0).
    grad^2_xx f_i = ||x||^2 I + 2 x x^T has norm 3||x||^2, unbounded: L_x is None globally; it is
    (ell_x, ell_y) = (3 u^(2/3), L_y)-smooth (THEORY 3.3). grad f_i - grad f = (a_i, -L_y c_i) does not depend
    on z, so sigma_x^2 = mean ||a_i||^2 and sigma_y^2 = L_y^2 mean ||c_i||^2 exactly.
    """

    name = "quartic"

    def __init__(self, a: Tensor, c: Tensor, *, Ly: float, x0=None, y0=None, dtype=torch.float64,
                 device="cpu", spec: str = ""):
        a = torch.as_tensor(a, dtype=dtype, device=device)
        c = torch.as_tensor(c, dtype=dtype, device=device)
        if a.dim() != 2 or c.dim() != 2 or a.shape[0] != c.shape[0]:
            raise ValueError(f"need a of shape (n, d_x) and c of shape (n, d_y), got {tuple(a.shape)}, {tuple(c.shape)}")
        self.Ly = check_finite_float("Ly", Ly, positive=True)
        an, cn = a.cpu().numpy(), c.cpu().numpy()
        tol = 16 * torch.finfo(dtype).eps * a.shape[0]         # rounding of a centred sum in this dtype
        for name, m in (("a", an), ("c", cn)):
            if np.abs(m.sum(0)).max(initial=0.0) > tol * max(1.0, np.abs(m).max(initial=0.0)):
                raise ValueError(f"the rows of {name} must sum to zero (so that f has the stated minimiser)")
        self.a, self.c = a, c
        sq_c = float((cn**2).sum(1).mean())
        consts = Constants(
            L_x=None, L_y=self.Ly, L_xy=0.0, L_x_max=None, L_y_max=self.Ly,
            sigma2_x=float((an**2).sum(1).mean()), sigma2_y=self.Ly**2 * sq_c, f_star=0.5 * self.Ly * sq_c,
            notes=("exact: L_y, L_xy = 0, sigma2 (z-independent), f_star; L_x unbounded globally "
                   "(use sublevel_constants(F): L_x = 3 R_x^2 on G_F), ell_x(u) = 3 u^(2/3), ell_y = L_y"),
        )
        super().__init__(n=a.shape[0], d_x=a.shape[1], d_y=c.shape[1], dtype=dtype, device=device,
                         constants=consts, x0=x0, y0=y0, spec=spec)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        quart = 0.25 * (x * x).sum(-1) ** 2
        lin = x @ self.a.T                                            # (..., n)
        dev = y.unsqueeze(-2) - self.c                                # (..., n, d_y)
        return quart.unsqueeze(-1) + lin + 0.5 * self.Ly * (dev * dev).sum(-1)

    def grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        gx = (x * x).sum(-1, keepdim=True) * x
        if idx is None:
            w = self.weights
            return gx + w @ self.a, self.Ly * (y - w @ self.c)
        if not isinstance(idx, int):
            idx = _expand_index(idx, x.shape[:-1], x.device)
        return gx + self.a[idx], self.Ly * (y - self.c[idx])

    def ell_x(self, u):
        return quartic_ell_x(u)

    def ell_y(self, u):
        return torch.full_like(u, self.Ly) if isinstance(u, Tensor) else self.Ly

    def sublevel_constants(self, F: float) -> QuarticSublevelConstants:
        """The exact constants of THEORY 3.4 on G_F (see ``QuarticSublevelConstants``)."""
        F = check_finite_float("F", F)
        if F < 0:
            raise ValueError(f"F must be non-negative, got {F}")
        R_x, R_y = (4 * F) ** 0.25, math.sqrt(2 * F / self.Ly)
        max_a = float(np.linalg.norm(self.a.cpu().numpy(), axis=1).max(initial=0.0))
        max_c = float(np.linalg.norm(self.c.cpu().numpy(), axis=1).max(initial=0.0))
        return QuarticSublevelConstants(
            F=F, R_x=R_x, R_y=R_y, G=math.sqrt(max((4 * F) ** 1.5, 2 * self.Ly * F)), L_x=3 * R_x**2,
            L_y=self.Ly, G_x_max=R_x**3 + max_a, G_y_max=self.Ly * (R_y + max_c))


def make_quartic(*, dx: int = 20, dy: int = 5, n: int = 8, Ly: float = 1.0, hetero: float = 1.0,
                 seed: int = 0, start: float = 1.0, spec: str = "", dtype=torch.float64) -> QuarticSum:
    """Quartic-plus-quadratic sum; ``hetero`` scales the centred a_i, c_i (hetero = 0: check 6's instance,
    f = 1/4||x||^4 + 1/2 L_y||y||^2, f* = 0)."""
    _check_sizes(dx=dx, dy=dy)
    if n < 1:
        raise ValueError(f"need n >= 1, got {n}")
    hetero = check_finite_float("hetero", hetero)
    _check_memory("quartic", 4 * n * (dx + dy), dx=dx, dy=dy, n=n)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, dx)) / math.sqrt(max(dx, 1))
    c = rng.standard_normal((n, dy)) / math.sqrt(max(dy, 1))
    a, c = hetero * (a - a.mean(0)), hetero * (c - c.mean(0))
    z0 = _start_point(rng, dx + dy, check_finite_float("start", start))
    return QuarticSum(torch.as_tensor(a), torch.as_tensor(c), Ly=Ly, x0=torch.as_tensor(z0[:dx]),
                      y0=torch.as_tensor(z0[dx:]), dtype=dtype, spec=spec)


# --- 3./4. ZO bias instances (THEORY 4.5) -----------------------------------------------------------------


class _SeparableXPlusQuadraticY(FiniteSum):
    """n = 1 objectives phi(x) + 1/2 L_y ||y||^2; subclasses give phi, its gradient and its smoothing."""

    def __init__(self, *, d_x: int, d_y: int, Ly: float, constants: Constants, x0=None, y0=None,
                 dtype=torch.float64, device="cpu", spec: str = ""):
        self.Ly = check_finite_float("Ly", Ly)
        super().__init__(n=1, d_x=d_x, d_y=d_y, dtype=dtype, device=device, constants=constants,
                         x0=x0, y0=y0, spec=spec)

    def _phi(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _phi_grad(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        return (self._phi(x) + 0.5 * self.Ly * (y * y).sum(-1)).unsqueeze(-1)

    def grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        return self._phi_grad(x), self.Ly * y

    def smoothing_bias(self, x: Tensor, y: Tensor, mu: float) -> Tensor:
        """grad_x f_mu - grad_x f, the bias of both Gaussian ZO forms (NS-3)."""
        return self.smoothed_grad_x(x, y, mu) - self.grad(x, y)[0]

    def smoothed_grad_x(self, x: Tensor, y: Tensor, mu: float) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError


class CosSum(_SeparableXPlusQuadraticY):
    """f(x, y) = sum_j cos(omega x_j) + 1/2 L_y ||y||^2, n = 1 (THEORY 4.5).

    Smoothing in x: E cos(omega (x_j + mu u)) = e^{-omega^2 mu^2 / 2} cos(omega x_j), so
    f_mu = e^{-omega^2 mu^2/2} phi(x) + 1/2 L_y||y||^2 and bias = (e^{-omega^2 mu^2/2} - 1) grad_x f exactly.
    Constants exact: L_x = omega^2 (attained at x = 0), L_y, L_xy = 0, sigma = 0, f* = -d_x (for L_y >= 0).
    """

    name = "cossum"

    def __init__(self, *, d_x: int, d_y: int, omega: float, Ly: float, x0=None, y0=None, dtype=torch.float64,
                 device="cpu", spec: str = ""):
        self.omega = check_finite_float("omega", omega, positive=True)
        w2 = self.omega**2
        consts = Constants(L_x=w2, L_y=abs(Ly), L_xy=0.0, L_x_max=w2, L_y_max=abs(Ly), sigma2_x=0.0, sigma2_y=0.0,
                           f_star=-float(d_x) if Ly >= 0 else -math.inf, joint_L_x=w2, joint_L_y=abs(Ly),
                           notes="all exact (grad^2 f = diag(-omega^2 cos(omega x_j), L_y I)); n = 1")
        super().__init__(d_x=d_x, d_y=d_y, Ly=Ly, constants=consts, x0=x0, y0=y0, dtype=dtype, device=device,
                         spec=spec)

    def smoothing_factor(self, mu: float) -> float:
        """e^{-omega^2 mu^2 / 2}: f_mu's x-part over f's x-part."""
        return math.exp(-0.5 * (self.omega * mu) ** 2)

    def _phi(self, x: Tensor) -> Tensor:
        return torch.cos(self.omega * x).sum(-1)

    def _phi_grad(self, x: Tensor) -> Tensor:
        return -self.omega * torch.sin(self.omega * x)

    def smoothed_loss(self, x: Tensor, y: Tensor, mu: float) -> Tensor:
        """f_mu(x, y) = E_u f(x + mu u, y), exactly."""
        x, y = broadcast_blocks(x, y)
        return self.smoothing_factor(mu) * self._phi(x) + 0.5 * self.Ly * (y * y).sum(-1)

    def smoothed_grad_x(self, x: Tensor, y: Tensor, mu: float) -> Tensor:
        x, _ = broadcast_blocks(x, y)
        return self.smoothing_factor(mu) * self._phi_grad(x)


def make_cossum(*, dx: int = 20, dy: int = 1, omega: float = 2.0, Ly: float = 1.0, seed: int = 0,
                start: float = 1.0, spec: str = "", dtype=torch.float64) -> CosSum:
    _check_sizes(dx=dx, dy=dy)
    _check_memory("cossum", 4 * (dx + dy), dx=dx, dy=dy)
    rng = np.random.default_rng(seed)
    z0 = _start_point(rng, dx + dy, check_finite_float("start", start))
    return CosSum(d_x=dx, d_y=dy, omega=omega, Ly=Ly, x0=torch.as_tensor(z0[:dx]), y0=torch.as_tensor(z0[dx:]),
                  dtype=dtype, spec=spec)


class SignedQuadratic(_SeparableXPlusQuadraticY):
    """f(x, y) = sum_j (L/2) x_j |x_j| + 1/2 L_y ||y||^2, n = 1: C^1, not C^2 (THEORY 4.5).

    grad_x f = L |x| (elementwise) is L-Lipschitz. With X = x_j + mu u ~ N(x_j, mu^2) (folded normal):
        d/dx_j f_mu = L E|X| = L [mu sqrt(2/pi) e^{-x_j^2/(2 mu^2)} + x_j erf(x_j / (mu sqrt 2))],
        E[X|X|]     = (x_j^2 + mu^2) erf(x_j / (mu sqrt 2)) + x_j mu sqrt(2/pi) e^{-x_j^2/(2 mu^2)}.
    At x = 0 the bias is L mu sqrt(2/pi) 1, of norm L mu sqrt(2 d/pi): O(mu), the (NS-2) regime.
    f is unbounded below (f* = -inf); it is a ZO bias instance, not an optimisation problem.
    """

    name = "signedquad"

    def __init__(self, *, d_x: int, d_y: int, L: float, Ly: float, x0=None, y0=None, dtype=torch.float64,
                 device="cpu", spec: str = ""):
        self.L = check_finite_float("L", L, positive=True)
        consts = Constants(L_x=self.L, L_y=abs(Ly), L_xy=0.0, L_x_max=self.L, L_y_max=abs(Ly), sigma2_x=0.0,
                           sigma2_y=0.0, f_star=-math.inf, joint_L_x=self.L, joint_L_y=abs(Ly),
                           notes=("exact: L_x = L is the Lipschitz constant of grad_x f (the Hessian L sign(x_j) "
                                  "exists off the axes only); f is unbounded below (f_star = -inf); n = 1"))
        super().__init__(d_x=d_x, d_y=d_y, Ly=Ly, constants=consts, x0=x0, y0=y0, dtype=dtype, device=device,
                         spec=spec)

    def _phi(self, x: Tensor) -> Tensor:
        return (0.5 * self.L * x * x.abs()).sum(-1)

    def _phi_grad(self, x: Tensor) -> Tensor:
        return self.L * x.abs()

    def smoothed_loss(self, x: Tensor, y: Tensor, mu: float) -> Tensor:
        """f_mu(x, y) = E_u f(x + mu u, y), exactly (folded-normal moments)."""
        x, y = broadcast_blocks(x, y)
        erf = torch.erf(x / (mu * math.sqrt(2)))
        gauss = torch.exp(-0.5 * (x / mu) ** 2)
        signed_second = (x * x + mu * mu) * erf + x * mu * math.sqrt(2 / math.pi) * gauss
        return 0.5 * self.L * signed_second.sum(-1) + 0.5 * self.Ly * (y * y).sum(-1)

    def smoothed_grad_x(self, x: Tensor, y: Tensor, mu: float) -> Tensor:
        x, _ = broadcast_blocks(x, y)
        erf = torch.erf(x / (mu * math.sqrt(2)))
        gauss = torch.exp(-0.5 * (x / mu) ** 2)
        return self.L * (mu * math.sqrt(2 / math.pi) * gauss + x * erf)

    def bias_norm_at_zero(self, mu: float) -> float:
        """||grad f_mu(0) - grad f(0)|| = L mu sqrt(2 d_x / pi) (THEORY 4.5)."""
        return self.L * mu * math.sqrt(2 * self.d_x / math.pi)


def make_signedquad(*, dx: int = 20, dy: int = 1, L: float = 1.0, Ly: float = 1.0, seed: int = 0,
                    start: float = 0.0, spec: str = "", dtype=torch.float64) -> SignedQuadratic:
    """Signed quadratic; the default start is x = 0, where the bias is known in closed form."""
    _check_sizes(dx=dx, dy=dy)
    _check_memory("signedquad", 4 * (dx + dy), dx=dx, dy=dy)
    rng = np.random.default_rng(seed)
    z0 = _start_point(rng, dx + dy, check_finite_float("start", start))
    return SignedQuadratic(d_x=dx, d_y=dy, L=L, Ly=Ly, x0=torch.as_tensor(z0[:dx]), y0=torch.as_tensor(z0[dx:]),
                           dtype=dtype, spec=spec)


# --- 5. individual vs average smoothness (check 15) ---------------------------------------------------------


def falsifier_epoch_multiplier(eta, K):
    """One RR epoch of FO steps on the y-block of ``falsifier`` multiplies y by (1 - eta K)(1 - eta (2 - K))
    whatever the order (THEORY check 15). Plain arithmetic, so ``fractions.Fraction`` inputs stay exact."""
    return (1 - eta * K) * (1 - eta * (2 - K))


class Falsifier(FiniteSum):
    """n = 2: f_1 = 1/2||x||^2 + (K/2)||y||^2, f_2 = 1/2||x||^2 + ((2 - K)/2)||y||^2 (THEORY check 15).

    f = 1/2||x||^2 + 1/2||y||^2, so L_x = L_y = 1 (the "L of f"), but L_y_max = max(K, |2 - K|).
    The x-block 1/2||x||^2 is the same in both samples (sigma_x = 0) and only exists so that the hybrid
    optimizer has a ZO block; dx = 0 removes it. sigma_y^2 = (K - 1)^2 ||y||^2 is unbounded (None).
    """

    name = "falsifier"

    def __init__(self, *, K: float, d_x: int, d_y: int, x0=None, y0=None, dtype=torch.float64, device="cpu",
                 spec: str = ""):
        self.K = check_finite_float("K", K)
        self.curvatures = torch.tensor([self.K, 2 - self.K], dtype=dtype, device=device)
        L_y_max = max(abs(self.K), abs(2 - self.K))
        consts = Constants(L_x=1.0 if d_x else 0.0, L_y=1.0, L_xy=0.0, L_x_max=1.0 if d_x else 0.0, L_y_max=L_y_max,
                           sigma2_x=0.0, sigma2_y=None, f_star=0.0, joint_L_x=1.0 if d_x else 0.0,
                           joint_L_y=L_y_max,
                           notes=("exact; sigma2_y = (K - 1)^2 ||y||^2 is unbounded (None); the x-block "
                                  "1/2||x||^2 is a shared filler for the hybrid optimizer"))
        super().__init__(n=2, d_x=d_x, d_y=d_y, dtype=dtype, device=device, constants=consts, x0=x0, y0=y0,
                         spec=spec)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        xx, yy = (x * x).sum(-1, keepdim=True), (y * y).sum(-1, keepdim=True)
        return 0.5 * xx + 0.5 * self.curvatures * yy

    def grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        if idx is None:
            k = self.weights @ self.curvatures
            return x.clone(), k * y
        if isinstance(idx, int):
            return x.clone(), self.curvatures[idx] * y
        k = self.curvatures[_expand_index(idx, x.shape[:-1], x.device)]
        return x.clone(), k.unsqueeze(-1) * y

    def epoch_multiplier(self, eta) -> float:
        return falsifier_epoch_multiplier(eta, self.K)


def make_falsifier(*, K: float = 100.0, dx: int = 1, dy: int = 1, start: float = 1.0, spec: str = "",
                   dtype=torch.float64) -> Falsifier:
    """Falsifier with x0 = y0 = start * 1 (a deterministic start: the instance has no randomness)."""
    _check_sizes(dx=dx, dy=dy)
    if dy < 1:
        raise ValueError(f"the falsifier acts on the y-block, need dy >= 1, got {dy}")
    start = check_finite_float("start", start)
    _check_memory("falsifier", 4 * (dx + dy), dx=dx, dy=dy)
    return Falsifier(K=K, d_x=dx, d_y=dy, x0=torch.full((dx,), start, dtype=dtype),
                     y0=torch.full((dy,), start, dtype=dtype), dtype=dtype, spec=spec)


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

    def __init__(self, B: Tensor, s_h: Tensor, C: Tensor, r: Tensor, d_x: int, *, s: float = 1.0, x0=None,
                 y0=None, dtype=torch.float64, device="cpu", spec: str = ""):
        B, s_h, C, r = (torch.as_tensor(v, dtype=dtype, device=device) for v in (B, s_h, C, r))
        if B.dim() != 2 or s_h.shape != (B.shape[0],) or C.dim() != 2 or r.shape != (C.shape[0],):
            raise ValueError("need B (m, d), s_h (m,), C (n, d_y), r (n,)")
        if B.shape[1] != d_x + C.shape[1]:
            raise ValueError(f"B has {B.shape[1]} columns, expected d_x + d_y = {d_x + C.shape[1]}")
        s = check_finite_float("s (Young parameter)", s, positive=True)
        self.B, self.s_h, self.C, self.r, self.young_s = B, s_h, C, r, s
        self.h_weights = torch.full((B.shape[0],), 1.0 / B.shape[0], dtype=dtype, device=device)
        super().__init__(n=C.shape[0], d_x=d_x, d_y=C.shape[1], dtype=dtype, device=device,
                         constants=self._constants(B.cpu().numpy(), C.cpu().numpy(), d_x, s), x0=x0, y0=y0,
                         spec=spec)

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
            L_x=beta * top_hx, L_y=beta * (top_hy + top_g), L_xy=L_xy, L_x_max=beta * top_hx,
            L_y_max=beta * (top_hy + float(sq_c.max())), sigma2_x=0.0, sigma2_y=float(sq_c.mean()), f_star=0.0,
            joint_L_x=beta * lam_x, joint_L_y=beta * lam_y + beta * float(sq_c.max()),
            notes=(f"sigma2_x = 0 exact (grad_x f_i = grad_x h); all other values are bounds: L from "
                   f"rho'' in [-1/4, 2], joint_L (R1) with Young s={s:g} in the M_h inner product, "
                   "sigma2_y = mean ||c_i||^2 (|rho'| <= 1), f_star = 0 a lower bound"),
        )

    def _h_and_g(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        z = torch.cat((x, y), dim=-1)
        h = cauchy_rho(z @ self.B.T - self.s_h) @ self.h_weights          # (...,)
        g = cauchy_rho(y @ self.C.T - self.r)                              # (..., n)
        return h, g

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        h, g = self._h_and_g(x, y)
        return h.unsqueeze(-1) + g

    def grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        gh = _ridge_grad(torch.cat((x, y), dim=-1), self.B, self.s_h, self.h_weights, None)
        gg = _ridge_grad(y, self.C, self.r, self.weights, idx)
        return gh[..., : self.d_x], gh[..., self.d_x:] + gg


def make_interpolating(*, dx: int = 10, dy: int = 4, n: int = 16, m: int = 8, seed: int = 0, scale: float = 1.0,
                       target: float = 1.0, s: float = 1.0, start: float = 3.0, spec: str = "",
                       dtype=torch.float64) -> InterpolatingSum:
    """Interpolating x-block instance: m shared Cauchy terms h (b_j ~ scale N(0, I_d/d)), n sample terms g_i
    on y (c_i ~ scale N(0, I_dy/dy)); targets ~ target * N(0, 1)."""
    _check_sizes(dx=dx)
    if n < 1 or m < 1 or dy < 1:
        raise ValueError(f"need n >= 1, m >= 1 and dy >= 1, got n={n}, m={m}, dy={dy}")
    scale = check_finite_float("scale", scale)
    target = check_finite_float("target", target)
    d = dx + dy
    # B (m x d) and C (n x dy) with working copies, M_h (d x d) and M_g (dy x dy)
    _check_memory("interpolating", 4 * (m * d + n * dy) + 2 * (d * d + dy * dy), dx=dx, dy=dy, n=n, m=m)
    rng = np.random.default_rng(seed)
    B = scale * rng.standard_normal((m, d)) / math.sqrt(d)
    s_h = target * rng.standard_normal(m)
    C = scale * rng.standard_normal((n, dy)) / math.sqrt(dy)
    r = target * rng.standard_normal(n)
    z0 = _start_point(rng, d, check_finite_float("start", start))
    return InterpolatingSum(torch.as_tensor(B), torch.as_tensor(s_h), torch.as_tensor(C), torch.as_tensor(r), dx,
                            s=s, x0=torch.as_tensor(z0[:dx]), y0=torch.as_tensor(z0[dx:]), dtype=dtype, spec=spec)


# --- 7. the two counterexamples of THEORY 3.2 -------------------------------------------------------------


class Bilinear(FiniteSum):
    """f(x, y) = b <x, y>, x, y in R^m, n = 1 (THEORY 3.2, counterexample 1).

    grad_x f = b y does not depend on x, so L_x = L_y = 0, yet f(z1) - f(z2) - <grad f(z2), D> = b <Dx, Dy>
    is positive for suitable moves: (BD) fails with Lambda = 0. (R1) needs Lambda_x Lambda_y >= b^2;
    joint_L_x = joint_L_y = |b| is the symmetric choice. f is unbounded below (f_star = -inf).
    """

    name = "bilinear"

    def __init__(self, *, b: float, m: int, x0=None, y0=None, dtype=torch.float64, device="cpu", spec: str = ""):
        self.b = check_finite_float("b", b)
        ab = abs(self.b)
        consts = Constants(L_x=0.0, L_y=0.0, L_xy=ab, L_x_max=0.0, L_y_max=0.0, sigma2_x=0.0, sigma2_y=0.0,
                           f_star=-math.inf if self.b != 0 else 0.0, joint_L_x=ab, joint_L_y=ab,
                           notes="exact; joint_L: any Lambda_x Lambda_y >= b^2 is valid, |b| each is one choice")
        super().__init__(n=1, d_x=m, d_y=m, dtype=dtype, device=device, constants=consts, x0=x0, y0=y0,
                         spec=spec)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        return (self.b * (x * y).sum(-1)).unsqueeze(-1)

    def grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        return self.b * y, self.b * x


def make_bilinear(*, b: float = 1.0, m: int = 1, start: float = 1.0, spec: str = "",
                  dtype=torch.float64) -> Bilinear:
    if m < 1:
        raise ValueError(f"need m >= 1, got {m}")
    start = check_finite_float("start", start)
    _check_memory("bilinear", 8 * m, m=m)
    return Bilinear(b=b, m=m, x0=torch.full((m,), start, dtype=dtype), y0=torch.full((m,), start, dtype=dtype),
                    dtype=dtype, spec=spec)


def coupled2_hessian(*, m: int, a: float, c: float, s: float, seed: int = 0) -> np.ndarray:
    """H = [[a I_m, B], [B^T, c I_m]] with B = s sqrt(ac) W, W a random orthogonal matrix (THEORY 3.2,
    counterexample 2): every singular value of B is s sqrt(ac), so Lambda^{-1/2} H Lambda^{-1/2} has the
    eigenvalues 1 - s and 1 + s (each m times), with Lambda = diag(a I, c I)."""
    if m < 1:
        raise ValueError(f"need m >= 1, got {m}")
    a = check_finite_float("a", a, positive=True)
    c = check_finite_float("c", c, positive=True)
    s = check_finite_float("s", s)
    if s < 0:
        raise ValueError(f"the coupling s must be non-negative, got {s}")
    W = random_orthogonal(m, np.random.default_rng(seed)) if m > 1 else np.ones((1, 1))
    H = np.zeros((2 * m, 2 * m))
    H[:m, :m], H[m:, m:] = a * np.eye(m), c * np.eye(m)
    H[:m, m:] = s * math.sqrt(a * c) * W
    H[m:, :m] = H[:m, m:].T
    return H


def make_coupled2(*, m: int = 5, a: float = 2.0, c: float = 0.5, s: float = 0.3, n: int = 1, spread: float = 0.0,
                  seed: int = 0, start: float = 1.0, spec: str = "", dtype=torch.float64) -> BlockQuadratic:
    """Block quadratic with H from ``coupled2_hessian`` (checks 5, 9) and centres c_i ~ spread N(0, I/d),
    centred (the minimiser is 0 when s < 1). s >= 1 makes H indefinite or singular (f_star None)."""
    if n < 1:
        raise ValueError(f"need n >= 1, got {n}")
    # H (2m x 2m), the rotation W (m x m) and the working copies of both, the centres (n x 2m)
    _check_memory("coupled2", 6 * (2 * m) ** 2 + 4 * n * m, m=m, n=n)
    H = coupled2_hessian(m=m, a=a, c=c, s=s, seed=seed)
    rng = np.random.default_rng(seed + 1)
    centres = check_finite_float("spread", spread) * rng.standard_normal((n, 2 * m)) / math.sqrt(2 * m)
    centres -= centres.mean(0)
    z0 = _start_point(rng, 2 * m, check_finite_float("start", start))
    return BlockQuadratic(H, centres, m, x0=torch.as_tensor(z0[:m]), y0=torch.as_tensor(z0[m:]), dtype=dtype,
                          spec=spec, notes=(f"exact: L_x = a, L_y = c, L_xy = s sqrt(ac) = {s * math.sqrt(a * c):g}; "
                                            "eig(Lambda^-1/2 H Lambda^-1/2) = 1 -+ s; sigma^2 exact"))


# --- registration -------------------------------------------------------------------------------------------


# What each spec key accepts (checked before anything is built; see hybridsmooth.problems). ``start`` is a
# distance from the origin where the start is a random direction (so >= 0), a coordinate value where the
# start is start * (1, ..., 1) (falsifier, bilinear: any finite number).
_SIZE, _COUNT = validate.at_least(0), validate.at_least(1)
_SEED, _FINITE, _POSITIVE, _DISTANCE = (validate.non_negative_int, validate.finite, validate.positive,
                                        validate.non_negative)
SPEC_RULES = {
    "cauchy": dict(dx=_SIZE, dy=_SIZE, n=_COUNT, seed=_SEED, scale=_FINITE, target=_FINITE, s=_POSITIVE,
                   start=_DISTANCE),
    "quartic": dict(dx=_SIZE, dy=_SIZE, n=_COUNT, Ly=_POSITIVE, hetero=_FINITE, seed=_SEED, start=_DISTANCE),
    "cossum": dict(dx=_SIZE, dy=_SIZE, omega=_POSITIVE, Ly=_FINITE, seed=_SEED, start=_DISTANCE),
    "signedquad": dict(dx=_SIZE, dy=_SIZE, L=_POSITIVE, Ly=_FINITE, seed=_SEED, start=_DISTANCE),
    "falsifier": dict(K=_FINITE, dx=_SIZE, dy=_COUNT, start=_FINITE),
    "interpolating": dict(dx=_SIZE, dy=_COUNT, n=_COUNT, m=_COUNT, seed=_SEED, scale=_FINITE, target=_FINITE,
                          s=_POSITIVE, start=_DISTANCE),
    "bilinear": dict(b=_FINITE, m=_COUNT, start=_FINITE),
    "coupled2": dict(m=_COUNT, a=_POSITIVE, c=_POSITIVE, s=validate.non_negative, n=_COUNT, spread=_DISTANCE,
                     seed=_SEED, start=_DISTANCE),
}


def _register_all() -> None:
    from ..problems import register

    register("cauchy", make_cauchy, dict(dx=10, dy=4, n=16, seed=0, scale=1.0, target=1.0, s=1.0, start=3.0),
             "nonconvex Cauchy-loss sum log(1 + (a_i^T z - t_i)^2); valid Lambda with Young s (THEORY 3.5, check 11)",
             SPEC_RULES["cauchy"])
    register("quartic", make_quartic, dict(dx=20, dy=5, n=8, Ly=1.0, hetero=1.0, seed=0, start=1.0),
             "1/4||x||^4 + <a_i,x> + L_y/2||y - c_i||^2, ell_x = 3u^(2/3); hetero=0 is check 6 (checks 6, 14)",
             SPEC_RULES["quartic"])
    register("cossum", make_cossum, dict(dx=20, dy=1, omega=2.0, Ly=1.0, seed=0, start=1.0),
             "sum_j cos(omega x_j) + L_y/2||y||^2, exact smoothing e^{-omega^2 mu^2/2} (THEORY 4.5)",
             SPEC_RULES["cossum"])
    register("signedquad", make_signedquad, dict(dx=20, dy=1, L=1.0, Ly=1.0, seed=0, start=0.0),
             "sum_j (L/2) x_j|x_j| + L_y/2||y||^2, C^1 not C^2, bias L mu sqrt(2d/pi) at 0 (THEORY 4.5)",
             SPEC_RULES["signedquad"])
    register("falsifier", make_falsifier, dict(K=100.0, dx=1, dy=1, start=1.0),
             "n=2, f_i = ||x||^2/2 + K_i ||y||^2/2, K = (K, 2-K): L_f = 1, L_max = K (check 15)",
             SPEC_RULES["falsifier"])
    register("interpolating", make_interpolating,
             dict(dx=10, dy=4, n=16, m=8, seed=0, scale=1.0, target=1.0, s=1.0, start=3.0),
             "h(x,y) + g_i(y), Cauchy-type, grad_x f_i = grad_x f, sigma_x = 0 (check 12b)",
             SPEC_RULES["interpolating"])
    register("bilinear", make_bilinear, dict(b=1.0, m=1, start=1.0),
             "b <x, y>: L_x = L_y = 0 yet the block descent lemma fails (THEORY 3.2)",
             SPEC_RULES["bilinear"])
    register("coupled2", make_coupled2, dict(m=5, a=2.0, c=0.5, s=0.3, n=1, spread=0.0, seed=0, start=1.0),
             "H = [[a I, B], [B^T, c I]], ||B|| = s sqrt(ac): (BD) ratio s, (G3) ratio 1+s (checks 5, 9)",
             SPEC_RULES["coupled2"])


_register_all()
