"""Block Hessian-vector products against dense autograd Hessians, across back-ends and sample weightings."""

import pytest
import torch
from curv_models import TinyAttentionObjective

from hybridsmooth.curvature import (
    BACKENDS,
    HessianAtPoint,
    NondeterministicObjectiveError,
    fd_relative_step,
    hessian_operator,
    hvp,
    to_dense,
)

BLOCK_SLICES = {"xx": ("x", "x"), "yy": ("y", "y"), "xy": ("x", "y"), "yx": ("y", "x")}


def _block(H, obj, block):
    sl = {"x": slice(0, obj.d_x), "y": slice(obj.d_x, obj.d_x + obj.d_y)}
    r, c = BLOCK_SLICES[block]
    return H[sl[r], sl[c]]


@pytest.fixture(scope="module")
def dense_full(tiny):
    return tiny.dense_hessian()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("block", ["xx", "yy", "xy", "yx"])
def test_block_products_match_dense_hessian(tiny, dense_full, backend, block):
    x, y = tiny.initial_point()
    op = hessian_operator(tiny, x, y, block=block, backend=backend, reduce="direct")
    g = torch.Generator().manual_seed(1)
    v = torch.randn(op.shape[1], generator=g, dtype=torch.float64)
    want = _block(dense_full, tiny, block) @ v
    got = op.matvec(v)
    # fd: central differences with h ~ eps^(1/3) leave O(h^2) ~ 1e-10 relative error
    tol = 1e-6 if backend == "finite_difference" else 1e-10
    assert torch.linalg.vector_norm(got - want) <= tol * torch.linalg.vector_norm(want)
    assert op.counter.hvps == 1


