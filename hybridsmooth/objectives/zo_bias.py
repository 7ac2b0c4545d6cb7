"""ZO bias instances with closed-form smoothed values (THEORY 4.5): ``cossum`` (smooth, bias e^{-omega^2 mu^2/2})
and ``signedquad`` (C^1 but not C^2, bias L mu sqrt(2d/pi) at 0)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .base import Constants, FiniteSum, broadcast_blocks, check_finite_float
from .checks import check_memory, check_sizes, random_start


class _SeparableXPlusQuadraticY(FiniteSum):
    """n = 1 objectives phi(x) + 1/2 L_y ||y||^2; subclasses give phi, its gradient and its smoothing.

    With one sample and no coupling every constant follows from L_x (the Lipschitz constant of grad phi) and
    |L_y|: the per-sample and joint values equal them, L_xy = 0 and sigma = 0."""

    def __init__(
        self,
        *,
        d_x: int,
        d_y: int,
        L_x: float,
        Ly: float,
        f_star: float,
        notes: str,
        x0=None,
        y0=None,
        dtype=torch.float64,
        device="cpu",
        spec: str = "",
    ):
        constants = Constants(
            L_x=L_x,
            L_y=abs(Ly),
            L_xy=0.0,
            L_x_max=L_x,
            L_y_max=abs(Ly),
            sigma2_x=0.0,
            sigma2_y=0.0,
            f_star=f_star,
            joint_L_x=L_x,
            joint_L_y=abs(Ly),
            notes=notes,
        )
        self.Ly = check_finite_float("Ly", Ly)
        super().__init__(
            n=1, d_x=d_x, d_y=d_y, dtype=dtype, device=device, constants=constants, x0=x0, y0=y0, spec=spec
        )

    def _phi(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _phi_grad(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = broadcast_blocks(x, y)
        return (self._phi(x) + 0.5 * self.Ly * (y * y).sum(-1)).unsqueeze(-1)

    def _grad(self, x: Tensor, y: Tensor, idx=None) -> tuple[Tensor, Tensor]:
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

    def __init__(
        self,
        *,
        d_x: int,
        d_y: int,
        omega: float,
        Ly: float,
        x0=None,
        y0=None,
        dtype=torch.float64,
        device="cpu",
        spec: str = "",
    ):
        self.omega = check_finite_float("omega", omega, positive=True)
        super().__init__(
            d_x=d_x,
            d_y=d_y,
            L_x=self.omega**2,
            Ly=Ly,
            f_star=-float(d_x) if Ly >= 0 else -math.inf,
            notes="all exact (grad^2 f = diag(-omega^2 cos(omega x_j), L_y I)); n = 1",
            x0=x0,
            y0=y0,
            dtype=dtype,
            device=device,
            spec=spec,
        )

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


def make_cossum(
    *,
    dx: int = 20,
    dy: int = 1,
    omega: float = 2.0,
    Ly: float = 1.0,
    seed: int = 0,
    start: float = 1.0,
    spec: str = "",
    dtype=torch.float64,
) -> CosSum:
    check_sizes(dx=dx, dy=dy)
    check_memory("cossum", 4 * (dx + dy), dx=dx, dy=dy)
    x0, y0 = random_start(np.random.default_rng(seed), dx, dy, check_finite_float("start", start))
    return CosSum(d_x=dx, d_y=dy, omega=omega, Ly=Ly, x0=x0, y0=y0, dtype=dtype, spec=spec)


class SignedQuadratic(_SeparableXPlusQuadraticY):
    """f(x, y) = sum_j (L/2) x_j |x_j| + 1/2 L_y ||y||^2, n = 1: C^1, not C^2 (THEORY 4.5).

    grad_x f = L |x| (elementwise) is L-Lipschitz. With X = x_j + mu u ~ N(x_j, mu^2) (folded normal):
        d/dx_j f_mu = L E|X| = L [mu sqrt(2/pi) e^{-x_j^2/(2 mu^2)} + x_j erf(x_j / (mu sqrt 2))],
        E[X|X|]     = (x_j^2 + mu^2) erf(x_j / (mu sqrt 2)) + x_j mu sqrt(2/pi) e^{-x_j^2/(2 mu^2)}.
    At x = 0 the bias is L mu sqrt(2/pi) 1, of norm L mu sqrt(2 d/pi): O(mu), the (NS-2) regime.
    f is unbounded below (f* = -inf); it is a ZO bias instance, not an optimisation problem.
    """

    name = "signedquad"

    def __init__(
        self,
        *,
        d_x: int,
        d_y: int,
        L: float,
        Ly: float,
        x0=None,
        y0=None,
        dtype=torch.float64,
        device="cpu",
        spec: str = "",
    ):
        self.L = check_finite_float("L", L, positive=True)
        super().__init__(
            d_x=d_x,
            d_y=d_y,
            L_x=self.L,
            Ly=Ly,
            f_star=-math.inf,
            notes=(
                "exact: L_x = L is the Lipschitz constant of grad_x f (the Hessian L sign(x_j) "
                "exists off the axes only); f is unbounded below (f_star = -inf); n = 1"
            ),
            x0=x0,
            y0=y0,
            dtype=dtype,
            device=device,
            spec=spec,
        )

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


def make_signedquad(
    *,
    dx: int = 20,
    dy: int = 1,
    L: float = 1.0,
    Ly: float = 1.0,
    seed: int = 0,
    start: float = 0.0,
    spec: str = "",
    dtype=torch.float64,
) -> SignedQuadratic:
    """Signed quadratic; the default start is x = 0, where the bias is known in closed form."""
    check_sizes(dx=dx, dy=dy)
    check_memory("signedquad", 4 * (dx + dy), dx=dx, dy=dy)
    x0, y0 = random_start(np.random.default_rng(seed), dx, dy, check_finite_float("start", start))
    return SignedQuadratic(d_x=dx, d_y=dy, L=L, Ly=Ly, x0=x0, y0=y0, dtype=dtype, spec=spec)
