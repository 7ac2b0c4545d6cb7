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


def _tiny_causal(arch: str):
    import transformers

    kw = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, vocab_size=100)
    if arch == "opt":
        cfg = transformers.OPTConfig(ffn_dim=64, word_embed_proj_dim=32, **kw)
        cls = transformers.OPTForCausalLM
    else:
        cfg = getattr(transformers, f"{arch}Config")(intermediate_size=64, num_key_value_heads=2, **kw)
        cls = getattr(transformers, f"{arch}ForCausalLM")
    cfg._attn_implementation = "eager"
    torch.manual_seed(0)
    return cls(cfg).eval()


@pytest.mark.parametrize("arch", ["opt", "Mistral", "Qwen2"])
def test_the_other_listed_architectures_had_the_nan_too_and_keep_their_float32_bits(arch):
    model = _tiny_causal(arch)
    ids = torch.randint(0, 100, (3, 7), generator=torch.Generator().manual_seed(1))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, :3] = 0  # left padding
    with torch.no_grad():
        theirs32 = model(input_ids=ids, attention_mask=mask).logits
        theirs64 = model.to(torch.float64)(input_ids=ids, attention_mask=mask).logits
        keep_own_precision(model, "eager")
        assert model.config._attn_implementation == EAGER_OWN_PRECISION
        ours64 = model(input_ids=ids, attention_mask=mask).logits
        ours32 = model.to(torch.float32)(input_ids=ids, attention_mask=mask).logits
    assert torch.isnan(theirs64).any() and torch.isfinite(ours64).all()
    assert torch.equal(ours32, theirs32)
    torch.testing.assert_close(ours64[mask.bool()].float(), ours32[mask.bool()], rtol=1e-4, atol=1e-5)
