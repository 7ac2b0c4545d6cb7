"""A torch ``nn.Module`` with an adapter as a finite-sum objective with blocks x (ZO) and y (FO).

THEORY 1: f(x, y) = sum_i w_i f_i(x, y), where one "sample" i is one minibatch of a fixed partition of
the data, n = number of minibatches and w_i = |batch_i| / sum_j |batch_j| (so f is the exact data-set
average even when the last minibatch is smaller). THEORY 2.1-2.2: x is updated by a ZO estimator
(MeZO's in-place seed trick) and y by exact first-order gradients.

Blocks are decided ONCE, at construction, by two name predicates over ``model.named_parameters()``
(which yields each tensor once, so a tied embedding / LM head is counted once):

* ``x`` -- parameters whose name satisfies ``is_x`` (the base model);
* ``y`` -- parameters whose name satisfies ``is_y`` (the adapter: LoRA factors, soft prompt, a trained
  classification head);
* parameters matching neither are an error unless ``allow_frozen=True``, in which case they form a third,
  frozen set (kept at their values, listed in ``frozen_names``). A name matching both is always an error.

``requires_grad`` is never read: PEFT rewrites it.

Each block's parameters are re-pointed into one flat buffer (``param.data = flat[a:b].view(shape)``), so
``objective.x`` / ``objective.y`` ARE the model's weights: an in-place ``objective.x.add_(...)`` changes
what the model computes (the MeZO perturb / restore / update steps work on these buffers directly).

Evaluations swap views of the GIVEN flat x and y into the model for the duration of one call (and
restore the Parameters afterwards, even on error), so

* autograd works with respect to x and y (gradients, Hessian-vector products by double backward);
* passing the live buffers evaluates the model as it currently is, with no copy;
* ``grad(..., blocks="y")`` runs with x detached, so a hybrid step never builds a graph over x.

Why not ``torch.func.functional_call`` (tie_weights=True): on a peft prompt-tuning model, where the word
embedding module is reachable under two names (inside the backbone and as ``word_embeddings``) and is
tied to the LM head, we measured that after a call the module keeps the evaluation tensor instead of
its Parameter, and that the x-gradient disagrees with finite differences of the loss (the input
embedding path is lost); the likely cause is that swapping name by name saves an already-swapped
tensor as the "original". We swap once per (module, parameter slot) over the de-duplicated modules instead,
which also covers a tied weight (one Parameter held by two modules: both slots are swapped).

The model is put in eval mode (no dropout) for every evaluation. Modules have no leading batch
dimensions: x and y must be 1-D (many seeds = many objectives).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import UsageError
from .base import Blocks, Constants, check_blocks

NamePredicate = Callable[[str], bool]
ModelCall = Callable[..., Any]
# loss_fn(call, batch) -> scalar tensor. ``call(*args, **kwargs)`` runs the model with the block values
# being evaluated (it is the model itself, called inside a parameter swap). The loss function decides
# what to feed it and how to score the output, which covers both the causal-LM prompt loss (label-word
# logits at the last position) and an encoder's classification head.
LossFn = Callable[[ModelCall, Any], Tensor]


@dataclass(frozen=True)
class FlatLayout:
    """Where each named parameter lives inside a flat block: ``flat[offset:offset+numel].view(shape)``."""

    names: tuple[str, ...]
    shapes: tuple[torch.Size, ...]
    offsets: tuple[int, ...]
    numel: int

    @classmethod
    def of(cls, named: Sequence[tuple[str, Tensor]]) -> FlatLayout:
        offsets, total = [], 0
        for _, p in named:
            offsets.append(total)
            total += p.numel()
        return cls(tuple(n for n, _ in named), tuple(p.shape for _, p in named), tuple(offsets), total)

    def views(self, flat: Tensor) -> dict[str, Tensor]:
        """name -> view of ``flat`` with the parameter's shape (no copy; autograd flows through).

        ``split`` and not one slice per tensor: the backward of a slice materialises a zero tensor the size
        of the whole block, so k slices cost k block-sized fills (measured 52 s against 1.1 s for 272 slices
        of a 33.6M block); split's backward is one concatenation."""
        parts = flat.split([s.numel() for s in self.shapes])
        return {n: t.view(s) for n, t, s in zip(self.names, parts, self.shapes)}

    def slices(self) -> dict[str, slice]:
        return {n: slice(o, o + s.numel()) for n, s, o in zip(self.names, self.shapes, self.offsets)}


