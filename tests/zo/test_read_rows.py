"""The Rademacher ZO step that moves only the rows a forward reads: the same losses and the same read rows as
the dense step, the unread rows updated in one rounding, and a model run that checks its promise."""

import pytest
import torch
from torch import nn

from hybridsmooth.objectives.embedding_rows import EmbeddingRows
from hybridsmooth.rng import zo_generator
from hybridsmooth.zo.inplace import zo_step_inplace
from hybridsmooth.zo.inplace_reference import regenerate_directions
from hybridsmooth.zo.signs import draw_signs

IDS = torch.tensor([3, 7, 7, 50, 99, 0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64, torch.float16])
@pytest.mark.parametrize("shape", [(50, 7), (40, 64), (11, 3, 5), (9, 384)])
def test_take_rows_is_the_materialised_rows(dtype, shape):
    signs = draw_signs(shape, generator=torch.Generator().manual_seed(1), dtype=dtype)
    rows = torch.tensor([0, 8, 2, 5])
    assert torch.equal(signs.take_rows(rows), signs.materialize()[rows])


def _problem():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(100, 8, generator=gen), torch.randn(8, 3, generator=gen)


def _step(rows, *, mode="regenerate", q=1):
    emb, w = _problem()

    def loss():
        return (torch.tanh(emb[IDS] @ w) ** 2).sum()

    res = zo_step_inplace(
        [emb, w], loss, mu=1e-3, eta=1e-2, run_seed=1, epoch=0, step=2, form="spsa", q=q, noise_mode=mode, rows=rows
    )
    return emb, w, res


@pytest.mark.parametrize("mode", ["regenerate", "buffer"])
@pytest.mark.parametrize("q", [1, 3])
def test_same_losses_and_read_rows_as_the_dense_step(mode, q):
    dense_emb, dense_w, dense = _step(None, mode=mode, q=q)
    emb, w, res = _step([IDS, None], mode=mode, q=q)
    assert res.phi == dense.phi and res.loss_plus == dense.loss_plus and res.loss_minus == dense.loss_minus
    read = torch.unique(IDS)
    assert torch.equal(emb[read], dense_emb[read]) and torch.equal(w, dense_w)
    other = torch.ones(100, dtype=torch.bool)
    other[read] = False
    # the unread rows differ from the dense step's by its extra roundings only
    assert not torch.equal(emb[other], dense_emb[other])
    assert torch.allclose(emb[other], dense_emb[other], rtol=0, atol=1e-6)


def test_the_unread_rows_get_the_update_in_one_rounding():
    emb0, _ = _problem()
    emb, _, res = _step([IDS, None])
    u = regenerate_directions([emb0, torch.zeros(8, 3)], run_seed=1, epoch=0, step=2, form="spsa")[0][0]
    expected = emb0.clone().add_(u, alpha=-1e-2 * res.phi[0])
    other = torch.ones(100, dtype=torch.bool)
    other[torch.unique(IDS)] = False
    assert torch.equal(emb[other], expected[other])


def test_noise_modes_agree_bitwise():
    a, b = _step([IDS, None], mode="regenerate", q=2), _step([IDS, None], mode="buffer", q=2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2].phi == b[2].phi


def test_an_interrupted_step_puts_the_rows_back():
    emb0, w0 = _problem()
    emb, w = _problem()
    calls = []

    def loss():
        calls.append(1)
        if len(calls) == 2:  # at the x - mu u forward
            raise KeyboardInterrupt
        return (emb[IDS] @ w).sum()

    with pytest.raises(KeyboardInterrupt):
        zo_step_inplace([emb, w], loss, mu=1e-3, eta=1e-2, run_seed=1, epoch=0, step=2, form="spsa", rows=[IDS, None])
    other = torch.ones(100, dtype=torch.bool)
    other[torch.unique(IDS)] = False
    assert torch.equal(emb[other], emb0[other])  # never moved
    assert torch.allclose(emb, emb0, rtol=0, atol=1e-6) and torch.allclose(w, w0, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(rows=[IDS, None], form="central"), "spsa"),
        (dict(rows=[IDS]), "one entry per parameter"),
        (dict(rows=[torch.tensor([100]), None]), r"\[0, 100\)"),
        (dict(rows=[torch.tensor([[1]]), None]), "1-D integer"),
    ],
)
def test_bad_rows_are_refused(kw, message):
    emb, w = _problem()
    form = kw.pop("form", "spsa")
    with pytest.raises(ValueError, match=message):
        zo_step_inplace([emb, w], lambda: emb.sum(), mu=1e-3, eta=1e-2, run_seed=0, epoch=0, step=0, form=form, **kw)


