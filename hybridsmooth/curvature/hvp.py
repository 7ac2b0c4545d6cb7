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
"""
from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Callable, Literal, Sequence

import torch
from torch import Tensor

from .operators import HVPCounter, Operator

Backend = Literal["reverse_over_reverse", "forward_over_reverse", "finite_difference"]
BACKENDS: tuple[str, ...] = ("reverse_over_reverse", "forward_over_reverse", "finite_difference")
BlockName = Literal["xx", "yy", "xy", "yx", "full"]
BLOCK_NAMES: tuple[str, ...] = ("xx", "yy", "xy", "yx", "full")
Reduce = Literal["per_sample", "direct"]
OutBlock = Literal["x", "y", "both"]


class NondeterministicObjectiveError(ValueError):
    """Two evaluations of the same loss or gradient at the same point differ."""


# How many times faster than its weights a network's derivatives vary along its most curved directions:
# such a direction adds up coherently over a row that the weights themselves sum incoherently, a factor up
# to sqrt(fan-in). Set from the measurements quoted in fd_relative_step (the top eigenvector of MiniLM's
# H_xx lives on its pooler, fan-in 384).
COHERENCE = 8.0


def fd_relative_step(dtype: torch.dtype) -> float:
    """Relative size delta of the finite-difference step (see :class:`StepScales`), per dtype.

    With g = grad f and D2(h) = [g(z + h v) - g(z - h v)] / (2h), the two-point central difference is

        D2(h) = H v + (h^2 / 6) D^3 g[v, v, v] + O(h^4),   rounding ~ eps_g / h,

    (eps_g: the floating-point error of one gradient, ~ eps ||grad f|| and more through cancellations).
    The products use the fourth-order central difference D4(h) = (4 D2(h) - D2(2h)) / 3:

        D4(h) = [8 (g(z + h v) - g(z - h v)) - (g(z + 2h v) - g(z - 2h v))] / (12 h)
              = H v - (h^4 / 30) D^5 g[v, v, v, v, v] + O(h^6),   rounding <= 1.5 eps_g / h,

    at the price of four gradients instead of two. With the step h |v_i| ~ delta sigma_i on each weight
    (sigma_i its scale) and derivatives varying on a scale sigma_i / COHERENCE, the relative error is
    ~ (COHERENCE delta)^4 / 30 + c eps / delta, smallest near delta = eps^(1/5) / COHERENCE:

        float64: 9.3e-5,  float32: 5.2e-3,  bfloat16: 4.7e-2 (about one digit left).

    Measured in float32, relative error of the product along the top eigenvector (LoRA adapters, small
    batches): tiny-bert H_xx 1.3e-4, H_yy 1.5e-4; MiniLM H_xx 1e-4, H_yy 2.7e-4; the Rayleigh quotient,
    i.e. the constant, is off by at most 3e-5. The two-point formula at its best common step (delta/2)
    is off by 1e-3 on MiniLM's H_xx (truncation) while smaller steps drown H_yy in rounding.
    """
    if not dtype.is_floating_point:
        raise ValueError(f"finite differences need a floating dtype, got {dtype}")
    return float(torch.finfo(dtype).eps) ** (1.0 / 5.0) / COHERENCE


# A tensor whose weights are all zero (a LoRA factor B at initialisation, a bias) has no scale of its own:
# below this fraction of the rms of the whole point it borrows that rms, so that a direction living there is
# not given a step of zero. (Measured on tiny-bert + LoRA at B = 0: borrowing a tenth of that rms instead
# left the H_yy products, which live mostly on B, ten times noisier.)
UNSET_TENSOR = 1e-3


def _tensor_sizes(objective, block: str, d: int) -> list[int]:
    """Numbers of entries of the tensors that make up a flat block, in order; [d] without a layout."""
    layout = getattr(objective, f"{block}_layout", None)
    shapes = getattr(layout, "shapes", None)
    if shapes is None:
        return [d] if d else []
    sizes = [math.prod(tuple(s)) for s in shapes]
    return sizes if sum(sizes) == d else ([d] if d else [])


def _part_sums(v: Tensor, sizes: list[int]) -> Tensor:
    """float64 sums of v_i^2 over the consecutive parts of v of the given sizes."""
    if not sizes:
        return torch.zeros(0, dtype=torch.float64)
    return torch.stack([p.square().sum(dtype=torch.float64) for p in v.split(sizes)]).cpu()


@dataclass(frozen=True)
class StepScales:
    """Scales of the weights at a point, per tensor, for the central-difference step.

    Each weight z_i of tensor t gets a scale sigma_t: the rms of z_t, or the rms of the whole z for a
    tensor that is (nearly) all zeros (below UNSET_TENSOR times that; 1 if z = 0). Along a direction v
    the step moves weight i by h v_i, a fraction r_i = h v_i / sigma_i of its scale. h is chosen so that
    the mean of r_i^2 weighted by where v lives, v_i^2 / ||v||^2, is delta^2 (:func:`fd_relative_step`):

        h = delta ||v|| / sqrt( sum_i v_i^4 / sigma_i^2 ).

    A v spread over one tensor moves it by h ||v|| = delta ||z_t||; a v on k entries of a tensor (a few
    rows of an embedding) moves each by ~ delta sigma_t; a v parallel to z moves z by delta ||z||. A step
    relative to the whole point instead (h ||v|| = delta ||z||) is about 280 delta on MiniLM, far beyond
    the weights of rms 0.01-0.02 where the top eigenvectors live: the truncation error dominated and the
    constants came out 23% (MiniLM L_y) to 56% (tiny-bert L_x) low. Objectives without ``x_layout`` /
    ``y_layout`` count each block as one tensor.
    """

    sizes_x: tuple[int, ...]
    sizes_y: tuple[int, ...]
    sigma: Tensor       # float64, one per tensor, x tensors first
    delta: float

    @classmethod
    def at(cls, objective, x: Tensor, y: Tensor) -> "StepScales":
        sizes_x = _tensor_sizes(objective, "x", x.numel())
        sizes_y = _tensor_sizes(objective, "y", y.numel())
        numel = torch.tensor(sizes_x + sizes_y, dtype=torch.float64)
        squares = torch.cat([_part_sums(x, sizes_x), _part_sums(y, sizes_y)])
        total = math.sqrt(float(squares.sum() / numel.sum())) if numel.numel() else 0.0
        rms = (squares / numel).sqrt()
        sigma = torch.where(rms > UNSET_TENSOR * total, rms, torch.full_like(rms, total if total > 0 else 1.0))
        return cls(tuple(sizes_x), tuple(sizes_y), sigma, fd_relative_step(x.dtype))

    def step(self, vx: Tensor, vy: Tensor) -> float:
        """h for the direction (v_x, v_y) (a missing part is a zero tensor); 0 for v = 0."""
        peak = max(float(vx.abs().max()) if vx.numel() else 0.0, float(vy.abs().max()) if vy.numel() else 0.0)
        if peak == 0.0 or not math.isfinite(peak):
            return 0.0
        squares, fourth = [], []
        for v, sizes in ((vx, self.sizes_x), (vy, self.sizes_y)):
            if not sizes:
                continue
            # scaled to a peak of 1 so that v_i^4 neither underflows nor overflows; a step needs no more
            # than a few digits, so the sums stay in the direction's dtype
            sq = (v / peak).square_()
            for part in sq.split(list(sizes)):
                squares.append(float(part.sum()))
                fourth.append(float(torch.dot(part, part)))
        spread = float((torch.tensor(fourth, dtype=torch.float64) / self.sigma.pow(2)).sum())
        return self.delta * math.sqrt(sum(squares) / spread) / peak


def _check_point(objective, x: Tensor, y: Tensor) -> None:
    if x.shape != (objective.d_x,) or y.shape != (objective.d_y,):
        raise ValueError(f"curvature queries take one point: x of shape ({objective.d_x},) and y of shape "
                         f"({objective.d_y},), got {tuple(x.shape)} and {tuple(y.shape)} (no batch dimension)")


def _sample_plan(objective, idx: int | None, reduce: Reduce) -> list[tuple[int | None, float]]:
    """[(sample index or None for the whole f, weight)] whose weighted sum of Hessians is grad^2 f_idx."""
    if idx is not None:
        if isinstance(idx, bool) or not isinstance(idx, int) or not 0 <= idx < objective.n:
            raise ValueError(f"idx must be None or an int sample index in [0, {objective.n}), got {idx!r}")
        return [(idx, 1.0)]
    if reduce == "direct":
        return [(None, 1.0)]
    if reduce != "per_sample":
        raise ValueError(f"unknown reduce {reduce!r}; accepted: per_sample, direct")
    weights = getattr(objective, "weights", None)
    if weights is None:
        return [(i, 1.0 / objective.n) for i in range(objective.n)]
    w = [float(v) for v in torch.as_tensor(weights).reshape(-1)]
    if len(w) != objective.n:
        raise ValueError(f"objective.weights has {len(w)} entries, expected n = {objective.n}")
    return [(i, wi) for i, wi in enumerate(w) if wi != 0.0]


def check_determinism(objective, x: Tensor, y: Tensor, idx: int | None = None) -> None:
    """Evaluate loss and gradient twice at the same point and raise if they differ beyond rounding.

    A curvature estimate is meaningless if f changes between products: dropout left on, a data loader
    that reshuffles the batch, or a random augmentation. The tolerance is 64 ulp of the values' scale.
    """
    eps = 64 * float(torch.finfo(x.dtype).eps)
    with torch.no_grad():
        l1, l2 = objective.loss(x, y, idx), objective.loss(x, y, idx)
    g1, g2 = objective.grad(x, y, idx), objective.grad(x, y, idx)

    def differs(a: Tensor, b: Tensor) -> float:
        scale = max(1.0, float(a.abs().max()) if a.numel() else 1.0)
        gap = float((a - b).abs().max()) if a.numel() else 0.0
        return gap / scale if gap > eps * scale else 0.0

    gaps = {"loss": differs(l1, l2), "grad_x": differs(g1[0], g2[0]), "grad_y": differs(g1[1], g2[1])}
    bad = {k: v for k, v in gaps.items() if v > 0}
    if bad:
        raise NondeterministicObjectiveError(
            f"objective {getattr(objective, 'name', '?')} is not deterministic at this point (sample {idx}): "
            + ", ".join(f"{k} differs by {v:.2e} relative" for k, v in bad.items())
            + " between two passes; put the model in eval() mode (no dropout) and use a fixed batch order")


class HessianAtPoint:
    """Block Hessian-vector products of f_idx at a fixed point, with an optional per-sample graph cache.

    Build operators with :meth:`operator`; they share this engine's graphs and its HVP counter.
    The cache (reverse-over-reverse only) holds one gradient graph per sample and per set of blocks
    differentiated (memory ~ n graphs for the full f); pass ``reuse_graph=False`` for standalone products
    that free each graph at once. ``check`` runs :func:`check_determinism` on the first sample (two extra
    losses and gradients). ``on_product``, if given, is called after every product (progress reporting).
    """

    def __init__(self, objective, x: Tensor, y: Tensor, *, idx: int | None = None,
                 backend: Backend = "reverse_over_reverse", reduce: Reduce = "per_sample",
                 reuse_graph: bool = True, check: bool = True, on_product: Callable[[], None] | None = None):
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
        self.step_scales = StepScales.at(objective, self.x, self.y) if backend == "finite_difference" else None
        try:
            self._grad_takes_blocks = "blocks" in inspect.signature(objective.grad).parameters
        except (TypeError, ValueError):
            self._grad_takes_blocks = False
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

    def _reverse(self, s, vx, vy, out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        xr, yr, gx, gy = self._graph(s, self._need(vx, vy, out))
        terms = [(g * v).sum() for g, v in ((gx, vx), (gy, vy))
                 if v is not None and g is not None and g.requires_grad]
        leaves = [leaf for leaf, b in ((xr, "x"), (yr, "y")) if out in (b, "both")]
        if not terms:  # the gradient does not depend on z: the Hessian block is zero
            res = [None] * len(leaves)
        else:
            with torch.enable_grad():
                res = torch.autograd.grad(sum(terms), leaves, retain_graph=self.reuse_graph, allow_unused=True)
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

    def _finite_difference(self, s, vx, vy, out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        """Fourth-order central difference of gradients, step from :class:`StepScales` (error: fd_relative_step)."""
        tx = torch.zeros_like(self.x) if vx is None else vx
        ty = torch.zeros_like(self.y) if vy is None else vy
        h = self.step_scales.step(tx, ty)
        if h == 0.0:
            zeros = [torch.zeros_like(b) for b, n in ((self.x, "x"), (self.y, "y")) if out in (n, "both")]
            return self._split(zeros, out)

        def spread(a: float) -> list[Tensor]:   # g(z + a v) - g(z - a v)
            gp = self._grad(torch.add(self.x, tx, alpha=a), torch.add(self.y, ty, alpha=a), s, out)
            gm = self._grad(torch.add(self.x, tx, alpha=-a), torch.add(self.y, ty, alpha=-a), s, out)
            return [p - m for p, m in zip(gp, gm)]   # out of place: grad may hand back its own buffers

        near, far = spread(h), spread(2 * h)
        diff = [n.mul_(8).sub_(f).div_(12 * h) for n, f in zip(near, far)]
        keep = [d for d, n in zip(diff, ("x", "y")) if out in (n, "both")]
        return self._split(keep, out)

    def _grad(self, x: Tensor, y: Tensor, s, out: OutBlock) -> tuple[Tensor, Tensor]:
        # objectives that can skip a block's gradient (ModuleObjective's blocks=) save a backward over it
        if out != "both" and self._grad_takes_blocks:
            gx, gy = self.objective.grad(x, y, s, blocks=out)
            return (gx, torch.zeros_like(y)) if out == "x" else (torch.zeros_like(x), gy)
        return self.objective.grad(x, y, s)

    @staticmethod
    def _split(res: Sequence[Tensor], out: OutBlock) -> tuple[Tensor | None, Tensor | None]:
        if out == "x":
            return res[0], None
        if out == "y":
            return None, res[0]
        return res[0], res[1]

    # --- public ---------------------------------------------------------------------------------
    def product(self, vx: Tensor | None, vy: Tensor | None, *, out: OutBlock = "both"
                ) -> tuple[Tensor | None, Tensor | None]:
        """The requested output block(s) of grad^2 f_idx(z) (v_x, v_y); a missing input block is zero."""
        if out not in ("x", "y", "both"):
            raise ValueError(f"out must be 'x', 'y' or 'both', got {out!r}")
        for name, v, d in (("v_x", vx, self.objective.d_x), ("v_y", vy, self.objective.d_y)):
            if v is not None and v.shape != (d,):
                raise ValueError(f"{name} must have shape ({d},), got {tuple(v.shape)}")
        vx = None if vx is None else vx.to(dtype=self.dtype, device=self.device)
        vy = None if vy is None else vy.to(dtype=self.dtype, device=self.device)
        fn = {"reverse_over_reverse": self._reverse, "forward_over_reverse": self._forward,
              "finite_difference": self._finite_difference}[self.backend]
        acc_x = acc_y = None
        for s, w in self.plan:
            hx, hy = fn(s, vx, vy, out)
            if hx is not None:
                acc_x = w * hx if acc_x is None else acc_x + w * hx
            if hy is not None:
                acc_y = w * hy if acc_y is None else acc_y + w * hy
        if self.on_product is not None:
            self.on_product()
        return acc_x, acc_y

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
        shape = {"xx": (dx, dx), "yy": (dy, dy), "xy": (dx, dy), "yx": (dy, dx), "full": (dx + dy, dx + dy)}[block]
        return Operator(shape, self.dtype, self.device, apply, hvps_per_matvec=1, counter=self.counter,
                        name=f"H_{block}", symmetric=block in ("xx", "yy", "full"))

    def release(self) -> None:
        """Drop the cached graphs (frees their memory)."""
        self._graphs.clear()


@dataclass(frozen=True)
class OperatorDefects:
    """How far a block operator is from a symmetric linear map, measured on random probes (relative units).

    ``asymmetry`` = |u^T (B v) - v^T (B^T u)| / (||u|| ||B|| ||v||), where B^T is the engine's transposed
    block (H_yx for H_xy, the block itself otherwise); ``nonlinearity`` = ||B(v + w) - B v - B w|| /
    (||B v|| + ||B w||). Both vanish, to rounding, for the autograd back-ends. ``norm`` is the ||B|| used.
    """

    asymmetry: float
    nonlinearity: float
    norm: float
    hvps: int


TRANSPOSED = {"xx": "xx", "yy": "yy", "full": "full", "xy": "yx", "yx": "xy"}


def _probe(n: int, g: torch.Generator, like: Tensor) -> Tensor:
    v = torch.randn(n, generator=g, dtype=torch.float64)
    return (v / torch.linalg.vector_norm(v)).to(dtype=like.dtype, device=like.device)


def operator_defects(engine: HessianAtPoint, block: BlockName = "xx", seed: int = 0, *,
                     norm: float | None = None) -> OperatorDefects:
    """Measured asymmetry and nonlinearity of the engine's ``block`` operator (4 products, see OperatorDefects).

    Exact Hessian-vector products are symmetric and linear; finite differences are neither: each product
    has its own step (scaled to the direction) and its own truncation and rounding errors, so
    u^T H v - v^T H u and H(v + w) - H v - H w are the product's error made visible. The homogeneity
    defect H(2v) - 2 H v is not measured: the step scales as 1 / ||v||, so 2v is evaluated at the very same
    points as v and the defect is zero by construction. ``norm``: ||B|| if known (the estimate); otherwise
    the largest ||B p|| over the unit probes p, a lower bound, which makes the asymmetry an upper estimate.
    """
    op, op_t = engine.operator(block), engine.operator(TRANSPOSED[block])
    start = engine.counter.hvps
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    u, v, w = _probe(op.shape[0], g, engine.x), _probe(op.shape[1], g, engine.x), _probe(op.shape[1], g, engine.x)
    bv, btu, bw, bvw = op.matvec(v), op_t.matvec(u), op.matvec(w), op.matvec(v + w)
    scale = norm if norm is not None and norm > 0 else max(float(bv.norm()), float(btu.norm()), float(bw.norm()))
    gap = abs(float(u @ bv) - float(v @ btu))
    added = float(bv.norm()) + float(bw.norm())
    return OperatorDefects(
        asymmetry=gap / scale if scale > 0 else 0.0,
        nonlinearity=float((bvw - bv - bw).norm()) / added if added > 0 else 0.0,
        norm=scale, hvps=engine.counter.hvps - start)


def hessian_operator(objective, x: Tensor, y: Tensor, *, block: BlockName = "xx", idx: int | None = None,
                     backend: Backend = "reverse_over_reverse", reduce: Reduce = "per_sample",
                     reuse_graph: bool = True, check: bool = True) -> Operator:
    """One block operator of grad^2 f_idx at (x, y) (see :class:`HessianAtPoint`)."""
    return HessianAtPoint(objective, x, y, idx=idx, backend=backend, reduce=reduce, reuse_graph=reuse_graph,
                          check=check).operator(block)


def hvp(objective, x: Tensor, y: Tensor, vx: Tensor | None, vy: Tensor | None, *, idx: int | None = None,
        backend: Backend = "reverse_over_reverse", reduce: Reduce = "per_sample", out: OutBlock = "both"
        ) -> tuple[Tensor | None, Tensor | None]:
    """Standalone grad^2 f_idx(x, y) (v_x, v_y): builds and frees its graphs, no determinism check."""
    engine = HessianAtPoint(objective, x, y, idx=idx, backend=backend, reduce=reduce, reuse_graph=False,
                            check=False)
    return engine.product(vx, vy, out=out)
