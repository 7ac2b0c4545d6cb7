"""LLaMA-type models in float64 (``objectives.own_precision``): transformers' eager attention takes its softmax in
float32, where a float64 mask's fill value becomes -inf and a left-padded prompt batch gives a NaN loss, and its
RMSNorm normalises in float32, which costs finite differences of float64 gradients their accuracy."""

import pytest
import torch

from hybridsmooth.curvature.hvp import hvp
from hybridsmooth.objectives import llm_models
from hybridsmooth.objectives.llm import make_llm_objective
from hybridsmooth.objectives.own_precision import EAGER_OWN_PRECISION, keep_own_precision

SPEC = dict(model="tiny-llama", adapter="lora", n_train=8, batch_size=8, max_length=32, n_dev=0, n_test=0)


def _as_transformers_made_it(model) -> int:
    """Back to transformers' own attention and norms; returns how many norms were switched."""
    model.set_attn_implementation("eager")
    norms = [m for m in model.modules() if "forward" in vars(m)]
    for m in norms:
        del m.forward
    return len(norms)


def _loss_and_grad(obj):
    x, y = obj.initial_point()
    return obj.loss(x, y, 0), obj.grad(x, y, 0)


def test_the_batch_is_left_padded_and_transformers_eager_attention_gives_nan_in_float64():
    obj = make_llm_objective(**SPEC, dtype="float64")
    assert obj.model.config._attn_implementation == EAGER_OWN_PRECISION
    assert (obj.batches[0]["attention_mask"][:, 0] == 0).any()  # padded on the left: some rows mask a key
    _as_transformers_made_it(obj.model)
    loss, _ = _loss_and_grad(obj)
    assert torch.isnan(loss)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_copy_is_transformers_eager_attention_bit_for_bit_below_float64(dtype):
    ours = make_llm_objective(**SPEC, dtype=dtype)
    loss, (gx, gy) = _loss_and_grad(ours)
    assert _as_transformers_made_it(ours.model) == 5  # two layers of two norms, and the final one
    theirs_loss, (tx, ty) = _loss_and_grad(ours)
    assert torch.equal(loss, theirs_loss) and torch.equal(gx, tx) and torch.equal(gy, ty)


def test_float64_is_finite_agrees_with_sdpa_and_with_float32():
    eager = make_llm_objective(**SPEC, dtype="float64")
    sdpa = make_llm_objective(**SPEC, dtype="float64", attn="sdpa")
    f32 = make_llm_objective(**SPEC, dtype="float32")
    (l64, (gx, gy)), (ls, (sx, sy)), (l32, _) = (_loss_and_grad(o) for o in (eager, sdpa, f32))
    assert torch.isfinite(l64) and torch.isfinite(gx).all() and torch.isfinite(gy).all()
    # sdpa's math path keeps float64 throughout: the same function to rounding
    torch.testing.assert_close(l64, ls, rtol=1e-12, atol=0)
    torch.testing.assert_close(gx, sx, rtol=1e-9, atol=1e-14)
    assert abs(float(l64) - float(l32)) <= 1e-6 * abs(float(l64))


def test_float64_hessian_products_are_float64_accurate():
    """Both product back-ends agree to rounding, and central differences of gradients converge to them as h^2
    down to h = 1e-6: with the float32 norms they agreed to 1e-8 and the differences stalled near h = 1e-4."""
    obj = make_llm_objective(**SPEC, dtype="float64")
    x, y = obj.initial_point()
    v = torch.randn(obj.d_y, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    _, hv = hvp(obj, x, y, None, v, idx=0, out="y")
    _, fwd = hvp(obj, x, y, None, v, idx=0, out="y", backend="forward_over_reverse")
    assert float((fwd - hv).norm()) <= 1e-13 * float(hv.norm())

    def fd_error(h):
        gp = obj.grad(x, y + h * v, 0)[1].clone()  # clone: a gradient may come back in the objective's buffer
        gm = obj.grad(x, y - h * v, 0)[1].clone()
        return float(((gp - gm) / (2 * h) - hv).norm() / hv.norm())

    errors = [fd_error(h) for h in (1e-4, 1e-5, 1e-6)]
    assert errors[2] <= 1e-8
    assert 50 < errors[0] / errors[1] < 200 and 50 < errors[1] / errors[2] < 200  # O(h^2), no rounding floor yet


def test_other_architectures_and_sdpa_keep_their_attention():
    loaded = llm_models.load_model("tiny-bert", num_labels=2, attn="eager")
    assert loaded.model.config._attn_implementation == "eager"  # BERT's eager softmax keeps the dtype
    sdpa = llm_models.load_model("tiny-llama", num_labels=2, attn="sdpa")
    assert sdpa.model.config._attn_implementation == "sdpa"
    keep_own_precision(sdpa.model, "sdpa")
    assert sdpa.model.config._attn_implementation == "sdpa"
