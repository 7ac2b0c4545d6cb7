"""The out-of-place twins of the in-place ZO step (``zo.inplace``): the directions a step draws, and the step
computed on the flattened block with ``zo_gradient_along``, against which the seed trick is checked."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ..rng import zo_generator
from .estimators import Form, check_form, check_q, zo_gradient_along
from .gaussian_split import check_stream
from .inplace import _check_params, noise


def regenerate_directions(
    params: Sequence[Tensor],
    *,
    run_seed: int,
    epoch: int,
    step: int,
    form: Form = "central",
    q: int = 1,
    stream: str = "sequential",
) -> list[list[Tensor]]:
    """The directions u_j (per tensor) that ``zo_step_inplace`` uses for (run_seed, epoch, step)."""
    params = _check_params(params)
    check_stream(stream, check_form(form))
    gen = zo_generator(run_seed, epoch, step, device=params[0].device)
    return [list(noise(params, form=form, generator=gen, stream=stream)) for _ in range(check_q(q))]


def reference_step(
    params: Sequence[Tensor],
    loss_fn: Callable[[Sequence[Tensor]], Tensor],
    *,
    mu: float,
    eta: float,
    run_seed: int,
    epoch: int,
    step: int,
    form: Form = "central",
    q: int = 1,
    stream: str = "sequential",
) -> tuple[list[Tensor], Tensor]:
    """Out-of-place twin of ``zo_step_inplace``: the same directions, the estimator of
    ``zo_gradient_along`` on the flattened block, returns (new params, phi of shape (q,)).

    ``loss_fn`` takes a list of tensors shaped like ``params`` (with possible leading batch dims) and
    returns the loss. Agreement with the in-place step is to float rounding, not bitwise (module docstring).
    """
    params = _check_params(params)
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    u = torch.stack(
        [
            torch.cat([t.reshape(-1) for t in u_j])
            for u_j in regenerate_directions(
                params, run_seed=run_seed, epoch=epoch, step=step, form=form, q=q, stream=stream
            )
        ]
    )
    x = torch.cat([p.detach().reshape(-1) for p in params])

    def flat_loss(z: Tensor) -> Tensor:
        lead = z.shape[:-1]
        return loss_fn([c.reshape(*lead, *s) for c, s in zip(torch.split(z, sizes, dim=-1), shapes)])

    est = zo_gradient_along(flat_loss, x, u, mu=mu, form=form)
    new = x - eta * est.grad
    return [c.reshape(s).clone() for c, s in zip(torch.split(new, sizes), shapes)], est.phi
