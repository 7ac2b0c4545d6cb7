"""Two-point zeroth-order gradient estimators (THEORY 2.2) on flat, optionally batched, blocks.

For one sample and base point x, with directions u_j (j = 1..q):

* ``central``  (Gaussian, MeZO/NS two-sided):  phi_j = [f(x + mu u_j) - f(x - mu u_j)] / (2 mu)
* ``forward``  (Gaussian, NS one-sided):       phi_j = [f(x + mu u_j) - f(x)] / mu
* ``spsa``     (Rademacher, classical SPSA):   central differences along v_j in {-1, +1}^d

and the estimate is g = (1/q) sum_j phi_j u_j. Both Gaussian forms are unbiased for the gradient of
the smoothed function f_mu(x) = E_u f(x + mu u) [NS eq. (21)]; on a quadratic the central form is
exactly (g^T u) u for every mu (THEORY 4.3).

``zo_gradient_flat`` is the unbatched path: one flat point with no batch dimension (a torch model's
weights), one direction at a time, so that a model of d parameters costs one extra copy of x, not q.

Noise comes from a private ``torch.Generator`` seeded from (run seed, epoch, step), or, in batched runs,
from the per-seed counter-based streams of ``hybridsmooth.rng.SeedStreams`` (row b of the
(q, S, d) directions depends on seed index b only, not on the batch); the global RNG is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Union

import numpy as np
import torch
from torch import Tensor

from ..rng import SeedStreams
from .signs import rademacher

Form = Literal["central", "forward", "spsa"]
FORMS: tuple[str, ...] = ("central", "forward", "spsa")
NoiseSource = Union[torch.Generator, "SeedStreams"]


def check_form(form: object) -> str:
    """``form`` itself if it is one of FORMS, else a ValueError naming the accepted forms."""
    if not isinstance(form, str) or form not in FORMS:
        raise ValueError(f"unknown ZO estimator form {form!r}; accepted: {', '.join(FORMS)}")
    return form


def check_mu(mu: object) -> float:
    """``mu`` as a float if it is a finite positive number, else a ValueError saying so."""
    try:
        value = float(mu)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        value = float("nan")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"the smoothing radius mu must be a finite number > 0, got {mu!r}")
    return value


def check_q(q: object) -> int:
    """``q`` if it is an integer >= 1, else a ValueError saying so."""
    if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or q < 1:
        raise ValueError(f"the number of directions q must be an integer >= 1, got {q!r}")
    return int(q)


def draw_directions(
    shape: tuple[int, ...],
    *,
    form: Form,
    generator: NoiseSource,
    dtype: torch.dtype = torch.float64,
    device: str | torch.device = "cpu",
) -> Tensor:
    """Gaussian N(0, I) directions for 'central'/'forward', Rademacher +-1 for 'spsa'.

    ``generator`` is a ``torch.Generator`` (any shape), or per-seed ``SeedStreams`` (shape (q, S, ...)
    with S its number of seeds; row b is drawn from seed index b's own stream)."""
    check_form(form)
    if not isinstance(generator, torch.Generator):
        draw = generator.rademacher if form == "spsa" else generator.normal
        return draw(shape, dtype=dtype, device=device)
    if form == "spsa":  # 64 signs per generator draw (zo.signs): as costly as randn when drawn one by one
        return rademacher(shape, generator=generator, dtype=dtype, device=device)
    return torch.randn(shape, generator=generator, dtype=dtype, device=device)


@dataclass(frozen=True)
class ZOEstimate:
    """One ZO estimate: ``grad`` (shape of x), projected gradients ``phi`` (q, *batch), directions ``u``
    (q, *batch, d) and f at the base point when the forward form computed it (else None). ``fo_grad``: the
    other block's gradient an in-place step took at its perturbed point(s) (fo_point plus / sym), else None."""

    grad: Tensor
    phi: Tensor
    u: Tensor
    loss_at_x: Tensor | None
    fo_grad: Tensor | None = None


def zo_gradient(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    mu: float,
    form: Form = "central",
    q: int = 1,
    generator: NoiseSource,
    loss_at_x: Tensor | None = None,
) -> ZOEstimate:
    """Two-point ZO estimate of grad loss_fn at ``x`` (shape (*batch, d)); ``loss_fn`` maps (..., *batch, d)
    to (..., *batch) and must evaluate every point on the same sample (the caller fixes it).

    The q directions are drawn in one call of shape (q, *batch, d); ``zo_gradient_along`` evaluates the
    same estimator along given directions."""
    mu, q, form = check_mu(mu), check_q(q), check_form(form)
    u = draw_directions((q, *x.shape), form=form, generator=generator, dtype=x.dtype, device=x.device)
    return zo_gradient_along(loss_fn, x, u, mu=mu, form=form, loss_at_x=loss_at_x)


def projected_gradient(loss_plus, loss_minus, *, mu: float, form: Form):
    """phi = (L+ - L-)/(2 mu) for central/spsa, (L+ - L0)/mu for forward (L- holds L0), THEORY 2.2: the one
    difference quotient of every ZO path (batched, flat and in place), on floats and tensors alike."""
    if form == "forward":
        return (loss_plus - loss_minus) / mu
    return (loss_plus - loss_minus) / (2 * mu)


def zo_gradient_along(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    u: Tensor,
    *,
    mu: float,
    form: Form = "central",
    loss_at_x: Tensor | None = None,
) -> ZOEstimate:
    """The estimator of ``zo_gradient`` along given directions ``u`` of shape (q, *x.shape) (THEORY 2.2):
    phi_j = [f(x + mu u_j) - f(x - mu u_j)] / (2 mu) (central, spsa) or [f(x + mu u_j) - f(x)] / mu
    (forward), and grad = (1/q) sum_j phi_j u_j."""
    mu, form = check_mu(mu), check_form(form)
    if u.dim() != x.dim() + 1 or u.shape[1:] != x.shape:
        raise ValueError(
            f"directions must have shape (q, *x.shape) = (q, {', '.join(map(str, x.shape))}), got {tuple(u.shape)}"
        )
    if form == "forward":
        f0 = loss_fn(x) if loss_at_x is None else loss_at_x
        phi = projected_gradient(loss_fn(x + mu * u), f0, mu=mu, form=form)
    else:
        f0 = loss_at_x
        phi = projected_gradient(loss_fn(x + mu * u), loss_fn(x - mu * u), mu=mu, form=form)
    grad = (phi.unsqueeze(-1) * u).mean(0)
    return ZOEstimate(grad=grad, phi=phi, u=u, loss_at_x=f0)


def zo_flat_directions(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    mu: float,
    q: int = 1,
    generator: torch.Generator,
    form: Form = "central",
) -> Iterator[tuple[Tensor, float]]:
    """The unbatched estimator one direction at a time: yields (u_j, phi_j) for j = 1..q, with phi_j of
    ``zo_gradient_along`` as a Python float (the losses are read as floats before they are subtracted).

    ``loss_fn`` takes one flat point of x's shape (no leading batch dimension, as a torch-model loss) and
    every direction is drawn from ``generator`` just before it is used; no gradient graph is built."""
    mu, q, form = check_mu(mu), check_q(q), check_form(form)
    with torch.no_grad():
        f0 = float(loss_fn(x)) if form == "forward" else None
        for _ in range(q):
            u = draw_directions(tuple(x.shape), form=form, generator=generator, dtype=x.dtype, device=x.device)
            minus = f0 if f0 is not None else float(loss_fn(x - mu * u))
            yield u, projected_gradient(float(loss_fn(x + mu * u)), minus, mu=mu, form=form)


def zo_gradient_flat(
    loss_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    *,
    mu: float,
    q: int = 1,
    generator: torch.Generator,
    form: Form = "central",
) -> ZOEstimate:
    """(1/q) sum_j phi_j u_j over the directions of ``zo_flat_directions``; ``u`` is not kept (None) and
    ``phi`` is a float64 tensor of shape (q,)."""
    grad, phis = torch.zeros_like(x), []
    with torch.no_grad():
        for u, phi in zo_flat_directions(loss_fn, x, mu=mu, q=q, generator=generator, form=form):
            grad.add_(u, alpha=phi / q)
            phis.append(phi)
    return ZOEstimate(grad=grad, phi=torch.tensor(phis, dtype=torch.float64), u=None, loss_at_x=None)
