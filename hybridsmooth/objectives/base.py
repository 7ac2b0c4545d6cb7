"""The finite-sum protocol every estimator and optimizer in hybridsmooth is written against.

An objective is f(x, y) = sum_i w_i f_i(x, y) over n "samples" (w_i = 1/n unless the samples are
minibatches of unequal size), with two parameter blocks:

* ``x`` -- the zeroth-order block (the full model), a flat vector of length ``d_x``;
* ``y`` -- the first-order block (the adapter), a flat vector of length ``d_y``.

Blocks are flat tensors so that every algorithm (ZO estimators, Hessian-vector products, Lanczos,
the optimizer) sees plain vectors. Any number of leading batch dimensions is allowed: a synthetic
problem evaluated at ``x`` of shape ``(S, d_x)`` returns ``S`` losses, which is how many seeds run as
one batched computation. A torch model with an adapter implements the same protocol by keeping its
parameters as views into two flat buffers (see ``hybridsmooth.objectives.llm``).

The batch dimensions of ``x`` and ``y`` broadcast against each other (a ZO estimator evaluates
``x + mu u`` of shape ``(q, S, d_x)`` at ``y`` of shape ``(S, d_y)``), and so does ``idx``.

Sample selection ``idx``:

* ``None``: the full objective f (exact weighted average over all n samples);
* an ``int``: the same sample for every batch entry;
* a ``LongTensor`` broadcastable to the batch shape: one sample per batch entry (per seed).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from torch import Tensor

Index = "int | Tensor | None"

BLOCKS = ("x", "y")


@dataclass(frozen=True)
class Constants:
    """Exact constants of a problem, where known in closed form (``None`` where not).

    L_x, L_y:          sup ||grad^2_xx f||, sup ||grad^2_yy f||            (H1)-(H2), THEORY 3.1
    L_xy:              sup ||grad^2_xy f||                                  THEORY 3.1
    L_x_max, L_y_max:  per-sample versions, max_i sup ||grad^2_bb f_i||     (S10)
    sigma2_x, sigma2_y: sup_z (1/n) sum_i ||grad_b f_i(z) - grad_b f(z)||^2 (V), (R2)
    f_star:            inf f
    joint_L_x, joint_L_y: a valid Lambda for the two-sided joint condition (R1), THEORY 3.5
    notes:             where each value comes from, or why it is a bound and not the exact value
    """

    L_x: float | None = None
    L_y: float | None = None
    L_xy: float | None = None
    L_x_max: float | None = None
    L_y_max: float | None = None
    sigma2_x: float | None = None
    sigma2_y: float | None = None
    f_star: float | None = None
    joint_L_x: float | None = None
    joint_L_y: float | None = None
    notes: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


Blocks = Literal["xy", "x", "y"]


@runtime_checkable
class Objective(Protocol):
    """A finite sum with a ZO block ``x`` and an FO block ``y`` (see the module docstring).

    Every estimator, optimizer and check is written against these members and nothing else:

    * ``spec`` is the spec string that built the objective ("" when built in code), ``name`` a short label;
    * ``weights`` are the sample weights w_i (shape ``(n,)``, summing to 1);
    * ``batched`` says whether ``x`` / ``y`` may carry leading batch dimensions (synthetic problems: one
      batched computation for many seeds). An unbatched objective is a model whose weights live in flat
      buffers ``x`` / ``y`` (see :class:`LiveWeights`);
    * ``grad`` and ``value_and_grad`` take ``blocks`` ("xy", "x" or "y"); a block left out is returned as
      None, and an objective may skip its backward pass;
    * ``constant_hessian()`` is the dense Hessian of f when it is the same at every point (a quadratic),
      else None.
    """

    name: str
    spec: str
    n: int
    d_x: int
    d_y: int
    dtype: torch.dtype
    device: torch.device
    constants: Constants
    weights: Tensor
    batched: bool

    def loss(self, x: Tensor, y: Tensor, idx: int | Tensor | None = None) -> Tensor:
        """f_idx(x, y) with the batch shape of ``x``/``y`` (f itself when ``idx`` is None)."""

    def grad(
        self, x: Tensor, y: Tensor, idx: int | Tensor | None = None, *, blocks: Blocks = "xy"
    ) -> tuple[Tensor | None, Tensor | None]:
        """(grad_x f_idx, grad_y f_idx), each with the shape of its block; None for a block not asked for."""

    def value_and_grad(
        self, x: Tensor, y: Tensor, idx: int | Tensor | None = None, *, blocks: Blocks = "xy"
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(f_idx, grad_x f_idx, grad_y f_idx); None for a block not asked for."""

    def initial_point(self, batch: int | None = None) -> tuple[Tensor, Tensor]:
        """The problem's starting point z_0, repeated ``batch`` times along a leading dimension."""

    def constant_hessian(self) -> Tensor | None:
        """The dense Hessian of f when it does not depend on the point, else None."""


