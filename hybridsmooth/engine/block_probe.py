"""What each block's step does to a fixed probe loss: the first-order decrease owed to x and to y.

At a probed step s the probe takes one forward and one backward of a fixed probe batch P (the first
``PROBE_EXAMPLES`` examples of the dev split, or training minibatch 0 when the objective has no dev split)
at the point (x_s, y_s), then lets the step run and reads the displacement it made:

* ``x_change = <grad_x f_P, x_{s+1} - x_s>`` and ``y_change = <grad_y f_P, y_{s+1} - y_s>``: the first-order
  change of f_P owed to each block's actual step (for a ZO block -eta_x <grad_x f_P, g_x>, one draw of a noisy
  estimate; for an FO block -eta_y <grad_y f_P, g_y>);
* ``x_expected = -eta_x ||grad_x f_P||^2`` and ``y_expected = -eta_y ||grad_y f_P||^2``: the same change with
  the step's direction replaced by its mean (E g_x = grad_x f_mu ~ grad_x f for a ZO block);
* ``x_distance = ||x_s - x_0||`` and ``y_distance = ||y_s - y_0||``: how far each block has moved.

The displacement is read as <g, w_{s+1}> - <g, w_s> in float64, so no copy of the weights is kept beyond the
start point x_0 the distances need. The probe draws no random numbers, so a probed run takes the same steps
as an unprobed one.
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import Tensor

from ..curvature.precise import distance64 as _distance
from ..curvature.precise import dot64 as _dot

PROBE_EXAMPLES = 32
PROBE_COLUMNS = (
    "step", "probe_loss", "grad_x_norm", "grad_y_norm", "x_change", "y_change", "x_expected", "y_expected",
    "x_distance", "y_distance",
)  # fmt: skip


def probe_batch(objective):
    """The fixed probe batch of ``objective``: its first dev examples, else its first training minibatch."""
    from ..objectives.module import move_batch

    splits = getattr(objective, "splits", None)
    if splits is not None and len(splits.dev) and hasattr(objective, "make_batch"):
        dev = splits.dev
        k = min(PROBE_EXAMPLES, len(dev))
        return move_batch(objective.make_batch(list(dev.texts[:k]), list(dev.labels[:k])), objective.device)
    return objective.batches[0]


@dataclasses.dataclass(eq=False)
class BlockProbe:
    """The probe of one run: ``before(step)`` at the point of a probed step, ``after()`` once it has moved;
    ``rows`` holds one tuple of ``PROBE_COLUMNS`` per probed step."""

    objective: object
    every: int
    eta_x: float
    eta_y: float
    x0: Tensor
    y0: Tensor
    batch: object
    rows: list = dataclasses.field(default_factory=list)
    _pending: tuple | None = None

    @classmethod
    def for_run(cls, objective, every: int, eta_x: float, eta_y: float, start: tuple[Tensor, Tensor]) -> BlockProbe:
        x0, y0 = start
        return cls(objective, every, eta_x, eta_y, x0, y0, probe_batch(objective))

    def due(self, step: int) -> bool:
        return self.every > 0 and step % self.every == 0

    def before(self, step: int) -> None:
        obj = self.objective
        x, y = obj.x.detach().clone(), obj.y.detach().clone()
        with torch.enable_grad():
            xr, yr = x.requires_grad_(True), y.requires_grad_(True)
            with obj.evaluated_at(xr, yr) as model:
                loss = obj.loss_fn(model, self.batch)
            gx, gy = torch.autograd.grad(loss, (xr, yr), allow_unused=True)
        gx = torch.zeros_like(x) if gx is None else gx.detach()
        gy = torch.zeros_like(y) if gy is None else gy.detach()
        distances = (_distance(obj.x, self.x0), _distance(obj.y, self.y0))
        self._pending = (step, float(loss.detach()), gx, gy, _dot(gx, obj.x), _dot(gy, obj.y), distances)

    def after(self) -> None:
        if self._pending is None:
            return
        step, loss, gx, gy, gx_x, gy_y, distances = self._pending
        self._pending = None
        obj = self.objective
        nx2, ny2 = _dot(gx, gx), _dot(gy, gy)
        self.rows.append(
            (
                step,
                loss,
                math.sqrt(nx2),
                math.sqrt(ny2),
                _dot(gx, obj.x) - gx_x,
                _dot(gy, obj.y) - gy_y,
                -self.eta_x * nx2,
                -self.eta_y * ny2,
                *distances,
            )
        )