def _scaled(g: Tensor, w: float) -> Tensor:
    """w * g, without a copy for the weight 1.0 of a single minibatch (every model step's gradient): g * 1.0
    is g bit for bit, and a fresh vector of length d costs a pass over 91 MB on MiniLM's base weights. A
    gradient autograd hands back broadcast (a stride-0 view) is copied, since the sum over minibatches adds
    into it."""
    return g if w == 1.0 and g.is_contiguous() else g * w


def batch_size_of(batch: Any) -> int:
    """Number of examples in a batch: the leading size of its first tensor (dict values in order,
    tuple/list items in order, or the batch itself)."""
    if isinstance(batch, Tensor):
        return int(batch.shape[0]) if batch.dim() else 1
    items = batch.values() if isinstance(batch, dict) else batch if isinstance(batch, (list, tuple)) else ()
    for item in items:
        if isinstance(item, Tensor) and item.dim() > 0:
            return int(item.shape[0])
    raise UsageError(
        "cannot infer a batch size (no tensor with a leading dimension in the batch); pass batch_sizes= explicitly"
    )


def move_batch(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: move_batch(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_batch(v, device) for v in batch)
    return batch


@contextmanager
def swapped_parameters(model: nn.Module, replacement: dict[int, Tensor]) -> Iterator[nn.Module]:
    """Inside the block, every slot holding a Parameter ``p`` with ``id(p)`` in ``replacement`` holds the
    replacement tensor instead (each unique module once; tied Parameters in every module that holds them)."""
    swapped = []
    try:
        for module in model.modules():  # de-duplicated modules
            for key, p in module._parameters.items():
                if p is not None and id(p) in replacement:
                    swapped.append((module, key, p))
        for module, key, p in swapped:
            module._parameters[key] = replacement[id(p)]
        yield model
    finally:
        for module, key, p in swapped:
            module._parameters[key] = p


def _flatten_into(named: list[tuple[str, nn.Parameter]], dtype: torch.dtype, device: torch.device) -> Tensor:
    """Copy the parameters into one flat buffer and re-point each ``param.data`` at its slice."""
    layout = FlatLayout.of(named)
    flat = torch.empty(layout.numel, dtype=dtype, device=device)
    with torch.no_grad():
        for (_, p), view in zip(named, layout.views(flat).values()):
            view.copy_(p.data)
            p.data = view
    return flat


class ModuleObjective:
    """An ``nn.Module`` plus a fixed list of minibatches as an Objective (see the module docstring).

    Attributes: ``x``, ``y`` (live flat buffers), ``x_layout``, ``y_layout`` (:class:`FlatLayout`),
    ``frozen_names``, ``weights`` (float64, batch size / total), ``n``, ``d_x``, ``d_y``, ``dtype``,
    ``device``, ``name``, ``spec``, ``constants`` (all None: unknown for real models), ``model``, ``batches``.
    """

    # weights live in the model's flat buffers: no leading batch dimension
    batched = False

    def __init__(
        self,
        model: nn.Module,
        batches: Sequence[Any],
        loss_fn: LossFn,
        *,
        is_x: NamePredicate,
        is_y: NamePredicate,
        allow_frozen: bool = False,
        batch_sizes: Sequence[int] | None = None,
        name: str = "module",
        spec: str = "",
    ):
        if not isinstance(model, nn.Module):
            raise UsageError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        batches = list(batches)
        if not batches:
            raise UsageError("need at least one minibatch")
        named = list(model.named_parameters())  # de-duplicated: tied weights appear once
        if not named:
            raise UsageError("the model has no parameters")
        both = [n for n, _ in named if is_x(n) and is_y(n)]
        if both:
            raise UsageError(f"{len(both)} parameter(s) match both the x and the y predicate, e.g. {both[0]!r}")
        xs = [(n, p) for n, p in named if is_x(n)]
        ys = [(n, p) for n, p in named if is_y(n)]
        frozen = tuple(n for n, _ in named if not is_x(n) and not is_y(n))
        if frozen and not allow_frozen:
            raise UsageError(
                f"{len(frozen)} parameter(s) match neither the x nor the y predicate, e.g. "
                f"{frozen[0]!r}; fix the predicates or pass allow_frozen=True"
            )
        if not xs or not ys:
            raise UsageError(f"both blocks need parameters; x has {len(xs)}, y has {len(ys)}")
        dtypes = {p.dtype for _, p in xs + ys}
        devices = {p.device for _, p in xs + ys}
        if len(dtypes) != 1 or len(devices) != 1:
            raise UsageError(f"all x and y parameters must share one dtype and device, got {dtypes} on {devices}")
        self.dtype, self.device = dtypes.pop(), devices.pop()

        self.model = model.eval()
        self.loss_fn = loss_fn
        self.x_layout, self.y_layout = FlatLayout.of(xs), FlatLayout.of(ys)
        self.x = _flatten_into(xs, self.dtype, self.device)
        self.y = _flatten_into(ys, self.dtype, self.device)
        self.frozen_names = frozen
        # the Parameter objects of each block, in layout order (the swap targets of an evaluation)
        self._x_params = [p for _, p in xs]
        self._y_params = [p for _, p in ys]
        self.d_x, self.d_y = self.x_layout.numel, self.y_layout.numel

        self.batches = [move_batch(b, self.device) for b in batches]
        sizes = [batch_size_of(b) for b in self.batches] if batch_sizes is None else [int(s) for s in batch_sizes]
        if len(sizes) != len(self.batches) or min(sizes) < 1:
            raise UsageError(f"batch_sizes must give one positive size per batch ({len(self.batches)}), got {sizes}")
        self.batch_sizes = tuple(sizes)
        self.n = len(self.batches)
        self.weights = torch.tensor(sizes, dtype=torch.float64) / sum(sizes)
        self.constants = Constants(notes="unknown for a real model: estimate them (curvature, secants)")
        self.name, self.spec = name, spec

    # --- evaluation -------------------------------------------------------------------------------
    def _check(self, x: Tensor, y: Tensor) -> None:
        if x.dim() != 1 or y.dim() != 1:
            raise UsageError(
                f"module objectives take flat 1-D blocks (no leading batch dims); got x "
                f"{tuple(x.shape)}, y {tuple(y.shape)}"
            )
        if x.numel() != self.d_x or y.numel() != self.d_y:
            raise UsageError(f"block sizes must be d_x={self.d_x}, d_y={self.d_y}; got {x.numel()}, {y.numel()}")

    def _index(self, idx: int | Tensor) -> int:
        if isinstance(idx, Tensor):
            if idx.numel() != 1:
                raise UsageError(
                    "module objectives take one sample index (an int or a one-element tensor), "
                    f"got a tensor of shape {tuple(idx.shape)}"
                )
            idx = int(idx.item())
        if not isinstance(idx, int) or not -self.n <= idx < self.n:
            raise UsageError(f"sample index must be an int in [0, {self.n}), got {idx!r}")
        return idx % self.n

    @contextmanager
    def evaluated_at(self, x: Tensor, y: Tensor) -> Iterator[nn.Module]:
        """``with obj.evaluated_at(x, y) as model:`` -- the model (in eval mode) computing with views of
        the given flat blocks; its own Parameters are back in place when the block exits."""
        self._check(x, y)
        replacement = {id(p): v for p, v in zip(self._x_params, self.x_layout.views(x).values())}
        replacement.update({id(p): v for p, v in zip(self._y_params, self.y_layout.views(y).values())})
        self.model.eval()
        with swapped_parameters(self.model, replacement) as model:
            yield model

    def _sample_loss(self, x: Tensor, y: Tensor, i: int) -> Tensor:
        with self.evaluated_at(x, y) as model:
            return self.loss_fn(model, self.batches[i])

    def loss(self, x: Tensor, y: Tensor, idx: int | Tensor | None = None) -> Tensor:
        """f_idx(x, y), a 0-d tensor; ``idx=None`` gives f = sum_i w_i f_i (one forward per minibatch;
        a graph is kept over all of them if x or y requires grad)."""
        self._check(x, y)
        if idx is not None:
            return self._sample_loss(x, y, self._index(idx))
        total = None
        for i in range(self.n):
            term = float(self.weights[i]) * self._sample_loss(x, y, i)
            total = term if total is None else total + term
        return total

    def value_and_grad(
        self, x: Tensor, y: Tensor, idx: int | Tensor | None = None, *, blocks: Blocks = "xy"
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """(f_idx, grad_x f_idx, grad_y f_idx) by reverse-mode autograd; a block left out of ``blocks``
        is detached (no graph over it) and returned as None. ``idx=None`` accumulates w_i grad f_i one
        minibatch at a time (memory of one minibatch)."""
        self._check(x, y)
        # a block left out of ``blocks`` stays out of autograd: a hybrid step builds no graph over the base weights
        check_blocks(blocks)
        indices = [self._index(idx)] if idx is not None else list(range(self.n))
        scale = [1.0] if idx is not None else [float(w) for w in self.weights]
        want_x, want_y = "x" in blocks, "y" in blocks
        value, gx, gy = None, None, None
        with torch.enable_grad():
            xr = x.detach().requires_grad_(want_x)
            yr = y.detach().requires_grad_(want_y)
            wrt = [t for t, w in ((xr, want_x), (yr, want_y)) if w]
            for i, w in zip(indices, scale):
                val = self._sample_loss(xr, yr, i)
                grads = list(torch.autograd.grad(val, wrt, allow_unused=True))
                grads = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, wrt)]
                gxi = grads.pop(0) if want_x else None
                gyi = grads.pop(0) if want_y else None
                val = val.detach() * w
                value = val if value is None else value + val
                if want_x:
                    gx = _scaled(gxi, w) if gx is None else gx.add_(gxi, alpha=w)
                if want_y:
                    gy = _scaled(gyi, w) if gy is None else gy.add_(gyi, alpha=w)
        return value, gx, gy

    def grad(
        self, x: Tensor, y: Tensor, idx: int | Tensor | None = None, *, blocks: Blocks = "xy"
    ) -> tuple[Tensor | None, Tensor | None]:
        """(grad_x f_idx, grad_y f_idx); see :meth:`value_and_grad` for ``blocks``."""
        _, gx, gy = self.value_and_grad(x, y, idx, blocks=blocks)
        return gx, gy

    def initial_point(self, batch: int | None = None) -> tuple[Tensor, Tensor]:
        """Clones of the live buffers (the model's weights at the time of the call)."""
        if batch is not None:
            raise UsageError("module objectives have no batch dimension; call initial_point() without batch")
        return self.x.detach().clone(), self.y.detach().clone()

    def constant_hessian(self) -> None:
        """A network's Hessian depends on the point."""
        return None

    def set_point(self, x: Tensor, y: Tensor) -> None:
        """Copy (x, y) into the live buffers, i.e. into the model's weights."""
        self._check(x, y)
        with torch.no_grad():
            self.x.copy_(x)
            self.y.copy_(y)

    def __repr__(self) -> str:
        return (
            f"ModuleObjective({self.spec or self.name}, n={self.n}, d_x={self.d_x}, d_y={self.d_y}, "
            f"dtype={self.dtype}, frozen={len(self.frozen_names)})"
        )
