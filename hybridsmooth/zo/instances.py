"""Small one-block test functions whose ZO facts are known in closed form (THEORY 4.3, 4.5, check 4).

Each instance is a function phi of one flat block x (shape (..., d), any leading batch dims), its exact
gradient, its gradient-Lipschitz constant L (valid globally, along the whole Gaussian ray, as THEORY 4
requires) and, where known, the exact gradient of the Gaussian smoothing phi_mu(x) = E_u phi(x + mu u).

* quadratic       1/2 x^T A x + b^T x;  L = ||A||;  grad phi_mu = grad phi (no bias)     THEORY 4.3
* cos-sum         sum_j cos(w x_j);      L = w^2;    grad phi_mu = e^{-w^2 mu^2/2} grad phi THEORY 4.5
* signed quadratic sum_j (L/2) x_j |x_j|; L;  grad phi_mu(x)_j = L E|x_j + mu u_j|
                  = L [x_j erf(x_j / (mu sqrt 2)) + mu sqrt(2/pi) e^{-x_j^2 / (2 mu^2)}]  THEORY 4.5
* log-cosh        sum_j log cosh(x_j);   L = 1 (phi'' = sech^2 <= 1), convex; smoothing not closed-form

These are deliberately local to the ZO package (plain functions of x); the two-block finite-sum problems
built on them live in ``hybridsmooth.objectives``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

Fn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class Instance:
    """phi, its gradient, L, convexity and (when known) the exact smoothed gradient x, mu -> grad phi_mu(x)."""

    name: str
    d: int
    loss: Fn
    grad: Fn
    L: float
    convex: bool
    smoothed_grad: Callable[[Tensor, float], Tensor] | None = None
    smoothing_gap: Callable[[Tensor, float], Tensor] | None = None


def quadratic_instance(A: Tensor, b: Tensor | None = None) -> Instance:
    """phi(x) = 1/2 x^T A x + b^T x with symmetric A; f_mu - f = (mu^2/2) tr A exactly (THEORY 4.3)."""
    if A.dim() != 2 or A.shape[0] != A.shape[1] or not torch.allclose(A, A.T):
        raise ValueError(f"A must be a symmetric square matrix, got shape {tuple(A.shape)}")
    d = A.shape[0]
    b = torch.zeros(d, dtype=A.dtype, device=A.device) if b is None else b
    evals = torch.linalg.eigvalsh(A)
    trace = float(torch.trace(A))

    def loss(x: Tensor) -> Tensor:
        return 0.5 * ((x @ A) * x).sum(-1) + x @ b

    def grad(x: Tensor) -> Tensor:
        return x @ A + b

    return Instance(
        name="quadratic",
        d=d,
        loss=loss,
        grad=grad,
        L=float(evals.abs().max()),
        convex=bool(evals.min() >= 0),
        smoothed_grad=lambda x, mu: grad(x),
        smoothing_gap=lambda x, mu: torch.full(x.shape[:-1], 0.5 * mu**2 * trace, dtype=x.dtype, device=x.device),
    )


def cos_sum_instance(d: int, omega: float = 2.0) -> Instance:
    """phi(x) = sum_j cos(omega x_j): phi_mu = e^{-omega^2 mu^2/2} phi, so the bias is
    (e^{-omega^2 mu^2/2} - 1) grad phi exactly, O(mu^2) (THEORY 4.5)."""
    w = float(omega)

    def loss(x: Tensor) -> Tensor:
        return torch.cos(w * x).sum(-1)

    def grad(x: Tensor) -> Tensor:
        return -w * torch.sin(w * x)

    def damping(mu: float) -> float:
        return math.exp(-0.5 * w**2 * mu**2)

    return Instance(
        name="cos-sum",
        d=d,
        loss=loss,
        grad=grad,
        L=w**2,
        convex=False,
        smoothed_grad=lambda x, mu: damping(mu) * grad(x),
        # expm1 keeps the O(mu^2) gap accurate at mu = 1e-3 (1 - e^{-t} loses digits)
        smoothing_gap=lambda x, mu: math.expm1(-0.5 * w**2 * mu**2) * loss(x),
    )


def signed_quadratic_instance(d: int, L: float = 1.0) -> Instance:
    """phi(x) = sum_j (L/2) x_j |x_j|: L-Lipschitz gradient L|x|, not C^2 at 0; at x = 0 the bias is
    L mu sqrt(2/pi) per coordinate, norm L mu sqrt(2 d / pi), O(mu) (THEORY 4.5)."""
    L = float(L)

    def loss(x: Tensor) -> Tensor:
        return (0.5 * L * x * x.abs()).sum(-1)

    def grad(x: Tensor) -> Tensor:
        return L * x.abs()

    def smoothed_grad(x: Tensor, mu: float) -> Tensor:
        # E|s| for s ~ N(x, mu^2): the folded-normal mean
        return L * (
            x * torch.erf(x / (mu * math.sqrt(2.0))) + mu * math.sqrt(2.0 / math.pi) * torch.exp(-(x**2) / (2 * mu**2))
        )

    def smoothing_gap(x: Tensor, mu: float) -> Tensor:
        # (L/2) E[s|s|] = (L/2)[(x^2 + mu^2) erf(x/(mu sqrt 2)) + x mu sqrt(2/pi) e^{-x^2/(2mu^2)}]
        e = (x**2 + mu**2) * torch.erf(x / (mu * math.sqrt(2.0))) + x * mu * math.sqrt(2.0 / math.pi) * torch.exp(
            -(x**2) / (2 * mu**2)
        )
        return (0.5 * L * e).sum(-1) - loss(x)

    return Instance(
        name="signed-quadratic",
        d=d,
        loss=loss,
        grad=grad,
        L=L,
        convex=False,
        smoothed_grad=smoothed_grad,
        smoothing_gap=smoothing_gap,
    )


def log_cosh_instance(d: int) -> Instance:
    """phi(x) = sum_j log cosh(x_j): convex, gradient tanh(x), L = 1."""

    def loss(x: Tensor) -> Tensor:
        a = x.abs()
        # log cosh(a) = a + log1p(e^{-2a}) - log 2, stable for large |x|
        return (a + torch.log1p(torch.exp(-2 * a)) - math.log(2.0)).sum(-1)

    def grad(x: Tensor) -> Tensor:
        return torch.tanh(x)

    return Instance(name="log-cosh", d=d, loss=loss, grad=grad, L=1.0, convex=True)