def test_three_backends_agree_on_full_operator(tiny):
    x, y = tiny.initial_point()
    ops = {b: hessian_operator(tiny, x, y, block="full", backend=b, idx=2) for b in BACKENDS}
    v = torch.randn(tiny.d_x + tiny.d_y, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    outs = {b: op.matvec(v) for b, op in ops.items()}
    ref = outs["reverse_over_reverse"]
    assert torch.allclose(outs["forward_over_reverse"], ref, rtol=0, atol=1e-11 * ref.abs().max())
    assert torch.allclose(outs["finite_difference"], ref, rtol=0, atol=1e-6 * ref.abs().max())


def test_weighted_average_exact_when_last_batch_smaller(tiny, dense_full):
    """Sizes (4, 4, 3): sum_i (|B_i|/N) H_i equals the Hessian of the mean over all N examples; 1/n weights do not."""
    x, y = tiny.initial_point()
    assert tiny.weights[-1] < tiny.weights[0]
    op = hessian_operator(tiny, x, y, block="full", reduce="per_sample")
    V = torch.randn(4, op.shape[0], generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    for v in V:
        want = dense_full @ v
        assert torch.linalg.vector_norm(op.matvec(v) - want) <= 1e-12 * torch.linalg.vector_norm(want)
    engines = [HessianAtPoint(tiny, x, y, idx=i, check=False) for i in range(tiny.n)]
    equal = sum(e.operator("full").matvec(V[0]) for e in engines) / tiny.n
    want = dense_full @ V[0]
    assert torch.linalg.vector_norm(equal - want) > 1e-3 * torch.linalg.vector_norm(want)


def test_single_sample_matches_its_dense_hessian(tiny):
    x, y = tiny.initial_point()
    H1 = tiny.dense_hessian(1)
    got = to_dense(hessian_operator(tiny, x, y, block="yy", idx=1))
    assert torch.allclose(got, _block(H1, tiny, "yy"), rtol=0, atol=1e-12 * H1.abs().max())


def test_graph_reuse_equals_standalone_and_is_symmetric(tiny):
    x, y = tiny.initial_point()
    engine = HessianAtPoint(tiny, x, y, reuse_graph=True)
    g = torch.Generator().manual_seed(3)
    vx, vy = (
        torch.randn(tiny.d_x, generator=g, dtype=torch.float64),
        torch.randn(tiny.d_y, generator=g, dtype=torch.float64),
    )
    a = engine.product(vx, vy)
    b = engine.product(vx, vy)  # second pass through the cached graphs
    c = hvp(tiny, x, y, vx, vy)
    for u, w in ((a, b), (a, c)):
        assert torch.allclose(u[0], w[0], atol=1e-13) and torch.allclose(u[1], w[1], atol=1e-13)
    assert len(engine._graphs) == tiny.n
    # <u, H_xy v> = <H_yx u, v>
    Hxy, Hyx = engine.operator("xy"), engine.operator("yx")
    lhs = vx @ Hxy.matvec(vy)
    rhs = Hyx.matvec(vx) @ vy
    assert abs(float(lhs - rhs)) <= 1e-12 * abs(float(lhs))
    assert engine.counter.hvps == 2


def test_determinism_check_catches_dropout():
    obj = TinyAttentionObjective(dropout=0.3)
    x, y = obj.initial_point()
    with pytest.raises(NondeterministicObjectiveError, match="eval\\(\\) mode"):
        HessianAtPoint(obj, x, y, idx=0)
    HessianAtPoint(obj, x, y, idx=0, check=False)  # opting out is possible


def test_bad_inputs_raise_clear_errors(tiny):
    x, y = tiny.initial_point()
    with pytest.raises(ValueError, match="accepted: reverse_over_reverse"):
        HessianAtPoint(tiny, x, y, backend="magic")
    with pytest.raises(ValueError, match="no batch dimension"):
        HessianAtPoint(tiny, x.expand(2, -1), y.expand(2, -1))
    with pytest.raises(ValueError, match="sample index"):
        HessianAtPoint(tiny, x, y, idx=tiny.n)
    engine = HessianAtPoint(tiny, x, y, check=False)
    with pytest.raises(ValueError, match="accepted: xx, yy"):
        engine.operator("zz")
    with pytest.raises(ValueError, match="shape"):
        engine.operator("xx").matvec(torch.zeros(3, dtype=torch.float64))


def test_fd_step_follows_dtype():
    # fourth-order differences: delta = eps^(1/5) / COHERENCE (see fd_relative_step)
    assert fd_relative_step(torch.float64) == pytest.approx(2.0 ** (-52 / 5) / 8)
    assert fd_relative_step(torch.float32) == pytest.approx(2.0 ** (-23 / 5) / 8)
    with pytest.raises(ValueError):
        fd_relative_step(torch.int64)


def test_scipy_bridge(logistic):
    x, y = logistic.initial_point()
    op = hessian_operator(logistic, x, y, block="xx")
    lin = op.to_scipy()
    import numpy as np

    v = np.arange(logistic.d_x, dtype=float)
    want = logistic.exact_hessian(x, y)[: logistic.d_x, : logistic.d_x].numpy() @ v
    assert np.allclose(lin.matvec(v), want, rtol=1e-12, atol=1e-14)


def test_block_graph_only_over_needed_blocks(tiny):
    x, y = tiny.initial_point()
    engine = HessianAtPoint(tiny, x, y, idx=0, check=False)
    engine.operator("yy").matvec(torch.ones(tiny.d_y, dtype=torch.float64))
    ((_, need),) = engine._graphs.keys()
    assert need == frozenset("y")  # H_yy never differentiates through the base weights


@pytest.mark.parametrize("backend", BACKENDS)
def test_module_objective_integration(backend, dense_full):
    """The project's ModuleObjective (flat views into an nn.Module) gives the same Hessian as the test wrapper."""
    module_mod = pytest.importorskip("hybridsmooth.objectives.module")
    ref = TinyAttentionObjective()
    obj = module_mod.ModuleObjective(
        ref.module,
        ref.batches,
        lambda call, b: ((call(b[0]) - b[1]) ** 2).mean(),
        is_x=lambda n: not n.startswith(("lora_", "head")),
        is_y=lambda n: n.startswith(("lora_", "head")),
    )
    x, y = obj.initial_point()
    x0, y0 = ref.initial_point()
    assert torch.equal(x, x0) and torch.equal(y, y0)
    op = hessian_operator(obj, x, y, block="full", backend=backend)  # per-sample, weights 4/11, 4/11, 3/11
    v = torch.randn(op.shape[0], generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    want = dense_full @ v
    tol = 1e-6 if backend == "finite_difference" else 1e-10
    assert torch.linalg.vector_norm(op.matvec(v) - want) <= tol * torch.linalg.vector_norm(want)
    for blk in ("xx", "yy"):
        w = torch.randn(
            hessian_operator(obj, x, y, block=blk, check=False).shape[0],
            dtype=torch.float64,
            generator=torch.Generator().manual_seed(6),
        )
        got = hessian_operator(obj, x, y, block=blk, backend=backend, check=False).matvec(w)
        assert torch.linalg.vector_norm(got - _block(dense_full, ref, blk) @ w) <= tol * torch.linalg.vector_norm(got)


@pytest.mark.llm
@pytest.mark.parametrize("model", ["tiny-bert", "tiny-llama"])
def test_directions_as_output_gradients_give_the_bits_of_differentiating_the_inner_product(model):
    """The product hands v to autograd as the gradient's output gradient; differentiating <g, v> (the former
    form) multiplies v by a unit gradient first, which is exact: every block gives the same bits."""
    from hybridsmooth.problems import make_problem

    obj = make_problem(f"llm:model={model},adapter=lora,n_train=8,n_dev=0,n_test=0,batch_size=8,max_length=16")
    x, y = obj.initial_point()
    engine = HessianAtPoint(obj, x, y, idx=0, check=False)
    g = torch.Generator().manual_seed(1)
    vx, vy = torch.randn(obj.d_x, generator=g), torch.randn(obj.d_y, generator=g)

    def inner_product_form(vx_, vy_, out):
        xr, yr, gx, gy = engine._graph(0, engine._need(vx_, vy_, out))
        terms = [torch.dot(gr, v) for gr, v in ((gx, vx_), (gy, vy_)) if v is not None]
        leaves = [leaf for leaf, b in ((xr, "x"), (yr, "y")) if out in (b, "both")]
        return torch.autograd.grad(sum(terms), leaves, retain_graph=True)

    for a, b, out in ((vx, None, "x"), (None, vy, "y"), (None, vy, "x"), (vx, None, "y"), (vx, vy, "both")):
        got = [t for t in engine.product(a, b, out=out) if t is not None]
        want = inner_product_form(a, b, out)
        assert all(torch.equal(p, q) for p, q in zip(got, want, strict=True)), (model, out)


class SmallWeightsBigBank(torch.nn.Module):
    """A tanh layer with weights of rms 0.02 next to a large tensor of ones: the step of a finite difference
    must follow the small weights the direction touches, not the norm of the whole point (~316)."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(0.02 * torch.randn(8, 16, generator=g))
        self.bank = torch.nn.Parameter(torch.ones(100_000))
        self.head = torch.nn.Parameter(0.3 * torch.randn(2, 8, generator=g))

    def forward(self, inputs):
        return torch.tanh(20 * inputs @ self.w.T) @ self.head.T * self.bank[:2]


def test_fd_step_follows_the_weights_the_direction_touches():
    module_mod = pytest.importorskip("hybridsmooth.objectives.module")
    g = torch.Generator().manual_seed(1)
    batches = [(torch.randn(6, 16, generator=g), torch.randint(0, 2, (6,), generator=g))]
    obj = module_mod.ModuleObjective(
        SmallWeightsBigBank(),
        batches,
        lambda call, b: torch.nn.functional.cross_entropy(call(b[0]), b[1]),
        is_x=lambda n: n != "head",
        is_y=lambda n: n == "head",
    )
    x, y = obj.initial_point()
    assert x.dtype == torch.float32 and float(torch.cat([x, y]).norm()) > 300
    exact = HessianAtPoint(obj, x, y).operator("xx")
    fd = HessianAtPoint(obj, x, y, backend="finite_difference").operator("xx")
    v = torch.zeros(obj.d_x)
    v[: 8 * 16] = torch.randn(8 * 16, generator=g)  # on the small weights only
    want = exact.matvec(v)
    assert torch.linalg.vector_norm(fd.matvec(v) - want) <= 1e-3 * torch.linalg.vector_norm(want)
    u = torch.randn(obj.d_x, generator=g)  # everywhere, mostly on the bank
    want = exact.matvec(u)
    assert torch.linalg.vector_norm(fd.matvec(u) - want) <= 1e-3 * torch.linalg.vector_norm(want)


def test_operator_defects_vanish_for_exact_products_and_are_small_for_finite_differences(tiny):
    from hybridsmooth.curvature.hvp import operator_defects

    x, y = tiny.initial_point()
    for block in ("xx", "yy", "xy"):
        exact = operator_defects(HessianAtPoint(tiny, x, y), block, seed=3)
        assert exact.asymmetry < 1e-12 and exact.nonlinearity < 1e-12 and exact.hvps == 4
        fd = operator_defects(HessianAtPoint(tiny, x, y, backend="finite_difference"), block, seed=3)
        # float64 differences: rounding ~ eps / delta and truncation ~ delta^4, far below 1e-6
        assert fd.asymmetry < 1e-8 and 0 < fd.nonlinearity < 1e-8
