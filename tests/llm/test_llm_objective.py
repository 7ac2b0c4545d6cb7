"""LLM + adapter objectives on tiny random copies of the real architectures (real tokenizers)."""

import math

import pytest
import torch

from hybridsmooth.errors import SpecError
from hybridsmooth.objectives import llm, llm_models
from hybridsmooth.objectives.llm import accuracy, make_llm_objective, prompt_batch
from hybridsmooth.problems import make_problem

pytestmark = pytest.mark.llm
SMALL = dict(n_train=12, n_dev=4, n_test=8, batch_size=5, max_length=24, seed=0)


@pytest.fixture(scope="module")
def lora_llama():
    return make_llm_objective(model="tiny-llama", adapter="lora", **SMALL)


@pytest.fixture(scope="module")
def prompt_llama():
    return make_llm_objective(model="tiny-llama", adapter="prompt", virtual_tokens=3, **SMALL)


def _base_numel_from_state_dict(obj):
    """Sum over the state dict (tied tensors listed under both names) minus the duplicates, found by storage."""
    seen, total = set(), 0
    for name, t in obj.model.state_dict().items():
        if (
            llm_models.is_adapter_name(name)
            or "original_module" in name
            or t.dtype not in (torch.float32, torch.bfloat16)
        ):
            continue
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key not in seen:
            seen.add(key)
            total += t.numel()
    return total


def test_lora_block_split_matches_names_and_counts_tied_weights_once(lora_llama):
    obj = lora_llama
    assert obj.n == 3 and obj.batch_sizes == (5, 5, 2)
    assert all(("lora_A" in n or "lora_B" in n) for n in obj.y_layout.names)
    assert not any("lora" in n for n in obj.x_layout.names)
    # r=8 on q,k,v,o of 2 layers: hidden 32, 2 kv heads of size 8 -> k/v project to 16
    r, h, kv = 8, 32, 16
    assert obj.d_y == 2 * (2 * r * (h + h) + 2 * r * (h + kv))
    sd = obj.model.state_dict()
    emb = [n for n in sd if n.endswith("embed_tokens.weight")]
    head = [n for n in sd if n.endswith("lm_head.weight")]
    assert emb and head and sd[emb[0]].data_ptr() == sd[head[0]].data_ptr()  # tied in the model
    assert sum(1 for n in obj.x_layout.names if n.endswith(("embed_tokens.weight", "lm_head.weight"))) == 1
    assert obj.d_x == _base_numel_from_state_dict(obj)
    assert obj.frozen_names == ()


def test_prompt_block_is_the_soft_prompt(prompt_llama):
    obj = prompt_llama
    assert obj.y_layout.names == ("prompt_encoder.default.embedding.weight",)
    assert obj.d_y == 3 * 32
    assert obj.d_x == _base_numel_from_state_dict(obj)


def test_encoder_head_belongs_to_the_adapter_block():
    lora = make_llm_objective(model="tiny-bert", adapter="lora", **SMALL)
    assert {n for n in lora.y_layout.names if "lora" not in n} == {
        "base_model.model.classifier.weight",
        "base_model.model.classifier.bias",
    }
    prompt = make_llm_objective(model="tiny-bert", adapter="prompt", virtual_tokens=4, **SMALL)
    assert any("modules_to_save" in n for n in prompt.y_layout.names)
    # peft keeps an unused original copy of the head it wraps: frozen, in neither block
    assert prompt.frozen_names and all("original_module" in n for n in prompt.frozen_names)
    for obj in (lora, prompt):
        assert abs(obj.loss(obj.x, obj.y).item() - math.log(2)) < 0.05


@pytest.mark.parametrize("fixture", ["lora_llama", "prompt_llama"])
def test_random_binary_head_loss_is_near_log2(fixture, request):
    obj = request.getfixturevalue(fixture)
    # std-0.02 weights: the two label-word logits nearly tie, so CE ~ log 2 (a wrong label id or a
    # score taken from the padding side would still be near log 2, hence the next tests)
    loss = obj.loss(obj.x, obj.y)
    assert torch.isfinite(loss) and abs(loss.item() - math.log(2)) < 0.05


