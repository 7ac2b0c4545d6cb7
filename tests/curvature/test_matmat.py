"""Batched Hessian-vector products (``Operator.matmat``, ``HessianAtPoint.product_many``) against dense Hessians.

Ground truth first: on float64 problems whose Hessian is known densely, matmat of every block equals the
dense block times V; then it equals k matvecs, counts k HVPs, survives a batching failure with the same
numbers, and leaves the trace estimators and block Lanczos where they were before batching.
"""

import dataclasses
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from hybridsmooth.curvature import (
    HessianAtPoint,
    diagonal_scaled,
    dilation,
    gram,
    hutchinson,
    hutchpp,
    lanczos_top_eigs,
    matrix_operator,
)
from hybridsmooth.objectives.base import FiniteSum, broadcast_blocks
from hybridsmooth.objectives.module import ModuleObjective
from hybridsmooth.problems import make_problem

DT = torch.float64
BATCHED = ("reverse_over_reverse", "forward_over_reverse")
QUADRATIC = "quadratic:dx=6,dy=3,n=3,seed=0,coupling=0.5"


def _slices(dx: int) -> dict:
    x, y, a = slice(0, dx), slice(dx, None), slice(None)
    return {"xx": (x, x), "yy": (y, y), "xy": (x, y), "yx": (y, x), "full": (a, a)}


def _columns(n: int, k: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, k, generator=torch.Generator().manual_seed(seed), dtype=DT)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-300))


class _TinyNet(nn.Module):
    """Embedding, a tanh layer with a low-rank adapter, a linear head: a model objective small enough for a
    dense Hessian."""

    def __init__(self, vocab: int = 7, dim: int = 4):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim)
        self.body = nn.Linear(dim, dim)
        self.adapter_a = nn.Linear(dim, 2, bias=False)
        self.adapter_b = nn.Linear(2, dim, bias=False)
        self.head = nn.Linear(dim, vocab)

    def forward(self, ids):
        h = self.emb(ids).mean(1)
        return self.head(torch.tanh(self.body(h)) + self.adapter_b(self.adapter_a(h)))


def _module_objective() -> ModuleObjective:
    torch.manual_seed(0)  # model init only
    g = torch.Generator().manual_seed(1)
    batches = [
        {"ids": torch.randint(0, 7, (s, 3), generator=g), "labels": torch.randint(0, 7, (s,), generator=g)}
        for s in (3, 2)
    ]

    def loss(call, batch):
        return nn.functional.cross_entropy(call(batch["ids"]), batch["labels"])

    def is_y(name):
        return name.startswith("adapter_")

    return ModuleObjective(_TinyNet().to(DT), batches, loss, is_x=lambda n: not is_y(n), is_y=is_y, name="tiny-net")


def _dense_hessian(obj) -> torch.Tensor:
    x, y = obj.initial_point()
    return torch.autograd.functional.hessian(lambda z: obj.loss(z[: obj.d_x], z[obj.d_x :]), torch.cat([x, y]))


@pytest.fixture(scope="module")
def module_obj():
    obj = _module_objective()
    return obj, _dense_hessian(obj)


def _problems(tiny, module_obj):
    q = make_problem(QUADRATIC)
    return [(q, q.constant_hessian()), (tiny, tiny.dense_hessian()), module_obj]


# --- ground truth -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BATCHED)
def test_matmat_of_every_block_is_the_dense_block_times_v(backend, tiny, module_obj):
    for obj, H in _problems(tiny, module_obj):
        e = HessianAtPoint(obj, *obj.initial_point(), backend=backend)
        for block, (rows, cols) in _slices(obj.d_x).items():
            op = e.operator(block)
            V = _columns(op.shape[1], 5)
            got, expect = op.matmat(V), H[rows, cols] @ V
            assert torch.allclose(got, expect, rtol=1e-10, atol=1e-10 * float(expect.abs().max())), (obj.name, block)
        assert e.batched and e.batch_error is None  # the batched path ran, not the fallback


