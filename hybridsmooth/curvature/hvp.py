"""Block Hessian-vector products of a finite-sum objective at one point z = (x, y) (THEORY 1, 3.1).

With H = grad^2 f_idx(z) = [[H_xx, H_xy], [H_yx, H_yy]] and a direction v = (v_x, v_y), a block product
reads one output block of H v:

    H_xx v_x = [H (v_x, 0)]_x,   H_yy v_y = [H (0, v_y)]_y,   H_xy v_y = [H (0, v_y)]_x,   H_yx v_x = [H (v_x, 0)]_y.

``idx`` selects f_i (an int) or f itself (None). For f the default ``reduce='per_sample'`` sums
w_i H_i v over the samples with the objective's own weights, so the average is exact when the last
minibatch is smaller (an equal-weight average of batch Hessians is not); ``reduce='direct'`` calls
``loss(x, y, None)`` once instead.

Back-ends (all three agree to rounding on smooth objectives; see tests/curvature):

* ``reverse_over_reverse``: d/dz <grad f(z), v> by double backward. Robust; the default. With
  ``reuse_graph=True`` the gradient graph of each sample is built once and every later product is one
  backward pass through it (``retain_graph``), which is what an eigen-solver wants.
* ``forward_over_reverse``: ``torch.func.jvp`` of ``torch.func.grad``. Keeps no graph between products
  (less memory), recomputes the gradient each time.
* ``finite_difference``: a fourth-order central difference of ``objective.grad`` along v (four gradients
  at z +- h v, z +- 2h v). Fallback for models whose ops have no double-backward or forward-AD rule. The
  step h is scaled to the weights the direction touches (:class:`StepScales`); the products are accurate
  to ~1e-4 relative in float32 (:func:`fd_relative_step`) but only approximately linear and symmetric,
  which :func:`operator_defects` measures.

Batched products (:meth:`HessianAtPoint.product_many`, ``Operator.matmat``) take k directions as columns.
Reverse-over-reverse runs one double backward with the k directions stacked (``is_grads_batched``),
forward-over-reverse vmaps its jvp, finite differences loop. Where an op has no batching rule the engine
falls back to k single products, once and for good, with the same numbers.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import partial
from typing import Literal

import torch
from torch import Tensor

from ..objectives.base import Objective

# the finite-difference step, the operator defects and the determinism check live in their own modules; hvp is
# where callers look
from .defects import OperatorDefects, operator_defects
from .determinism import NondeterministicObjectiveError, check_determinism
from .fd_step import StepScales, fd_relative_step
from .heap import retained_heap
from .operators import HVPCounter, Operator

__all__ = [
    "BACKENDS",
    "Backend",
    "BlockName",
    "HessianAtPoint",
    "NondeterministicObjectiveError",
    "OperatorDefects",
    "OutBlock",
    "Reduce",
    "StepScales",
    "check_determinism",
    "fd_relative_step",
    "hessian_operator",
    "hvp",
    "operator_defects",
]

Backend = Literal["reverse_over_reverse", "forward_over_reverse", "finite_difference"]
BACKENDS: tuple[str, ...] = ("reverse_over_reverse", "forward_over_reverse", "finite_difference")
BlockName = Literal["xx", "yy", "xy", "yx", "full"]
BLOCK_NAMES: tuple[str, ...] = ("xx", "yy", "xy", "yx", "full")
Reduce = Literal["per_sample", "direct"]
OutBlock = Literal["x", "y", "both"]


def _check_point(objective: Objective, x: Tensor, y: Tensor) -> None:
    if x.shape != (objective.d_x,) or y.shape != (objective.d_y,):
        raise ValueError(
            f"curvature queries take one point: x of shape ({objective.d_x},) and y of shape "
            f"({objective.d_y},), got {tuple(x.shape)} and {tuple(y.shape)} (no batch dimension)"
        )


def _sample_plan(objective: Objective, idx: int | None, reduce: Reduce) -> list[tuple[int | None, float]]:
    """[(sample index or None for the whole f, weight)] whose weighted sum of Hessians is grad^2 f_idx."""
    if idx is not None:
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < objective.n:
            raise ValueError(f"idx must be None or an int sample index in [0, {objective.n}), got {idx!r}")
        return [(idx, 1.0)]
    if reduce == "direct":
        return [(None, 1.0)]
    if reduce != "per_sample":
        raise ValueError(f"unknown reduce {reduce!r}; accepted: per_sample, direct")
    w = [float(v) for v in torch.as_tensor(objective.weights).reshape(-1)]
    if len(w) != objective.n:
        raise ValueError(f"objective.weights has {len(w)} entries, expected n = {objective.n}")
    return [(i, wi) for i, wi in enumerate(w) if wi != 0.0]


class HessianAtPoint:
    """Block Hessian-vector products of f_idx at a fixed point, with an optional per-sample graph cache.

    Build operators with :meth:`operator`; they share this engine's graphs and its HVP counter.
    The cache (reverse-over-reverse only) holds one gradient graph per sample and per set of blocks
    differentiated (memory ~ n graphs for the full f); pass ``reuse_graph=False`` for standalone products
    that free each graph at once. ``check`` runs :func:`check_determinism` on the first sample (two extra
    losses and gradients). ``on_product``, if given, is called after every product (progress reporting;
    k times for a batch of k). ``batched`` says whether :meth:`product_many` runs one batched product: never
    for finite differences, and no longer once a batched product raised (``batch_error`` says why).
    """

    def __init__(
        self,
        objective: Objective,
        x: Tensor,
        y: Tensor,
        *,
        idx: int | None = None,
        backend: Backend = "reverse_over_reverse",
        reduce: Reduce = "per_sample",
        reuse_graph: bool = True,
        check: bool = True,
        on_product: Callable[[], None] | None = None,
    ):
        if backend not in BACKENDS:
            raise ValueError(f"unknown HVP backend {backend!r}; accepted: {', '.join(BACKENDS)}")
        _check_point(objective, x, y)
        self.objective, self.backend, self.reuse_graph = objective, backend, bool(reuse_graph)
        self.x, self.y = x.detach(), y.detach()
        self.plan = _sample_plan(objective, idx, reduce)
        self.idx = idx
        self.counter = HVPCounter()
        self.on_product = on_product
        self._graphs: dict[tuple, tuple] = {}
        # finite differences gain nothing from batching (each product is four gradients anyway)
        self.batched = backend != "finite_difference"
        self.batch_error: str | None = None
        self.step_scales = StepScales.at(objective, self.x, self.y) if backend == "finite_difference" else None
        if check:
            check_determinism(objective, self.x, self.y, self.plan[0][0])

    @property
    def dtype(self) -> torch.dtype:
        return self.x.dtype

    @property
    def device(self) -> torch.device:
        return self.x.device

    # --- back-ends, one sample each -------------------------------------------------------------
    def _graph(self, s: int | None, need: frozenset) -> tuple:
        """(x leaf, y leaf, grad_x, grad_y) with create_graph, differentiating only the blocks in ``need``.

        A block outside ``need`` is held constant (no graph over it): H_yy of a LoRA adapter never builds
        second-order graphs over the base weights. A cached graph over both blocks serves any request.
        """
        for key in ((s, need), (s, frozenset("xy"))):
            if key in self._graphs:
                return self._graphs[key]
        with torch.enable_grad():
            xr = self.x.clone().requires_grad_("x" in need)
            yr = self.y.clone().requires_grad_("y" in need)
            wrt = [t for t in (xr, yr) if t.requires_grad]
            loss = self.objective.loss(xr, yr, s)
            grads = list(torch.autograd.grad(loss, wrt, create_graph=True, allow_unused=True))
        gx = grads.pop(0) if xr.requires_grad else None
        gy = grads.pop(0) if yr.requires_grad else None
        graph = (xr, yr, gx, gy)
        if self.reuse_graph:
            self._graphs[(s, need)] = graph
        return graph

    @staticmethod
    def _need(vx, vy, out: OutBlock) -> frozenset:
        ins = {b for b, v in (("x", vx), ("y", vy)) if v is not None}
        outs = {"x", "y"} if out == "both" else {out}
        return frozenset(ins | outs)

    def _double_backward(self, s, vx, vy, out: OutBlock, *, batched: bool) -> tuple[Tensor | None, Tensor | None]:
        """d/dz <grad f_s, v> for the requested output blocks; ``batched``: vx, vy are (d, k) columns, run as one
        double backward over a batch of k output gradients."""
        xr, yr, gx, gy = self._graph(s, self._need(vx, vy, out))
        # the directions enter as the gradient's output gradients: d/dz <g, v> without forming <g, v>, whose
        # backward multiplies v by a unit output gradient into a fresh vector of length d (91 MB on MiniLM's
        # base weights, its page faults included); the same products bit for bit
        pairs = [
            (g, v.T if batched else v)
            for g, v in ((gx, vx), (gy, vy))
            if v is not None and g is not None and g.requires_grad
        ]
        leaves = [leaf for leaf, b in ((xr, "x"), (yr, "y")) if out in (b, "both")]
        if not pairs:  # the gradient does not depend on z: the Hessian block is zero
            res = [None] * len(leaves)
        else:
            with torch.enable_grad():
                res = torch.autograd.grad(
                    [g for g, _ in pairs],
                    leaves,
                    grad_outputs=[v for _, v in pairs],
                    retain_graph=self.reuse_graph,
                    allow_unused=True,
                    is_grads_batched=batched,
                )
        if batched:
            k = (vx if vx is not None else vy).shape[1]
            res = [leaf.new_zeros(leaf.shape[0], k) if r is None else r.detach().T for r, leaf in zip(res, leaves)]
        else:
            res = [torch.zeros_like(leaf) if r is None else r.detach() for r, leaf in zip(res, leaves)]
        return self._split(res, out)

    def _forward(self, s, vx, vy, out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        # jvp only along the blocks the direction lives in; the other block enters as a constant
        argnums = {"x": (0,), "y": (1,), "both": (0, 1)}[out]
        grad_fn = torch.func.grad(lambda a, b: self.objective.loss(a, b, s), argnums=argnums)
        if vx is None and vy is None:
            vx = torch.zeros_like(self.x)
        if vy is None:
            fn, primals, tangents = (lambda a: grad_fn(a, self.y)), (self.x,), (vx,)
        elif vx is None:
            fn, primals, tangents = (lambda b: grad_fn(self.x, b)), (self.y,), (vy,)
        else:
            fn, primals, tangents = grad_fn, (self.x, self.y), (vx, vy)
        _, tangent_out = torch.func.jvp(fn, primals, tangents)
        return self._split([t.detach() for t in tangent_out], out)

    def _forward_many(self, s, VX, VY, out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        """:meth:`_forward` vmapped over the k columns (the primal point is shared, only the tangents vary)."""

        def one(vx, vy):  # vmap returns tensors only, so the absent block is dropped and restored by _split
            return tuple(t for t in self._forward(s, vx, vy, out) if t is not None)

        dims = tuple(None if V is None else 1 for V in (VX, VY))
        # out_dims=0, then columns: vmap broadcasts an output that does not depend on the direction (a constant
        # cross block) along a leading dimension only; with out_dims=1 it fails to expand it
        res = torch.func.vmap(one, in_dims=dims, out_dims=0)(VX, VY)
        return self._split([t.detach().T for t in res], out)

    def _finite_difference(self, s, vx, vy, out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        """Fourth-order central difference of gradients, step from :class:`StepScales` (error: fd_relative_step)."""
        tx = torch.zeros_like(self.x) if vx is None else vx
        ty = torch.zeros_like(self.y) if vy is None else vy
        h = self.step_scales.step(tx, ty)
        if h == 0.0:
            zeros = [torch.zeros_like(b) for b, n in ((self.x, "x"), (self.y, "y")) if out in (n, "both")]
            return self._split(zeros, out)

        def spread(a: float) -> list[Tensor]:  # g(z + a v) - g(z - a v)
            gp = self._grad(torch.add(self.x, tx, alpha=a), torch.add(self.y, ty, alpha=a), s, out)
            gm = self._grad(torch.add(self.x, tx, alpha=-a), torch.add(self.y, ty, alpha=-a), s, out)
            return [p - m for p, m in zip(gp, gm)]  # out of place: grad may hand back its own buffers

        near, far = spread(h), spread(2 * h)
        diff = [n.mul_(8).sub_(f).div_(12 * h) for n, f in zip(near, far)]
        keep = [d for d, n in zip(diff, ("x", "y")) if out in (n, "both")]
        return self._split(keep, out)

    def _grad(self, x: Tensor, y: Tensor, s, out: OutBlock) -> tuple[Tensor, Tensor]:
        # a model skips the backward over a block left out of ``blocks``
        gx, gy = self.objective.grad(x, y, s, blocks="xy" if out == "both" else out)
        return (torch.zeros_like(x) if gx is None else gx), (torch.zeros_like(y) if gy is None else gy)

    @staticmethod
    def _split(res: Sequence[Tensor], out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        if out == "x":
            return res[0], None
        if out == "y":
            return None, res[0]
        return res[0], res[1]

    # --- public ---------------------------------------------------------------------------------
    def product(
        self, vx: Tensor | None, vy: Tensor | None, *, out: OutBlock = "both"
    ) -> tuple[Tensor | None, Tensor | None]:
        """The requested output block(s) of grad^2 f_idx(z) (v_x, v_y); a missing input block is zero."""
        vx, vy = self._checked(vx, vy, out, lambda d: (d,))
        fn = {
            "reverse_over_reverse": partial(self._double_backward, batched=False),
            "forward_over_reverse": self._forward,
            "finite_difference": self._finite_difference,
        }[self.backend]
        res = self._over_plan(fn, vx, vy, out)
        self._notify(1)
        return res

    def product_many(
        self, VX: Tensor | None, VY: Tensor | None, *, out: OutBlock = "both"
    ) -> tuple[Tensor | None, Tensor | None]:
        """:meth:`product` for k directions given as columns: VX (d_x, k) and/or VY (d_y, k) in, the
        requested block(s) of shape (d_x, k) / (d_y, k) out; equal to k calls of :meth:`product` to rounding."""
        if VX is None and VY is None:
            raise ValueError("product_many needs at least one of VX, VY (the number of columns comes from them)")
        widths = {V.shape[-1] for V in (VX, VY) if V is not None and V.dim() == 2}
        if len(widths) != 1:
            raise ValueError("VX and VY must be 2-D with the same number of columns")
        k = widths.pop()
        VX, VY = self._checked(VX, VY, out, lambda d: (d, k))
        fn = {
            "reverse_over_reverse": partial(self._double_backward, batched=True),
            "forward_over_reverse": self._forward_many,
        }.get(self.backend)
        if self.batched and fn is not None and k > 1:  # one column gains nothing from batching
            try:
                res = self._over_plan(fn, VX, VY, out)
            except (RuntimeError, NotImplementedError) as err:
                self._give_up_batching(err)
            else:
                self._notify(k)
                return res
        return self._loop(VX, VY, out, k)

    def _loop(self, VX, VY, out: OutBlock, k: int) -> tuple[Tensor | None, Tensor | None]:
        """k single products restacked as columns: the path of finite differences and the fallback."""

        def col(V, j):
            return None if V is None else V[:, j]

        cols = [self.product(col(VX, j), col(VY, j), out=out) for j in range(k)]
        res: list[Tensor | None] = [None, None]
        for i, (b, d) in enumerate((("x", self.objective.d_x), ("y", self.objective.d_y))):
            if out in (b, "both"):
                res[i] = torch.stack([c[i] for c in cols], dim=1) if cols else self.x.new_zeros(d, 0)
        return res[0], res[1]

    def _give_up_batching(self, err: Exception) -> None:
        # some ops have no batching rule (vmap) or no batched backward; the loop computes the same products
        self.batched, self.batch_error = False, f"{type(err).__name__}: {err}"
        warnings.warn(
            f"batched Hessian-vector products failed on {self.objective.name} ({self.batch_error.splitlines()[0]}); "
            "falling back to one product per direction",
            RuntimeWarning,
            stacklevel=3,
        )

    def _checked(self, vx, vy, out: OutBlock, shape: Callable[[int], tuple]) -> tuple[Tensor | None, Tensor | None]:
        """The directions checked against ``shape(d)`` of their block and cast to the point's dtype and device."""
        if out not in ("x", "y", "both"):
            raise ValueError(f"out must be 'x', 'y' or 'both', got {out!r}")
        for name, v, d in (("v_x", vx, self.objective.d_x), ("v_y", vy, self.objective.d_y)):
            if v is not None and tuple(v.shape) != shape(d):
                raise ValueError(f"{name} must have shape {shape(d)}, got {tuple(v.shape)}")
        return tuple(None if v is None else v.to(dtype=self.dtype, device=self.device) for v in (vx, vy))

    def _over_plan(self, fn, vx, vy, out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        """sum_s w_s fn(s, ...) over the samples of the plan, block by block."""
        acc_x = acc_y = None
        for s, w in self.plan:
            hx, hy = fn(s, vx, vy, out)
            # one sample of weight 1 (the usual minibatch) passes its product through: no copy of length d
            if hx is not None:
                acc_x = (hx if w == 1.0 else w * hx) if acc_x is None else acc_x + w * hx
            if hy is not None:
                acc_y = (hy if w == 1.0 else w * hy) if acc_y is None else acc_y + w * hy
        return acc_x, acc_y

    def _notify(self, k: int) -> None:
        if self.on_product is not None:
            for _ in range(k):
                self.on_product()

    def operator(self, block: BlockName = "xx") -> Operator:
        """H_xx (d_x, d_x), H_yy, H_xy (d_x, d_y: y in, x out), H_yx = H_xy^T, or the full H (d, d)."""
        dx, dy = self.objective.d_x, self.objective.d_y
        if block not in BLOCK_NAMES:
            raise ValueError(f"unknown Hessian block {block!r}; accepted: {', '.join(BLOCK_NAMES)}")
        if (block in ("xx", "xy", "yx") and dx == 0) or (block in ("yy", "xy", "yx") and dy == 0):
            raise ValueError(f"block {block!r} is empty for d_x={dx}, d_y={dy}")
        apply = {
            "xx": lambda v: self.product(v, None, out="x")[0],
            "yy": lambda v: self.product(None, v, out="y")[1],
            "xy": lambda v: self.product(None, v, out="x")[0],
            "yx": lambda v: self.product(v, None, out="y")[1],
            "full": lambda v: torch.cat(self.product(v[:dx], v[dx:], out="both")),
        }[block]
        apply_many = {
            "xx": lambda V: self.product_many(V, None, out="x")[0],
            "yy": lambda V: self.product_many(None, V, out="y")[1],
            "xy": lambda V: self.product_many(None, V, out="x")[0],
            "yx": lambda V: self.product_many(V, None, out="y")[1],
            "full": lambda V: torch.cat(self.product_many(V[:dx], V[dx:], out="both")),
        }[block]
        shape = {"xx": (dx, dx), "yy": (dy, dy), "xy": (dx, dy), "yx": (dy, dx), "full": (dx + dy, dx + dy)}[block]
        return Operator(
            shape,
            self.dtype,
            self.device,
            apply,
            hvps_per_matvec=1,
            counter=self.counter,
            name=f"H_{block}",
            symmetric=block in ("xx", "yy", "full"),
            apply_many=apply_many,
            exact_products=self.backend != "finite_difference",
        )

    def release(self) -> None:
        """Drop the cached graphs (frees their memory)."""
        self._graphs.clear()


def hessian_operator(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    *,
    block: BlockName = "xx",
    idx: int | None = None,
    backend: Backend = "reverse_over_reverse",
    reduce: Reduce = "per_sample",
    reuse_graph: bool = True,
    check: bool = True,
) -> Operator:
    """One block operator of grad^2 f_idx at (x, y) (see :class:`HessianAtPoint`).

    Example: on a block quadratic the xx operator applied to a vector is the Hessian block times it.

    >>> import torch
    >>> from hybridsmooth.problems import make_problem
    >>> f = make_problem("quadratic:dx=4,dy=2,n=2,seed=0")
    >>> op = hessian_operator(f, *f.initial_point(), block="xx")
    >>> v = torch.ones(4, dtype=torch.float64)
    >>> bool(torch.allclose(op.matvec(v), f.constant_hessian()[:4, :4] @ v, atol=1e-12))
    True
    """
    return HessianAtPoint(
        objective, x, y, idx=idx, backend=backend, reduce=reduce, reuse_graph=reuse_graph, check=check
    ).operator(block)


def hvp(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    vx: Tensor | None,
    vy: Tensor | None,
    *,
    idx: int | None = None,
    backend: Backend = "reverse_over_reverse",
    reduce: Reduce = "per_sample",
    out: OutBlock = "both",
) -> tuple[Tensor | None, Tensor | None]:
    """Standalone grad^2 f_idx(x, y) (v_x, v_y): builds and frees its graphs, no determinism check. Freed
    memory stays in the heap until it returns (``curvature.heap``), so its second backward reuses the pages
    of its first."""
    with retained_heap(objective.device):
        engine = HessianAtPoint(
            objective, x, y, idx=idx, backend=backend, reduce=reduce, reuse_graph=False, check=False
        )
        return engine.product(vx, vy, out=out)