def test_the_embedding_hook_refuses_rows_it_was_not_promised():
    emb = nn.Embedding(20, 4)
    found = EmbeddingRows(emb, position=0)
    rows = found.rows({"input_ids": torch.tensor([[1, 2, 2]])}, 1)
    assert torch.equal(rows[0], torch.tensor([1, 2]))
    ok = found.checked(lambda: emb(torch.tensor([2, 1])).sum(), rows[0])
    ok()
    with pytest.raises(RuntimeError, match="read other rows"):
        found.checked(lambda: emb(torch.tensor([1, 5])).sum(), rows[0])()
    with pytest.raises(RuntimeError, match="read other rows"):
        found.checked(lambda: torch.tensor(0.0), rows[0])()
    emb(torch.tensor([7]))  # outside a checked loss nothing is kept
    assert found._seen == []


@pytest.mark.llm
def test_only_an_untied_input_embedding_is_found():
    from hybridsmooth.objectives.llm import make_llm_objective

    small = dict(n_train=8, n_dev=2, n_test=2, batch_size=4, max_length=16, seed=0)
    bert = make_llm_objective(model="tiny-bert", adapter="lora", **small)
    assert bert.x_layout.names[bert.embedding_rows.position].endswith("word_embeddings.weight")
    prompt = make_llm_objective(model="tiny-bert", adapter="prompt", virtual_tokens=2, **small)
    assert prompt.embedding_rows is not None
    llama = make_llm_objective(model="tiny-llama", adapter="lora", **small)  # tied to the LM head
    assert llama.embedding_rows is None


@pytest.mark.llm
@pytest.mark.parametrize("adapter", ["lora", "prompt"])
def test_a_model_step_moves_only_the_rows_read_and_keeps_the_losses(adapter):
    from hybridsmooth.engine.model_step import inplace_zo_block_step
    from hybridsmooth.objectives.llm import make_llm_objective
    from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig, hybrid_step

    kw = dict(virtual_tokens=2) if adapter == "prompt" else {}
    obj = make_llm_objective(model="tiny-bert", adapter=adapter, n_train=8, batch_size=4, max_length=16, seed=0, **kw)
    x0, y0 = obj.initial_point()
    read = torch.unique(obj.batches[0]["input_ids"])
    pos = obj.embedding_rows.position
    out = {}
    for form in ("spsa", "central"):
        for zo_rows in ("read", "all"):
            obj.set_point(x0, y0)
            cfg = HybridSGDConfig(method="hybrid", eta_x=1e-3, eta_y=0.1, mu=1e-3, seed=0, form=form, fo_point="plus")
            zo_fn = inplace_zo_block_step(obj, noise_mode="regenerate", fo_point="plus", idx=0, zo_rows=zo_rows)
            info = {}
            x, y = hybrid_step(obj, obj.x, obj.y, 0, cfg, zo_generator(0, 0, 0), zo_block_step=zo_fn, info=info)
            emb = list(obj.x_layout.views(obj.x).values())[pos]
            out[form, zo_rows] = (info["zo_x"].phi, y.clone(), obj.x.clone(), emb[read].clone())
    (phi_r, y_r, x_r, e_r), (phi_a, y_a, x_a, e_a) = out["spsa", "read"], out["spsa", "all"]
    assert torch.equal(phi_r, phi_a) and torch.equal(y_r, y_a) and torch.equal(e_r, e_a)
    assert not torch.equal(x_r, x_a) and torch.allclose(x_r, x_a, rtol=0, atol=1e-6)
    # Gaussian directions: every row moves whatever zo_rows says
    assert all(torch.equal(a, b) for a, b in zip(out["central", "read"], out["central", "all"]))
    with pytest.raises(ValueError, match="zo_rows"):
        inplace_zo_block_step(obj, noise_mode="regenerate", zo_rows="some")