@pytest.mark.parametrize("backend", [*BATCHED, "finite_difference"])
@pytest.mark.parametrize("reuse_graph", [True, False])
def test_matmat_equals_k_matvecs_and_counts_k_products(backend, reuse_graph, tiny):
    ticks = []
    e = HessianAtPoint(
        tiny, *tiny.initial_point(), backend=backend, reuse_graph=reuse_graph, on_product=lambda: ticks.append(1)
    )
    for block in ("xx", "yy", "xy", "yx", "full"):
        op = e.operator(block)
        V = _columns(op.shape[1], 4, seed=2)
        h0, t0 = e.counter.hvps, len(ticks)
        M = op.matmat(V)
        assert e.counter.hvps - h0 == 4 and len(ticks) - t0 == 4
        loop = torch.stack([op.matvec(v) for v in V.T], dim=1)
        assert M.shape == (op.shape[0], 4)
        # finite differences loop over the columns: the very same products
        assert _rel(M, loop) <= (0.0 if backend == "finite_difference" else 1e-12), block


def test_product_many_returns_columns_of_both_blocks(tiny):
    e = HessianAtPoint(tiny, *tiny.initial_point())
    VX, VY = _columns(tiny.d_x, 3, seed=3), _columns(tiny.d_y, 3, seed=4)
    HX, HY = e.product_many(VX, VY, out="both")
    for j in range(3):
        hx, hy = e.product(VX[:, j], VY[:, j], out="both")
        assert _rel(HX[:, j], hx) <= 1e-12 and _rel(HY[:, j], hy) <= 1e-12
    assert e.product_many(VX, None, out="x")[1] is None


def test_shapes_are_checked_and_an_empty_block_costs_nothing(tiny):
    e = HessianAtPoint(tiny, *tiny.initial_point())
    op = e.operator("xx")
    with pytest.raises(ValueError, match="columns"):
        op.matmat(torch.zeros(op.shape[1], dtype=DT))
    with pytest.raises(ValueError, match="columns"):
        op.matmat(torch.zeros(op.shape[1] + 1, 2, dtype=DT))
    with pytest.raises(ValueError, match="at least one"):
        e.product_many(None, None)
    with pytest.raises(ValueError, match="same number of columns"):
        e.product_many(_columns(tiny.d_x, 2), _columns(tiny.d_y, 3))
    empty = op.matmat(torch.zeros(op.shape[1], 0, dtype=DT))
    assert empty.shape == (op.shape[0], 0) and e.counter.hvps == 0
    V = _columns(op.shape[1], 2)
    assert torch.equal(op @ V, op.matmat(V))


# --- wrappers ---------------------------------------------------------------------------------------------
def test_wrappers_forward_matmat_and_count_exactly():
    q = make_problem(QUADRATIC)
    H, dx = q.constant_hessian(), q.d_x
    e = HessianAtPoint(q, *q.initial_point())
    Hxy = H[:dx, dx:]
    left, right = torch.linspace(0.5, 2.0, dx, dtype=DT), torch.linspace(1.5, 0.7, dx, dtype=DT)
    cases = [
        (diagonal_scaled(e.operator("xx"), left, right), left[:, None] * H[:dx, :dx] * right[None, :], 1),
        (dilation(e.operator("xy"), e.operator("yx")), torch.block_diag(Hxy, Hxy.T).roll(dx, dims=1), 2),
        (gram(e.operator("xy"), e.operator("yx")), Hxy.T @ Hxy, 2),
    ]
    for op, dense, per_column in cases:
        V = _columns(op.shape[1], 4, seed=5)
        h0 = e.counter.hvps
        M = op.matmat(V)
        assert e.counter.hvps - h0 == 4 * per_column, op.name
        assert torch.allclose(M, dense @ V, rtol=1e-10, atol=1e-10 * float(M.abs().max())), op.name
        assert _rel(M, torch.stack([op.matvec(v) for v in V.T], dim=1)) <= 1e-12


def test_to_scipy_has_a_block_product():
    A = _columns(5, 5)
    op = matrix_operator(A + A.T)
    V = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(op.to_scipy().matmat(V), ((A + A.T) @ torch.as_tensor(V)).numpy(), rtol=1e-13)
    assert op.counter.hvps == 3


