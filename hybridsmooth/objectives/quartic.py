"""The quartic instance of generalized smoothness (THEORY 3.3, checks 6 and 14) and the sublevel-set gradient
bounds G = sup{u >= 0 : u^2 <= 2 ell(2u) F} as plain functions (generic, power-law ell, (L0, L1) closed form).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .base import Constants, FiniteSum, broadcast_blocks, check_finite_float
from .checks import check_memory, check_sizes, expand_index, random_start


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

    def __init__(
        self, a: Tensor, c: Tensor, *, Ly: float, x0=None, y0=None, dtype=torch.float64, device="cpu", spec: str = ""
    ):
        a = torch.as_tensor(a, dtype=dtype, device=device)
        c = torch.as_tensor(c, dtype=dtype, device=device)
        if a.dim() != 2 or c.dim() != 2 or a.shape[0] != c.shape[0]:
            raise ValueError(
                f"need a of shape (n, d_x) and c of shape (n, d_y), got {tuple(a.shape)}, {tuple(c.shape)}"
            )
        self.Ly = check_finite_float("Ly", Ly, positive=True)
        an, cn = a.cpu().numpy(), c.cpu().numpy()
        tol = 16 * torch.finfo(dtype).eps * a.shape[0]  # rounding of a centred sum in this dtype
        for name, m in (("a", an), ("c", cn)):
            if np.abs(m.sum(0)).max(initial=0.0) > tol * max(1.0, np.abs(m).max(initial=0.0)):
                raise ValueError(f"the rows of {name} must sum to zero (so that f has the stated minimiser)")
        self.a, self.c = a, c
        sq_c = float((cn**2).sum(1).mean())
        consts = Constants(
            L_x=None,
            L_y=self.Ly,
            L_xy=0.0,
            L_x_max=None,
            L_y_max=self.Ly,
            sigma2_x=float((an**2).sum(1).mean()),
            sigma2_y=self.Ly**2 * sq_c,
            f_star=0.5 * self.Ly * sq_c,
            notes=(
                "exact: L_y, L_xy = 0, sigma2 (z-independent), f_star; L_x unbounded globally "
                "(use sublevel_constants(F): L_x = 3 R_x^2 on G_F), ell_x(u) = 3 u^(2/3), ell_y = L_y"
            ),
        )
        super().__init__(
            n=a.shape[0],
            d_x=a.shape[1],
            d_y=c.shape[1],
            dtype=dtype,
            device=device,
            constants=consts,
            x0=x0,
            y0=y0,
            spec=spec,
        )

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        quart = 0.25 * (x * x).sum(-1) ** 2
        lin = x @ self.a.T  # (..., n)
        dev = y.unsqueeze(-2) - self.c  # (..., n, d_y)
        return quart.unsqueeze(-1) + lin + 0.5 * self.Ly * (dev * dev).sum(-1)

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        gx = (x * x).sum(-1, keepdim=True) * x
        if idx is None:
            w = self.weights
            return gx + w @ self.a, self.Ly * (y - w @ self.c)
        if not isinstance(idx, int):
            idx = expand_index(idx, x.shape[:-1], x.device)
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
            F=F,
            R_x=R_x,
            R_y=R_y,
            G=math.sqrt(max((4 * F) ** 1.5, 2 * self.Ly * F)),
            L_x=3 * R_x**2,
            L_y=self.Ly,
            G_x_max=R_x**3 + max_a,
            G_y_max=self.Ly * (R_y + max_c),
        )


def make_quartic(
    *,
    dx: int = 20,
    dy: int = 5,
    n: int = 8,
    Ly: float = 1.0,
    hetero: float = 1.0,
    seed: int = 0,
    start: float = 1.0,
    spec: str = "",
    dtype=torch.float64,
) -> QuarticSum:
    """Quartic-plus-quadratic sum; ``hetero`` scales the centred a_i, c_i (hetero = 0: check 6's instance,
    f = 1/4||x||^4 + 1/2 L_y||y||^2, f* = 0)."""
    check_sizes(dx=dx, dy=dy)
    if n < 1:
        raise ValueError(f"need n >= 1, got {n}")
    hetero = check_finite_float("hetero", hetero)
    check_memory("quartic", 4 * n * (dx + dy), dx=dx, dy=dy, n=n)
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n, dx)) / math.sqrt(max(dx, 1))
    c = rng.standard_normal((n, dy)) / math.sqrt(max(dy, 1))
    a, c = hetero * (a - a.mean(0)), hetero * (c - c.mean(0))
    x0, y0 = random_start(rng, dx, dy, check_finite_float("start", start))
    return QuarticSum(torch.as_tensor(a), torch.as_tensor(c), Ly=Ly, x0=x0, y0=y0, dtype=dtype, spec=spec)
