"""The MeZO in-place seed trick on a list of parameter tensors (THEORY 2.2, [MEZO]).

One ZO step on the block x (any list of tensors: a model's base weights, or flat vectors), never storing
a copy of x. For each direction j = 1..q, from a private generator seeded by (run_seed, epoch, step):

    perturb   x <- x + mu u_j                      (u_j regenerated tensor by tensor)
    forward   L+ = loss()
    perturb   x <- x - 2 mu u_j                    (central / spsa; forward form: x <- x - mu u_j, restore)
    forward   L- = loss()
    step      phi_j = (L+ - L-)/(2 mu)             (forward form: (L+ - L0)/mu, L0 = loss() at x, once)
    perturb   x <- x + mu u_j                      (restore)
    update    x <- x - (eta/q) sum_j phi_j u_j     (u_j regenerated again)

Two noise modes, same numbers from the same seed:

* ``regenerate`` (memory-optimal, MeZO): u_j is never stored; the generator state before u_j is saved (a
  few bytes) and u_j is redrawn tensor by tensor when needed. The restore of the LAST direction is fused
  with its update, add_((mu - eta phi_q/q) u_q), so with q = 1 the central noise is generated 3 times per
  step, not 4 (forward form: 2, not 3). Earlier directions cannot fuse: every phi_j must be measured at
  the same base point x, so their updates wait until all q are measured.
* ``buffer``: u_j is drawn once into a buffer (one extra copy of x per direction) and reused.

Both modes draw u_j tensor by tensor in the order of ``params`` with each tensor's own shape, dtype and
device, and apply the identical sequence of ``add_`` calls, so their results agree bitwise. For a single
flat tensor and q = 1 the direction is bitwise the one ``zo_gradient`` draws from the same generator;
the in-place gradient itself agrees with ``zo_gradient`` only to rounding, because x - mu u is reached
as (x + mu u) - 2 mu u in place, not computed fresh (see ``reference_step``).

An exception inside ``loss`` (or anywhere in the step) restores x before it propagates (try/finally),
to rounding: x + mu u - mu u is x up to a few ulp of |x| + mu |u| (check 16).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Sequence

import torch
from torch import Tensor

from .estimators import Form, check_form, check_mu, check_q, draw_directions, zo_gradient_along, zo_generator

NoiseMode = Literal["regenerate", "buffer"]
NOISE_MODES: tuple[str, ...] = ("regenerate", "buffer")

LossClosure = Callable[[], "Tensor | float"]


@dataclass(frozen=True)
class InplaceStep:
    """One in-place ZO step: phi, L+ and L- per direction (L- is f(x) for the forward form), f(x) when
    the forward form evaluated it, how many times the noise was generated for each tensor, and seconds."""

    phi: tuple[float, ...]
    loss_plus: tuple[float, ...]
    loss_minus: tuple[float, ...]
    loss_at_x: float | None
    noise_draws: int
    seconds: float


# --- the four verbs ---------------------------------------------------------------------------------


def noise(params: Sequence[Tensor], *, form: Form, generator: torch.Generator,
          state: Tensor | None = None) -> Iterator[Tensor]:
    """u tensor by tensor in the order of ``params`` (same shape/dtype/device as each), drawn from
    ``generator`` after setting it to ``state`` (the regeneration point) when given."""
    if state is not None:
        generator.set_state(state)
    for p in params:
        yield draw_directions(tuple(p.shape), form=form, generator=generator, dtype=p.dtype, device=p.device)


def perturb(params: Sequence[Tensor], directions: Iterator[Tensor] | Sequence[Tensor], scale: float) -> None:
    """x <- x + scale * u in place, one tensor at a time (so at most one tensor of noise is alive)."""
    with torch.no_grad():
        for p, u in zip(params, directions, strict=True):
            p.add_(u, alpha=scale)


def forward(loss: LossClosure) -> float:
    """Evaluate the loss closure without building a graph; it must return a scalar."""
    with torch.no_grad():
        value = loss()
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"the loss closure must return a scalar, got shape {tuple(value.shape)}")
        value = value.item()
    return float(value)


def projected_gradient(loss_plus: float, loss_minus: float, *, mu: float, form: Form) -> float:
    """phi = (L+ - L-)/(2 mu) for central/spsa, (L+ - L0)/mu for forward (L- holds L0). THEORY 2.2."""
    if form == "forward":
        return (loss_plus - loss_minus) / mu
    return (loss_plus - loss_minus) / (2 * mu)


def update(params: Sequence[Tensor], directions: Iterator[Tensor] | Sequence[Tensor], coefficient: float) -> None:
    """x <- x + coefficient * u (coefficient = -eta phi / q, or mu - eta phi / q when fused with a restore)."""
    perturb(params, directions, coefficient)


# --- the step ---------------------------------------------------------------------------------------


def _hooked(hook: LossClosure) -> float:
    value = hook()
    return float(value.item() if isinstance(value, Tensor) else value)


def _check_params(params: Sequence[Tensor]) -> list[Tensor]:
    params = list(params)
    if not params or not all(isinstance(p, Tensor) for p in params):
        raise ValueError("params must be a non-empty list of tensors")
    if not all(p.is_floating_point() for p in params):
        raise ValueError("params must be floating-point tensors")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("params lists the same tensor twice; it would be perturbed twice")
    if len({p.device for p in params}) != 1:
        raise ValueError(f"params must share one device (one generator), got {sorted({str(p.device) for p in params})}")
    return params


def zo_step_inplace(params: Sequence[Tensor], loss: LossClosure, *, mu: float, eta: float, run_seed: int,
                    epoch: int, step: int, form: Form = "central", q: int = 1, noise_mode: NoiseMode = "regenerate",
                    loss_at_x: float | None = None, at_plus: LossClosure | None = None,
                    at_minus: LossClosure | None = None) -> InplaceStep:
    """One in-place ZO step x <- x - (eta/q) sum_j phi_j u_j on ``params`` (see the module docstring).

    ``loss`` is a closure that evaluates f_i at the current values of ``params`` on a fixed sample; it is
    called under ``torch.no_grad()`` (it may enable grad inside itself). ``loss_at_x`` supplies f_i(x) for
    the forward form when the caller already has it (e.g. from the clean first-order pass).

    ``at_plus`` / ``at_minus`` replace the loss evaluation at x + mu u_1 / x - mu u_1 (first direction
    only): each is called there, with grad enabled, and returns f_i. A caller uses them to take the other
    block's first-order gradient at the perturbed point from the same forward pass (fo_point plus / sym,
    THEORY 2.3), which saves the separate forward a clean-point gradient costs.
    """
    if at_minus is not None and check_form(form) == "forward":
        raise ValueError("at_minus needs a two-sided form (central or spsa): the forward form has no x - mu u")
    mu, q, form = check_mu(mu), check_q(q), check_form(form)
    eta = float(eta)
    if not math.isfinite(eta):
        raise ValueError(f"the step size eta must be a finite number, got {eta!r}")
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {noise_mode!r}; accepted: {', '.join(NOISE_MODES)}")
    params = _check_params(params)
    t0 = time.perf_counter()
    gen = zo_generator(run_seed, epoch, step, device=params[0].device)
    buffered = noise_mode == "buffer"
    draws = 0

    def directions(j: int) -> Iterator[Tensor] | list[Tensor]:
        nonlocal draws
        if buffered:
            return buffers[j]
        draws += 1
        return noise(params, form=form, generator=gen, state=states[j])

    f0 = None
    if form == "forward":
        f0 = forward(loss) if loss_at_x is None else float(loss_at_x)
    states: list[Tensor] = []
    buffers: list[list[Tensor]] = []
    phis, plus, minus = [], [], []
    offset, current = 0.0, -1          # x currently equals x0 + offset * u_current
    try:
        for j in range(q):
            states.append(gen.get_state())
            if buffered:
                buffers.append(list(noise(params, form=form, generator=gen)))
                draws += 1
            current = j
            perturb(params, directions(j), mu)
            offset = mu
            lp = _hooked(at_plus) if j == 0 and at_plus is not None else forward(loss)
            if form == "forward":
                lm = f0
            else:
                perturb(params, directions(j), -2 * mu)
                offset = -mu
                lm = _hooked(at_minus) if j == 0 and at_minus is not None else forward(loss)
            phi = projected_gradient(lp, lm, mu=mu, form=form)
            phis.append(phi)
            plus.append(lp)
            minus.append(lm)
            if j < q - 1:
                perturb(params, directions(j), -offset)
                offset = 0.0
        # restore + update of the last direction, fused: one more generation of u_q instead of two
        update(params, directions(q - 1), -offset - eta * phis[-1] / q)
        offset = 0.0
        for j in range(q - 1):
            update(params, directions(j), -eta * phis[j] / q)
    finally:
        if offset != 0.0:
            perturb(params, directions(current), -offset)
    return InplaceStep(phi=tuple(phis), loss_plus=tuple(plus), loss_minus=tuple(minus), loss_at_x=f0,
                       noise_draws=draws, seconds=time.perf_counter() - t0)


# --- helpers to check the trick against the out-of-place estimator -----------------------------------


def regenerate_directions(params: Sequence[Tensor], *, run_seed: int, epoch: int, step: int,
                          form: Form = "central", q: int = 1) -> list[list[Tensor]]:
    """The directions u_j (per tensor) that ``zo_step_inplace`` uses for (run_seed, epoch, step)."""
    params = _check_params(params)
    gen = zo_generator(run_seed, epoch, step, device=params[0].device)
    return [list(noise(params, form=check_form(form), generator=gen)) for _ in range(check_q(q))]


def reference_step(params: Sequence[Tensor], loss_fn: Callable[[Sequence[Tensor]], Tensor], *, mu: float,
                   eta: float, run_seed: int, epoch: int, step: int, form: Form = "central",
                   q: int = 1) -> tuple[list[Tensor], Tensor]:
    """Out-of-place twin of ``zo_step_inplace``: the same directions, the estimator of
    ``zo_gradient_along`` on the flattened block, returns (new params, phi of shape (q,)).

    ``loss_fn`` takes a list of tensors shaped like ``params`` (with possible leading batch dims) and
    returns the loss. Agreement with the in-place step is to float rounding, not bitwise (module docstring).
    """
    params = _check_params(params)
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]
    u = torch.stack([torch.cat([t.reshape(-1) for t in u_j])
                     for u_j in regenerate_directions(params, run_seed=run_seed, epoch=epoch, step=step,
                                                      form=form, q=q)])
    x = torch.cat([p.detach().reshape(-1) for p in params])

    def flat_loss(z: Tensor) -> Tensor:
        lead = z.shape[:-1]
        return loss_fn([c.reshape(*lead, *s) for c, s in zip(torch.split(z, sizes, dim=-1), shapes)])

    est = zo_gradient_along(flat_loss, x, u, mu=mu, form=form)
    new = x - eta * est.grad
    return [c.reshape(s).clone() for c, s in zip(torch.split(new, sizes), shapes)], est.phi