# --- the fallback when an op has no batching rule ---------------------------------------------------------
class _Square(torch.autograd.Function):
    """t^2 whose backward reads a value on the host: fine one direction at a time, impossible to batch."""

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return t**2

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        one = float(g.abs().max() >= 0)  # .item() has no batching rule
        return 2 * one * t * g


class _Cube(torch.autograd.Function):
    """t^3 whose backward (what the second backward differentiates) goes through _Square."""

    @staticmethod
    def forward(ctx, t):
        ctx.save_for_backward(t)
        return t**3

    @staticmethod
    def backward(ctx, g):
        (t,) = ctx.saved_tensors
        return 3 * _Square.apply(t) * g


class _CubicObjective(FiniteSum):
    """f_i(z) = sum_j a_ij z_j^3 / 6 + (p_i^T z)^2 / 2: grad^2 f_i = diag(a_i * z) + p_i p_i^T."""

    name = "cubic"

    def __init__(self, n: int = 3, d_x: int = 5, d_y: int = 3):
        g = torch.Generator().manual_seed(7)
        self.a = torch.randn(n, d_x + d_y, generator=g, dtype=DT)
        self.p = torch.randn(n, d_x + d_y, generator=g, dtype=DT)
        super().__init__(
            n=n,
            d_x=d_x,
            d_y=d_y,
            x0=torch.randn(d_x, generator=g, dtype=DT),
            y0=torch.randn(d_y, generator=g, dtype=DT),
        )

    def _sample_losses(self, x, y):
        z = torch.cat(broadcast_blocks(x, y), dim=-1)
        return (_Cube.apply(z)[..., None, :] * self.a).sum(-1) / 6 + (z @ self.p.T) ** 2 / 2

    def dense_hessian(self) -> torch.Tensor:
        z = torch.cat(self.initial_point())
        per_sample = torch.diag_embed(self.a * z) + self.p[:, :, None] * self.p[:, None, :]
        return (self.weights[:, None, None] * per_sample).sum(0)


