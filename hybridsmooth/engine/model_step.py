"""One optimizer step on a torch model, in place: ``hybrid_step`` with MeZO's in-place ZO block step.

The step is ``optim.hybrid_sgd.hybrid_step`` -- the same code that trains the synthetic problems -- applied
to a model objective whose blocks are the model's live flat weight buffers. Only the ZO block step is
swapped for the in-place seed trick (``zo.inplace.zo_step_inplace_from``): perturb, two forward passes,
restore fused with the update, its noise drawn from the generator of the step schedule. The adapter
gradient is taken with the base weights out of autograd, so a hybrid step builds no graph over x and
leaves base-weight gradients empty.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig, ZOStep, hybrid_step, records_start_loss
from ..optim.schedule import ScheduledStep
from ..zo.estimators import ZOEstimate
from ..zo.inplace import NoiseMode, zo_step_inplace_from
from ..zo.precision import RunPrecision


def _block_views(objective: Objective, v: Tensor) -> list[Tensor]:
    """The model's parameter tensors that view the live block buffer ``v`` (x or y of ``objective``)."""
    if v is objective.x:
        return list(objective.x_layout.views(v).values())
    if v is objective.y:
        return list(objective.y_layout.views(v).values())
    raise ValueError("the in-place ZO step needs the objective's live block buffer")


def _adapter_gradient_hook(objective: Objective, idx: int | None, grads: list[Tensor]) -> Callable[[], Tensor]:
    """A loss evaluation that also takes grad_y f_idx at the weights' current (perturbed) point into
    ``grads``: the forward pass of the ZO loss then serves the adapter gradient too."""

    def hook() -> Tensor:
        with torch.enable_grad():
            value, _, gy = objective.value_and_grad(objective.x, objective.y, idx, blocks="y")
        grads.append(gy.detach())
        return value

    return hook


def _read_rows(objective: Objective, idx: int | None, form: str, options: dict) -> tuple[list | None, Callable]:
    """(rows per x tensor, loss wrapper) for an x step that moves only the embedding rows the batch reads
    (``zo.read_rows``), or (None, identity) where that does not apply: no index-only embedding, a form other
    than spsa, a ZO precision other than plain, or a rounding probe."""
    found = getattr(objective, "embedding_rows", None)
    plain = options.get("precision", "plain") == "plain" and options.get("probe") is None
    if found is None or form != "spsa" or not plain or idx is None:
        return None, lambda loss: loss
    rows = found.rows(objective.batches[int(idx)], len(objective.x_layout.names))
    return rows, lambda loss: found.checked(loss, rows[found.position])


def inplace_zo_block_step(
    objective: Objective,
    *,
    noise_mode: NoiseMode,
    fo_point: str = "clean",
    idx: int | None = None,
    precision: RunPrecision | None = None,
    record: dict | None = None,
    zo_rows: str = "read",
    stream: str = "sequential",
) -> ZOStep:
    """A ZO block step for ``hybrid_step`` that perturbs and updates the live weights of ``objective``
    tensor by tensor (MeZO's seed trick), its directions drawn from the generator ``hybrid_step`` passes
    (a fresh one per step: the trick saves its state to regenerate the directions).

    ``fo_point`` plus / sym (hybrid, x block): the adapter gradient is taken on sample ``idx`` at
    x + mu u_1 (plus) or averaged over x +- mu u_1 (sym) while the weights sit there, in the same forward
    pass that gives the ZO loss, and handed to ``hybrid_step`` as the estimate's ``fo_grad``.

    ``precision`` (``zo.precision.RunPrecision``, one per run): the ZO precision, the float32 master copy of
    each ZO block in mode master, and the coordinate sample on which rounding is measured; the step puts
    what it measured into ``record`` (block -> (``RoundingSample``, the update's scale eta |phi| / q)).

    ``zo_rows`` read (default): with Rademacher directions (form spsa) on a model whose word embedding only
    its lookup reads, the measuring moves of x skip the embedding rows the batch does not read
    (``zo.read_rows``; the losses are the same, the unread rows round once instead of three times); all:
    every row moves, as before.

    ``stream``: how a Gaussian direction is drawn (``zo.gaussian_split``; ``HybridSGDConfig.zo_stream``)."""
    if zo_rows not in ("read", "all"):
        raise ValueError(f"zo_rows must be read or all, got {zo_rows!r}")

    def step_fn(
        loss_fn: Callable[[Tensor], Tensor],
        v: Tensor,
        *,
        eta: float,
        mu: float,
        form,
        q: int,
        generator: torch.Generator,
    ) -> tuple[Tensor, ZOEstimate]:
        params = _block_views(objective, v)
        grads: list[Tensor] = []
        hook = _adapter_gradient_hook(objective, idx, grads) if fo_point != "clean" and v is objective.x else None
        block = "x" if v is objective.x else "y"
        kw = precision.step_options(objective, block) if precision is not None else {}
        moves_rows = block == "x" and zo_rows == "read"
        rows, checked = _read_rows(objective, idx, form, kw) if moves_rows else (None, lambda loss: loss)
        hook = checked(hook) if hook is not None else None
        res = zo_step_inplace_from(
            generator,
            params,
            checked(lambda: loss_fn(v)),
            mu=mu,
            eta=eta,
            form=form,
            q=q,
            noise_mode=noise_mode,
            at_plus=hook,
            at_minus=hook if fo_point == "sym" else None,
            rows=rows,
            stream=stream,
            **kw,
        )
        if record is not None and res.rounding is not None:
            record[block] = (res.rounding, eta * math.sqrt(sum(p * p for p in res.phi)) / q)
        phi = torch.tensor(res.phi, dtype=torch.float64)
        mid = [0.5 * (a + b) for a, b in zip(res.loss_plus, res.loss_minus)]
        at_x = res.loss_at_x if res.loss_at_x is not None else sum(mid) / len(mid)
        fo_grad = sum(grads) / len(grads) if grads else None
        return v, ZOEstimate(grad=None, phi=phi, u=None, loss_at_x=torch.tensor(at_x), fo_grad=fo_grad)

    return step_fn


