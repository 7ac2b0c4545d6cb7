"""Data-parallel hybrid step: every replica holds all of x and y and its own share of each minibatch.

The replicas run ``engine.model_step`` unchanged on a ``ReplicaObjective``, whose loss and gradients are
the batch-size-weighted means over the replicas (``comm.weighted_mean``). Because each replica

* draws the SAME direction (``model_step`` takes the generator of the step schedule, keyed by
  (run seed, epoch, step) alone, never by rank),
* sees the SAME reduced losses L+ and L- (so the same projected gradient phi), and
* sees the SAME reduced adapter gradient,

it applies bit for bit the same in-place operations to bit for bit the same weights, and the replicas stay
identical without ever exchanging weights. The collectives per step: one scalar all-reduce per loss
evaluation (two per direction for the two-sided forms) and one all-reduce of grad_y.

Against one process over the union batch the step agrees to float rounding only: the union mean
sum_i l_i / B and the reduced sum_r b_r (sum_{i in r} l_i / b_r) / B add the same terms in another order.
"""

from __future__ import annotations

import torch

from ..engine.model_step import StepOutcome, model_step
from ..errors import UsageError
from ..objectives.base import Blocks
from ..objectives.module import ModuleObjective
from ..optim.hybrid_sgd import HybridSGDConfig
from ..optim.schedule import ScheduledStep
from ..zo.inplace import NoiseMode
from .comm import weighted_mean


class ReplicaObjective:
    """A replica's ``ModuleObjective`` whose loss and gradients are means over all replicas' examples.

    Every other attribute (the live buffers ``x`` and ``y``, layouts, ``n``, ...) is the local objective's,
    so the in-place ZO step perturbs the replica's own weights. Every replica must make the same calls in
    the same order: each evaluation is a collective."""

    def __init__(self, local: ModuleObjective, group=None):
        self.local, self.group = local, group

    def __getattr__(self, name: str):
        return getattr(self.local, name)

    def _examples(self, idx) -> float:
        sizes = self.local.batch_sizes
        return float(sum(sizes) if idx is None else sizes[self.local._index(idx)])

    def loss(self, x, y, idx=None):
        """The reduced loss value (no graph: a number for the ZO difference quotient)."""
        return weighted_mean(self.local.loss(x, y, idx), self._examples(idx), self.group)

    def value_and_grad(self, x, y, idx=None, *, blocks: Blocks = "xy"):
        value, gx, gy = self.local.value_and_grad(x, y, idx, blocks=blocks)
        parts = [t.reshape(-1) for t in (value, gx, gy) if t is not None]
        sizes = [t.numel() for t in parts]
        reduced = weighted_mean(torch.cat(parts), self._examples(idx), self.group).split(sizes)
        value, rest = reduced[0].reshape(()), list(reduced[1:])
        gx = rest.pop(0) if gx is not None else None
        gy = rest.pop(0) if gy is not None else None
        return value, gx, gy

    def grad(self, x, y, idx=None, *, blocks: Blocks = "xy"):
        _, gx, gy = self.value_and_grad(x, y, idx, blocks=blocks)
        return gx, gy


def dp_model_step(
    local: ModuleObjective, config: HybridSGDConfig, noise_mode: NoiseMode, step: ScheduledStep, group=None
) -> StepOutcome:
    """One data-parallel hybrid step on this replica's live weights (see the module docstring); its
    ``loss`` is the reduced f_i at the step's start point, the same number on every replica. The ZO step
    runs in the weights' own precision: a ``zo_precision`` other than "plain" (a float32 master copy, or
    stochastic rounding) is refused rather than ignored, since its state is not carried across replicas yet."""
    if config.zo_precision != "plain":
        raise UsageError(f"zo_precision {config.zo_precision!r} is not supported by the data-parallel step; use plain")
    return model_step(ReplicaObjective(local, group), config, noise_mode, step)