@runtime_checkable
class LiveWeights(Protocol):
    """What an unbatched (model) objective adds: its weights live in two flat buffers that the model's
    parameters view, so a step in place changes the model (``hybridsmooth.objectives.module``)."""

    x: Tensor
    y: Tensor
    x_layout: Any
    y_layout: Any

    def set_point(self, x: Tensor, y: Tensor) -> None:
        """Copy (x, y) into the live buffers."""


@runtime_checkable
class HeldOutSplits(Protocol):
    """An objective with held-out data to evaluate on: the LLM objectives (``objectives.llm``) carry their
    train/dev/test ``splits``; the finite-sum protocol itself has no held-out data."""

    splits: Any


def is_model_objective(objective: Objective) -> bool:
    """A torch model trained in place: no batch dimension, its weights in live flat buffers."""
    return not objective.batched and isinstance(objective, LiveWeights)


def check_blocks(blocks: str) -> Blocks:
    """``blocks`` as given, or a one-line error naming the accepted values."""
    if blocks not in ("xy", "x", "y"):
        from ..errors import UsageError

        raise UsageError(f"blocks must be 'xy', 'x' or 'y', got {blocks!r}")
    return blocks  # type: ignore[return-value]


class GradientsFromLoss:
    """The gradient members of the protocol, from ``loss`` by autograd (or from a closed-form ``_grad``).

    An objective written by hand needs ``loss`` and the attributes of the protocol; inheriting this supplies
    ``grad(..., blocks=)``, ``value_and_grad`` and ``constant_hessian``. Override ``_grad(x, y, idx)`` (both
    blocks) where a closed form is cheaper.
    """

    batched: bool = False
    spec: str = ""

    def _grad(self, x: Tensor, y: Tensor, idx: int | Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Both block gradients by autograd; subclasses with a closed form override this."""
        with torch.enable_grad():
            xr = x.detach().requires_grad_(True)
            yr = y.detach().requires_grad_(True)
            val = self.loss(xr, yr, idx).sum()
            gx, gy = torch.autograd.grad(val, (xr, yr), allow_unused=True)
        gx = torch.zeros_like(x) if gx is None else gx
        gy = torch.zeros_like(y) if gy is None else gy
        return gx.detach(), gy.detach()

    def grad(
        self, x: Tensor, y: Tensor, idx: int | Tensor | None = None, *, blocks: Blocks = "xy"
    ) -> tuple[Tensor | None, Tensor | None]:
        gx, gy = self._grad(x, y, idx)
        blocks = check_blocks(blocks)
        return (gx if "x" in blocks else None), (gy if "y" in blocks else None)

    def value_and_grad(
        self, x: Tensor, y: Tensor, idx: int | Tensor | None = None, *, blocks: Blocks = "xy"
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        gx, gy = self.grad(x, y, idx, blocks=blocks)
        return self.loss(x, y, idx), gx, gy

    def constant_hessian(self) -> Tensor | None:
        return None


class FiniteSum(GradientsFromLoss):
    """Convenience base class: weights, index handling, autograd gradients, per-sample losses.

    Subclasses implement ``_sample_losses(x, y) -> Tensor[..., n]`` (all n per-sample losses at once;
    cheap for synthetic problems) and may override ``grad`` with a closed form.
    """

    name: str = "finite-sum"
    batched: bool = True

    def __init__(
        self,
        *,
        n: int,
        d_x: int,
        d_y: int,
        dtype: torch.dtype = torch.float64,
        device: str | torch.device = "cpu",
        weights: Tensor | None = None,
        constants: Constants | None = None,
        x0: Tensor | None = None,
        y0: Tensor | None = None,
        spec: str = "",
    ):
        if n < 1 or d_x < 0 or d_y < 0:
            raise ValueError(f"need n >= 1 and non-negative block sizes, got n={n}, d_x={d_x}, d_y={d_y}")
        self.n, self.d_x, self.d_y = int(n), int(d_x), int(d_y)
        self.dtype, self.device = dtype, torch.device(device)
        if weights is None:
            weights = torch.full((n,), 1.0 / n, dtype=dtype, device=self.device)
        self.weights = weights.to(dtype=dtype, device=self.device)
        self.constants = constants or Constants()
        self._x0 = (
            torch.zeros(d_x, dtype=dtype, device=self.device) if x0 is None else x0.to(dtype=dtype, device=self.device)
        )
        self._y0 = (
            torch.zeros(d_y, dtype=dtype, device=self.device) if y0 is None else y0.to(dtype=dtype, device=self.device)
        )
        for block, z in (("x", self._x0), ("y", self._y0)):
            if not bool(torch.isfinite(z).all()):
                raise ValueError(f"the starting point's {block}-block is not finite (start too large for {dtype}?)")
        self.spec = spec

    # --- to implement -----------------------------------------------------------------------------
    def _sample_losses(self, x: Tensor, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- protocol ---------------------------------------------------------------------------------
    def sample_losses(self, x: Tensor, y: Tensor) -> Tensor:
        """All per-sample losses, shape ``batch + (n,)``."""
        return self._sample_losses(x, y)

    def loss(self, x: Tensor, y: Tensor, idx: int | Tensor | None = None) -> Tensor:
        return select_samples(self._sample_losses(x, y), idx, self.weights)

    def initial_point(self, batch: int | None = None) -> tuple[Tensor, Tensor]:
        if batch is None:
            return self._x0.clone(), self._y0.clone()
        return (self._x0.expand(batch, self.d_x).clone(), self._y0.expand(batch, self.d_y).clone())

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec or self.name}, n={self.n}, d_x={self.d_x}, d_y={self.d_y})"


def select_samples(per_sample: Tensor, idx: int | Tensor | None, weights: Tensor) -> Tensor:
    """Reduce per-sample values ``(..., n)`` to the weighted full average or to the chosen sample(s)."""
    if idx is None:
        return per_sample @ weights.to(per_sample.dtype)
    if isinstance(idx, int):
        return per_sample[..., idx]
    idx = torch.as_tensor(idx, device=per_sample.device)
    batch = per_sample.shape[:-1]
    idx = idx.expand(batch) if idx.dim() <= len(batch) else idx
    return torch.gather(per_sample, -1, idx.unsqueeze(-1).long()).squeeze(-1)


def broadcast_blocks(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Broadcast the batch dimensions of the two blocks against each other (block sizes may differ)."""
    batch = torch.broadcast_shapes(x.shape[:-1], y.shape[:-1])
    return x.expand(*batch, x.shape[-1]), y.expand(*batch, y.shape[-1])


def block_norms(gx: Tensor, gy: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(||g_x||, ||g_y||, ||g||) along the last dimension."""
    nx = torch.linalg.vector_norm(gx, dim=-1)
    ny = torch.linalg.vector_norm(gy, dim=-1)
    return nx, ny, torch.sqrt(nx**2 + ny**2)


def check_finite_float(name: str, value: float, *, positive: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or (positive and value <= 0):
        raise ValueError(f"{name} must be a finite {'positive ' if positive else ''}number, got {value!r}")
    return value