def test_topic_task_has_five_single_token_label_words():
    obj = make_llm_objective(
        model="tiny-llama", adapter="lora", task="topic", n_train=10, n_dev=5, n_test=5, batch_size=10, max_length=40
    )
    assert obj.label_names == ("business", "entertainment", "politics", "sports", "tech")
    assert abs(obj.loss(obj.x, obj.y).item() - math.log(5)) < 0.05
    assert all(b["input_ids"].shape[1] <= 40 for b in obj.batches)


def test_y_gradient_matches_plain_backward_and_leaves_base_grads_none(lora_llama):
    obj = lora_llama
    y0 = obj.y.clone()
    with torch.no_grad():  # make lora_B non-zero so that every factor has a gradient
        obj.y.add_(0.05 * torch.randn(obj.d_y, generator=torch.Generator().manual_seed(0)))
    gx, gy = obj.grad(obj.x, obj.y, 1, blocks="y")
    assert gx is None and torch.isfinite(gy).all() and gy.norm() > 0
    assert all(p.grad is None for p in obj.model.parameters())
    # oracle: the peft module's own forward/backward with the adapter weights marked trainable
    params = dict(obj.model.named_parameters())
    for n in obj.y_layout.names:
        params[n].requires_grad_(True)
    try:
        batch = obj.batches[1]
        scores = obj.scores_fn(lambda **kw: obj.model(**kw), batch)
        torch.nn.functional.cross_entropy(scores, batch["labels"]).backward()
        for n, view in obj.y_layout.views(gy).items():
            assert torch.allclose(view, params[n].grad, atol=1e-6, rtol=1e-4), n
        assert all(params[n].grad is None for n in obj.x_layout.names)
    finally:
        for n in obj.y_layout.names:
            params[n].grad = None
            params[n].requires_grad_(False)
        obj.set_point(obj.x, y0)


