"""The counterexamples: problems built to make a statement of the paper fail, with every constant exact.

* ``falsifier`` -- individual vs average smoothness (THEORY check 15): L_y = 1 for f, L_y_max = max(K, |2 - K|).
* ``bilinear`` -- f = b <x, y>: L_x = L_y = 0, yet the block descent lemma fails (THEORY 3.2).
* ``coupled2`` -- H = [[a I, B], [B^T, c I]] with ||B|| = s sqrt(ac): the rescaled H has eigenvalues 1 +- s
  (THEORY 3.2, checks 5 and 9).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .base import Constants, FiniteSum, broadcast_blocks, check_finite_float
from .checks import check_memory, check_sizes, expand_index, random_start
from .quadratic import BlockQuadratic, random_orthogonal

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

    def __init__(
        self, *, K: float, d_x: int, d_y: int, x0=None, y0=None, dtype=torch.float64, device="cpu", spec: str = ""
    ):
        self.K = check_finite_float("K", K)
        self.curvatures = torch.tensor([self.K, 2 - self.K], dtype=dtype, device=device)
        L_y_max = max(abs(self.K), abs(2 - self.K))
        consts = Constants(
            L_x=1.0 if d_x else 0.0,
            L_y=1.0,
            L_xy=0.0,
            L_x_max=1.0 if d_x else 0.0,
            L_y_max=L_y_max,
            sigma2_x=0.0,
            sigma2_y=None,
            f_star=0.0,
            joint_L_x=1.0 if d_x else 0.0,
            joint_L_y=L_y_max,
            notes=(
                "exact; sigma2_y = (K - 1)^2 ||y||^2 is unbounded (None); the x-block "
                "1/2||x||^2 is a shared filler for the hybrid optimizer"
            ),
        )
        super().__init__(n=2, d_x=d_x, d_y=d_y, dtype=dtype, device=device, constants=consts, x0=x0, y0=y0, spec=spec)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        xx, yy = (x * x).sum(-1, keepdim=True), (y * y).sum(-1, keepdim=True)
        return 0.5 * xx + 0.5 * self.curvatures * yy

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        if idx is None:
            k = self.weights @ self.curvatures
            return x.clone(), k * y
        if isinstance(idx, int):
            return x.clone(), self.curvatures[idx] * y
        k = self.curvatures[expand_index(idx, x.shape[:-1], x.device)]
        return x.clone(), k.unsqueeze(-1) * y

    def epoch_multiplier(self, eta) -> float:
        return falsifier_epoch_multiplier(eta, self.K)


def make_falsifier(
    *, K: float = 100.0, dx: int = 1, dy: int = 1, start: float = 1.0, spec: str = "", dtype=torch.float64
) -> Falsifier:
    """Falsifier with x0 = y0 = start * 1 (a deterministic start: the instance has no randomness)."""
    check_sizes(dx=dx, dy=dy)
    if dy < 1:
        raise ValueError(f"the falsifier acts on the y-block, need dy >= 1, got {dy}")
    start = check_finite_float("start", start)
    check_memory("falsifier", 4 * (dx + dy), dx=dx, dy=dy)
    return Falsifier(
        K=K,
        d_x=dx,
        d_y=dy,
        x0=torch.full((dx,), start, dtype=dtype),
        y0=torch.full((dy,), start, dtype=dtype),
        dtype=dtype,
        spec=spec,
    )


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
        consts = Constants(
            L_x=0.0,
            L_y=0.0,
            L_xy=ab,
            L_x_max=0.0,
            L_y_max=0.0,
            sigma2_x=0.0,
            sigma2_y=0.0,
            f_star=-math.inf if self.b != 0 else 0.0,
            joint_L_x=ab,
            joint_L_y=ab,
            notes="exact; joint_L: any Lambda_x Lambda_y >= b^2 is valid, |b| each is one choice",
        )
        super().__init__(n=1, d_x=m, d_y=m, dtype=dtype, device=device, constants=consts, x0=x0, y0=y0, spec=spec)

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        return (self.b * (x * y).sum(-1)).unsqueeze(-1)

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
        x, y = broadcast_blocks(x, y)
        return self.b * y, self.b * x


def make_bilinear(*, b: float = 1.0, m: int = 1, start: float = 1.0, spec: str = "", dtype=torch.float64) -> Bilinear:
    if m < 1:
        raise ValueError(f"need m >= 1, got {m}")
    start = check_finite_float("start", start)
    check_memory("bilinear", 8 * m, m=m)
    return Bilinear(
        b=b,
        m=m,
        x0=torch.full((m,), start, dtype=dtype),
        y0=torch.full((m,), start, dtype=dtype),
        dtype=dtype,
        spec=spec,
    )


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


def make_coupled2(
    *,
    m: int = 5,
    a: float = 2.0,
    c: float = 0.5,
    s: float = 0.3,
    n: int = 1,
    spread: float = 0.0,
    seed: int = 0,
    start: float = 1.0,
    spec: str = "",
    dtype=torch.float64,
) -> BlockQuadratic:
    """Block quadratic with H from ``coupled2_hessian`` (checks 5, 9) and centres c_i ~ spread N(0, I/d),
    centred (the minimiser is 0 when s < 1). s >= 1 makes H indefinite or singular (f_star None)."""
    if n < 1:
        raise ValueError(f"need n >= 1, got {n}")
    # H (2m x 2m), the rotation W (m x m) and the working copies of both, the centres (n x 2m)
    check_memory("coupled2", 6 * (2 * m) ** 2 + 4 * n * m, m=m, n=n)
    H = coupled2_hessian(m=m, a=a, c=c, s=s, seed=seed)
    rng = np.random.default_rng(seed + 1)
    centres = check_finite_float("spread", spread) * rng.standard_normal((n, 2 * m)) / math.sqrt(2 * m)
    centres -= centres.mean(0)
    x0, y0 = random_start(rng, m, m, check_finite_float("start", start))
    return BlockQuadratic(
        H,
        centres,
        m,
        x0=x0,
        y0=y0,
        dtype=dtype,
        spec=spec,
        notes=(
            f"exact: L_x = a, L_y = c, L_xy = s sqrt(ac) = {s * math.sqrt(a * c):g}; "
            "eig(Lambda^-1/2 H Lambda^-1/2) = 1 -+ s; sigma^2 exact"
        ),
    )