@pytest.mark.parametrize("reuse_graph", [True, False])
def test_reverse_falls_back_once_on_an_op_without_batching_rule(reuse_graph):
    obj = _CubicObjective()
    H = obj.dense_hessian()
    e = HessianAtPoint(obj, *obj.initial_point(), reuse_graph=reuse_graph)
    op = e.operator("full")
    V = _columns(op.shape[1], 4, seed=6)
    with pytest.warns(RuntimeWarning, match="falling back"):
        M = op.matmat(V)
    assert not e.batched and "item" in e.batch_error
    assert e.counter.hvps == 4
    assert torch.allclose(M, H @ V, rtol=1e-12, atol=1e-12 * float(M.abs().max()))
    assert torch.equal(M, torch.stack([op.matvec(v) for v in V.T], dim=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # remembered: no second attempt, no second warning
        Mxx = e.operator("xx").matmat(V[: obj.d_x])
    dx = obj.d_x
    assert torch.allclose(Mxx, H[:dx, :dx] @ V[:dx], rtol=1e-12, atol=1e-12 * float(Mxx.abs().max()))


@pytest.mark.parametrize("backend", BATCHED)
def test_forced_fallback_gives_the_batched_numbers(backend, tiny, monkeypatch):
    batched = HessianAtPoint(tiny, *tiny.initial_point(), backend=backend)
    V = _columns(tiny.d_y, 5, seed=8)
    expect = batched.operator("yy").matmat(V)
    calls = []

    def no_batching(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("Batching rule not implemented for aten::something")

    if backend == "reverse_over_reverse":
        grad = torch.autograd.grad
        monkeypatch.setattr(
            torch.autograd, "grad", lambda *a, **kw: no_batching() if kw.get("is_grads_batched") else grad(*a, **kw)
        )
    else:
        monkeypatch.setattr(torch.func, "vmap", no_batching)
    e = HessianAtPoint(tiny, *tiny.initial_point(), backend=backend)
    op = e.operator("yy")
    with pytest.warns(RuntimeWarning, match="falling back"):
        first = op.matmat(V)
    second = op.matmat(V)
    assert len(calls) == 1 and not e.batched and "Batching rule" in e.batch_error
    assert e.counter.hvps == 10
    assert _rel(first, expect) <= 1e-12 and torch.equal(first, second)


# --- the algorithms: same results as before batching ------------------------------------------------------
def _unbatched(op):
    """The same operator without its batched product: matmat loops over matvec-equivalent products."""
    return dataclasses.replace(op, apply_many=None)


# values from the per-probe / per-column implementation, before products were batched (same seeds)
BEFORE = {
    ("quadratic", "hutchinson"): (53.57443156874069, 4.229102637281994),
    ("quadratic", "hutchpp"): (40.79945249594761, 3.7318811368610945),
    ("quadratic", "lanczos"): (10.000000000000002, 8.111308307896874),
    ("tiny-attention", "hutchinson"): (0.39254273024354713, 1.2387462816083155),
    ("tiny-attention", "hutchpp"): (1.2146060472943283, 1.4275218769081433),
    ("tiny-attention", "lanczos"): (0.7132163269950271, 0.6269496046562253),
}


@pytest.mark.parametrize("which", ["quadratic", "tiny-attention"])
def test_trace_estimates_are_those_from_before_batching(which, tiny):
    obj = make_problem("quadratic:dx=12,dy=5,n=3,seed=0,coupling=0.5") if which == "quadratic" else tiny
    op = HessianAtPoint(obj, *obj.initial_point()).operator("xx")
    for block_size in (1, 3, 8, 64):
        h = hutchinson(op, n_probes=10, seed=3, block_size=block_size)
        p = hutchpp(op, n_matvecs=12, seed=5, probe="gaussian", block_size=block_size)
        np.testing.assert_allclose((h.estimate, h.stderr), BEFORE[(which, "hutchinson")], rtol=1e-12)
        np.testing.assert_allclose((p.estimate, p.stderr), BEFORE[(which, "hutchpp")], rtol=1e-12)
        assert (h.n_hvp, p.n_hvp) == (10, 12)
    # and the unbatched operator (one product per probe) agrees
    h = hutchinson(_unbatched(op), n_probes=10, seed=3)
    np.testing.assert_allclose((h.estimate, h.stderr), BEFORE[(which, "hutchinson")], rtol=1e-12)


@pytest.mark.parametrize("which", ["quadratic", "tiny-attention"])
def test_block_lanczos_is_as_before_batching_and_multiplies_whole_blocks(which, tiny):
    obj = make_problem("quadratic:dx=12,dy=5,n=3,seed=0,coupling=0.5") if which == "quadratic" else tiny
    op = HessianAtPoint(obj, *obj.initial_point()).operator("xx")
    widths = []

    def recording(V):
        widths.append(V.shape[1])
        return op.apply_many(V)

    res = lanczos_top_eigs(dataclasses.replace(op, apply_many=recording), 2, tol=1e-9, max_iter=40, seed=1)
    np.testing.assert_allclose(res.estimates, BEFORE[(which, "lanczos")], rtol=1e-10)
    assert max(widths) == res.block_size == 3 and sum(widths) == res.n_hvp
    ref = lanczos_top_eigs(_unbatched(op), 2, tol=1e-9, max_iter=40, seed=1)
    np.testing.assert_allclose(res.estimates, ref.estimates, rtol=1e-10)
    assert (res.iterations, res.n_hvp, res.converged) == (ref.iterations, ref.n_hvp, ref.converged)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_forward_batched_cross_block_that_ignores_the_direction(k):
    """On the quartic problem forward-over-reverse H_xy does not depend on the direction inside vmap; the
    batched product must still give k columns (it once failed to expand them and fell back with a warning)."""
    from hybridsmooth.curvature import HessianAtPoint
    from hybridsmooth.problems import make_problem

    obj = make_problem("quartic:dx=3,dy=2,n=4,seed=1")
    x, y = obj.initial_point()
    op = HessianAtPoint(obj, x, y, idx=0, backend="forward_over_reverse").operator("xy")
    V = torch.randn(op.shape[1], k, generator=torch.Generator().manual_seed(k), dtype=op.dtype)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="batched Hessian")
        out = op.matmat(V)
    ref = torch.stack([op.matvec(V[:, j]) for j in range(k)], dim=1)
    assert out.shape == (op.shape[0], k) and torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
