"""Direction parallelism: the q directions of one ZO step spread over the ranks, x replicated.

Rank r measures phi_j for the directions j = r, r + world, ... on the same data, the q values are summed
over the ranks (each has exactly one non-zero contributor, so the sum is exact), and every rank applies
the same update x <- x - (eta/q) sum_j phi_j u_j, regenerating every u_j from its key.

Why an EXACT restore. The MeZO restore x + mu u - 2 mu u + mu u gives x back only to rounding, and the
rounding depends on u. With one shared direction (data parallelism) every replica rounds alike; here each
rank perturbs along its own directions, so after an in-place restore the replicas hold different last bits
of x and drift apart step after step (tests/distributed show it in float32). So each measurement saves
the local values of x and copies them back: x is bitwise the start point for every direction on every rank,
at the price of one copy of x.

Direction j of step (run seed, epoch, step) is drawn from ``direction_generator(..., j)``, keyed by j alone,
so a rank can draw its directions without drawing the others'; direction 0 is the one a single-direction
step draws. The result does not depend on the world size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ..rng import derive_seed
from ..zo.estimators import Form, check_form, check_q, projected_gradient
from ..zo.inplace import LossClosure, forward, noise, perturb, update
from .comm import all_sum_, rank_world


def direction_generator(run_seed: int, epoch: int, step: int, j: int, device="cpu") -> torch.Generator:
    """The private generator of direction j of one step."""
    g = torch.Generator(device=torch.device(device))
    g.manual_seed(derive_seed(run_seed, epoch, step, j))
    return g


def direction(params: Sequence[Tensor], key: tuple[int, int, int], j: int, form: Form, *, lazy: bool = False):
    """u_j tensor by tensor, regenerated from its key (run seed, epoch, step); ``lazy`` as in ``zo.inplace.noise``
    (for a caller that adds each tensor's direction before asking for the next)."""
    return noise(params, form=form, generator=direction_generator(*key, j, device=params[0].device), lazy=lazy)


def _copy_back(params: Sequence[Tensor], saved: Sequence[Tensor]) -> None:
    with torch.no_grad():
        for p, s in zip(params, saved):
            p.copy_(s)


def measure_exact(params: Sequence[Tensor], loss: LossClosure, u, *, mu: float, form: Form, f0: float | None):
    """(L+, L-) along the direction list ``u`` (f0 for the forward form), restoring x by copying back the
    saved values after each perturbed evaluation (even on error): x is left bitwise as it was."""
    saved = [p.detach().clone() for p in params]
    losses = []
    for scale in (mu, -mu) if form != "forward" else (mu,):
        try:
            perturb(params, u, scale)
            losses.append(forward(loss))
        finally:
            _copy_back(params, saved)
    return losses[0], (losses[1] if form != "forward" else f0)


def direction_parallel_step(
    params: Sequence[Tensor],
    loss: LossClosure,
    *,
    mu: float,
    eta: float,
    run_seed: int,
    epoch: int,
    step: int,
    q: int,
    form: Form = "central",
    group=None,
) -> Tensor:
    """One ZO step with the q directions spread over the ranks (module docstring); returns phi, shape (q,),
    the same on every rank. ``loss`` evaluates the same data on every rank."""
    form, q = check_form(form), check_q(q)
    params = list(params)
    rank, world = rank_world(group)
    key = (run_seed, epoch, step)
    f0 = forward(loss) if form == "forward" else None
    phi = torch.zeros(q, dtype=torch.float64)
    for j in range(rank, q, world):
        u = list(direction(params, key, j, form))
        lp, lm = measure_exact(params, loss, u, mu=mu, form=form, f0=f0)
        phi[j] = projected_gradient(lp, lm, mu=mu, form=form)
    all_sum_(phi, group)
    for j in range(q):  # the same sequence of updates on every rank
        update(params, direction(params, key, j, form, lazy=True), -eta * float(phi[j]) / q)
    return phi