def test_in_place_perturbation_of_x_reaches_the_wrapped_model(prompt_llama):
    obj = prompt_llama
    x0, y0 = obj.initial_point()
    before = obj.loss(obj.x, obj.y, 0).item()
    u = torch.randn(obj.d_x, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        obj.x.add_(u, alpha=0.5)
    moved = obj.loss(obj.x, obj.y, 0).item()
    plain = obj.scores_fn(lambda **kw: obj.model(**kw), obj.batches[0])
    assert moved != before
    assert torch.nn.functional.cross_entropy(plain, obj.batches[0]["labels"]).item() == pytest.approx(moved, rel=1e-5)
    obj.set_point(x0, y0)
    assert obj.loss(obj.x, obj.y, 0).item() == before


def test_left_padding_with_positions_matches_unpadded_rows(lora_llama):
    obj = lora_llama
    batch = obj.batches[0]
    assert (batch["attention_mask"][:, -1] == 1).all()  # left padding: last position is real
    with torch.no_grad():
        together = obj.scores_fn(lambda **kw: obj.model(**kw), batch)
        for i in range(batch["input_ids"].shape[0]):
            keep = batch["attention_mask"][i].bool()
            alone = {
                "input_ids": batch["input_ids"][i : i + 1, keep],
                "attention_mask": batch["attention_mask"][i : i + 1, keep],
            }
            single = obj.scores_fn(lambda **kw: obj.model(**kw), alone)
            assert torch.allclose(single[0], together[i], atol=1e-5)


def test_long_texts_keep_the_prompt_tail(lora_llama):
    tok = lora_llama.tokenizer
    b = prompt_batch(
        tok,
        ["word " * 200, "short"],
        [0, 1],
        template=llm_models.TEMPLATES["sentiment"],
        max_length=16,
        pad_id=tok.pad_token_id,
    )
    tail = tok.encode("\nSentiment:", add_special_tokens=False)
    assert b["input_ids"].shape == (2, 16)
    for row in b["input_ids"]:
        assert row[-len(tail) :].tolist() == tail
    assert b["attention_mask"][1].sum() < 16 and b["input_ids"][1, 0] == tok.pad_token_id


def test_accuracy_is_the_argmax_agreement(lora_llama):
    obj = lora_llama
    acc = accuracy(obj, obj.x, obj.y, split="test")
    batch = obj.make_batch(obj.splits.test.texts, obj.splits.test.labels)
    with torch.no_grad():
        pred = obj.scores_fn(lambda **kw: obj.model(**kw), batch).argmax(-1)
    assert acc == (pred == batch["labels"]).float().mean().item()
    with pytest.raises(SpecError, match="split"):
        accuracy(obj, obj.x, obj.y, split="val")


@pytest.mark.parametrize("model", ["tiny-llama", "tiny-bert"])
def test_evaluation_in_length_order_is_the_evaluation_in_data_order(model):
    obj = make_llm_objective(model=model, adapter="lora", **{**SMALL, "n_test": 30, "batch_size": 4, "max_length": 96})
    test = obj.splits.test
    got = llm.evaluate(obj, obj.x, obj.y, split="test")
    batches = obj._eval_batches[("test", 30, 4)]
    widths = [b["input_ids"].shape[1] for b in batches]
    assert widths == sorted(widths) and sum(b["input_ids"].numel() for b in batches) < 30 * max(widths)
    batch = obj.make_batch(test.texts, test.labels)  # one batch in data order, padded to the longest
    with torch.no_grad():
        scores = obj.scores_fn(lambda **kw: obj.model(**kw), batch).float()
    loss = torch.nn.functional.cross_entropy(scores, batch["labels"]).item()
    assert got["accuracy"] == (scores.argmax(-1) == batch["labels"]).float().mean().item()
    assert got["loss"] == pytest.approx(loss, rel=1e-5)
    assert llm.evaluate(obj, obj.x, obj.y, split="test", limit=10)["accuracy"] >= 0  # its own batches
    assert ("test", 10, 4) in obj._eval_batches and obj._eval_batches[("test", 30, 4)] is batches


def test_bfloat16_runs_on_cpu():
    obj = make_llm_objective(model="tiny-llama", adapter="lora", dtype="bfloat16", **SMALL)
    assert obj.dtype == torch.bfloat16 and obj.x.dtype == torch.bfloat16 and obj.y.dtype == torch.bfloat16
    loss, _, gy = obj.value_and_grad(obj.x, obj.y, 0, blocks="y")
    assert loss.dtype == torch.float32 and abs(loss.item() - math.log(2)) < 0.1
    assert gy.dtype == torch.bfloat16 and torch.isfinite(gy).all()


def test_spec_builds_and_bad_specs_raise_spec_error(tmp_path):
    obj = make_problem("llm:model=tiny-bert,adapter=lora,n_train=6,n_dev=2,n_test=2,batch_size=4,max_length=16")
    assert obj.n == 2 and obj.spec.startswith("llm:")
    for spec, msg in [
        ("llm:model=/no/such/checkpoint", "checkpoint folder"),
        ("llm:model=tiny-bert,adapter=ia3", "adapter"),
        ("llm:model=tiny-bert,task=nli", "task"),
        ("llm:model=tiny-bert,dtype=float16", "dtype"),
        (f"llm:model=tiny-bert,data={tmp_path / 'missing.tsv'}", "does not exist"),
        ("llm:model=tiny-bert,n_train=lots", "not a valid int"),
        ("llm:model=tiny-llama,lora_targets=qz,n_train=4,n_dev=0,n_test=0", "lora_targets"),
    ]:
        with pytest.raises(SpecError, match=msg):
            make_problem(spec)


def test_user_checkpoint_folder_and_multi_token_label_words(tmp_path, lora_llama):
    from hybridsmooth.objectives.llm_models import load_model

    loaded = load_model("tiny-bert", num_labels=2)
    loaded.model.save_pretrained(tmp_path / "ckpt")
    loaded.tokenizer.save_pretrained(tmp_path / "ckpt")
    obj = make_llm_objective(model=str(tmp_path / "ckpt"), adapter="lora", **SMALL)
    assert not obj.frozen_names and obj.d_y > 0
    with pytest.raises(SpecError, match="single-token"):
        llm.label_token_ids(lora_llama.tokenizer, ("negative", "unquestionably-neutral"))


@pytest.mark.parametrize("block", ["x", "y"])
def test_double_backward_hvp_through_eager_attention(block, prompt_llama):
    """Curvature queries need double backward through attention (eager); check H v against a central
    difference of gradients, (g(z + eps v) - g(z - eps v)) / (2 eps) = H v + O(eps^2)."""
    obj = prompt_llama
    x = obj.x.detach().requires_grad_(block == "x")
    y = obj.y.detach().requires_grad_(block == "y")
    wrt = x if block == "x" else y
    g = torch.autograd.grad(obj.loss(x, y, 0), wrt, create_graph=True)[0]
    v = torch.randn(wrt.numel(), generator=torch.Generator().manual_seed(2))
    v = v / v.norm()
    hv = torch.autograd.grad(g @ v, wrt)[0]
    eps = 1e-2  # unit v: a step of 1e-2 keeps float32 rounding (~1e-7 / eps) far below ||H v||
    shift = lambda s: (obj.x + s * v, obj.y) if block == "x" else (obj.x, obj.y + s * v)  # noqa: E731
    gp = obj.grad(*shift(eps), 0, blocks=block)["xy".index(block)]
    gm = obj.grad(*shift(-eps), 0, blocks=block)["xy".index(block)]
    fd = (gp - gm) / (2 * eps)
    assert hv.norm() > 0
    assert (hv - fd).norm() <= 1e-2 * hv.norm()


@pytest.mark.parametrize("fixture", ["lora_llama", "prompt_llama"])
def test_full_gradient_matches_plain_backward_and_model_keeps_its_parameters(fixture, request):
    """Both blocks against the peft module's own backward. Prompt tuning reaches the tied word
    embedding under two module names: the case where a name-by-name parameter swap goes wrong."""
    obj = request.getfixturevalue(fixture)
    params = dict(obj.model.named_parameters())
    ids_before = {n: id(p) for n, p in params.items()}
    u = torch.randn(obj.d_x, generator=torch.Generator().manual_seed(3))
    obj.loss(obj.x + u, obj.y, 0)  # an evaluation elsewhere must leave the module untouched
    assert {n: id(p) for n, p in obj.model.named_parameters()} == ids_before
    assert all(isinstance(p, torch.nn.Parameter) for p in obj.model.parameters())
    emb = obj.model.get_input_embeddings().weight
    assert (
        emb.data_ptr()
        == obj.x.data_ptr()
        + obj.x_layout.slices()[next(n for n in obj.x_layout.names if n.endswith("embed_tokens.weight"))].start
        * obj.x.element_size()
    )

    gx, gy = obj.grad(obj.x, obj.y, 2)
    old = {n: p.requires_grad for n, p in params.items()}
    try:
        for p in params.values():
            p.requires_grad_(True)
        batch = obj.batches[2]
        torch.nn.functional.cross_entropy(
            obj.scores_fn(lambda **kw: obj.model(**kw), batch), batch["labels"]
        ).backward()
        for layout, g in ((obj.x_layout, gx), (obj.y_layout, gy)):
            for n, view in layout.views(g).items():
                assert torch.allclose(view, params[n].grad, atol=1e-7, rtol=1e-4), n
    finally:
        for n, p in params.items():
            p.grad = None
            p.requires_grad_(old[n])


def test_a_single_minibatch_gradient_passes_through_and_the_sum_over_minibatches_is_unchanged(lora_llama):
    """grad f_i is autograd's own output (g * 1.0 would be the same bits in a fresh vector); f's gradient still
    sums w_i grad f_i into a vector of its own, and a broadcast gradient is copied before anything adds into it."""
    from hybridsmooth.objectives.module import _scaled

    obj = lora_llama
    gx, gy = obj.grad(obj.x, obj.y, 1)
    with torch.enable_grad():
        xr, yr = obj.x.detach().requires_grad_(True), obj.y.detach().requires_grad_(True)
        want = torch.autograd.grad(obj.loss(xr, yr, 1), [xr, yr])
    assert torch.equal(gx, want[0]) and torch.equal(gy, want[1])
    assert gx.data_ptr() != obj.x.data_ptr() and gx.is_contiguous()
    total_x, total_y = obj.grad(obj.x, obj.y)
    parts = [obj.grad(obj.x, obj.y, i) for i in range(obj.n)]
    sum_x = parts[0][0] * float(obj.weights[0])
    for i in range(1, obj.n):
        sum_x = sum_x.add_(parts[i][0], alpha=float(obj.weights[i]))
    assert obj.n > 1 and torch.equal(total_x, sum_x)
    assert all(p[0].data_ptr() != total_x.data_ptr() for p in parts)
    broadcast = torch.ones(()).expand(5)
    kept = _scaled(broadcast, 1.0)
    assert kept.is_contiguous() and torch.equal(kept, torch.ones(5))
    fresh = torch.arange(3.0)
    assert _scaled(fresh, 1.0) is fresh and torch.equal(_scaled(fresh, 0.5), fresh * 0.5)