@dataclass(frozen=True)
class StepOutcome:
    """What one model step measured: f_i at its start point, its seconds, the mean ZO projected gradient
    and ||grad_y|| (NaN for a block the method does not update that way)."""

    loss: float
    seconds: float
    zo_phi: float
    grad_y_norm: float
    # what rounding did to the ZO step (zo.precision), NaN when not measured: the step's residue
    # ||x_after - (x_before - eta g)|| / ||x||, the fraction of the update lost, its s^2 and update scale
    zo_residue: float = float("nan")
    zo_lost: float = float("nan")
    zo_error_sq: float = float("nan")
    zo_update_scale: float = float("nan")


def sgd_in_place(x: Tensor, grad: Tensor, eta: float) -> Tensor:
    """x <- x - eta grad in place, overwriting ``grad`` (a gradient nobody else holds): the same two rounded
    operations as ``x - eta * grad`` (eta * grad, then the difference) without two fresh tensors of x's size."""
    with torch.no_grad():
        return x.sub_(grad.mul_(eta))


def model_step(
    objective: Objective,
    config: HybridSGDConfig,
    noise_mode: NoiseMode,
    step: ScheduledStep,
    *,
    precision: RunPrecision | None = None,
) -> StepOutcome:
    """One optimizer step of the schedule on the live weights of ``objective``, in place; ``precision``
    (``zo.precision.RunPrecision``) sets the ZO precision and measures its rounding (default: plain,
    unmeasured)."""
    info: dict = {}
    rounding: dict = {}
    zo_fn = inplace_zo_block_step(
        objective,
        noise_mode=noise_mode,
        fo_point=config.fo_point,
        idx=step.idx,
        precision=precision,
        record=rounding,
        stream=config.zo_stream,
    )
    has_zo = "zo" in config.modes
    logged = has_zo or records_start_loss(config)
    if not logged:  # a logging forward at the step's start point, outside the timed step
        with torch.no_grad():
            loss = float(objective.loss(objective.x, objective.y, step.idx))
    t0 = time.perf_counter()
    try:
        x_new, y_new = hybrid_step(
            objective,
            objective.x,
            objective.y,
            step.idx,
            config,
            step.noise,
            zo_block_step=zo_fn,
            info=info,
            fo_x_update=sgd_in_place,  # the live weights are the run's own: FO-Full updates them in place
        )
    except RuntimeError as err:
        if "overflow" not in str(err):
            raise
        # an update too large for the weights' dtype: the run has diverged
        return StepOutcome(float("inf"), time.perf_counter() - t0, float("nan"), float("nan"))
    with torch.no_grad():  # an FO update of y comes back out of place: write it into the live weights
        if x_new is not objective.x:
            objective.x.copy_(x_new)
        if y_new is not objective.y:
            objective.y.copy_(y_new)
    seconds = time.perf_counter() - t0
    est = info.get("zo_x") or info.get("zo_y")
    if has_zo:  # f_i at the start point: (L+ + L-)/2 = f_i + O(mu^2) for the two-sided forms
        loss = float(est.loss_at_x)
    elif logged:  # f_i at the start point, from the forward of the step's own gradient
        loss = float(info["loss"])
    phi = float(est.phi.mean()) if est is not None else float("nan")
    gy = info.get("grad_y")
    gy_norm = float(torch.linalg.vector_norm(gy.double())) if gy is not None else float("nan")
    measured = rounding.get("x") or rounding.get("y")
    if measured is None:
        return StepOutcome(loss, seconds, phi, gy_norm)
    r, scale = measured
    return StepOutcome(loss, seconds, phi, gy_norm, r.residue, r.lost, r.error_sq, scale)
