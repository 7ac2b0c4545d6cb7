"""ModuleObjective on a tiny random model with a tied embedding / head and a small adapter."""

import copy

import pytest
import torch
from torch import nn

from hybridsmooth.errors import UsageError
from hybridsmooth.objectives.base import Objective
from hybridsmooth.objectives.module import ModuleObjective

V, D = 7, 5


class TinyTied(nn.Module):
    """Embedding tied to the output head, one hidden layer, a low-rank adapter on the hidden layer."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.body = nn.Linear(D, D)
        self.adapter_a = nn.Linear(D, 2, bias=False)
        self.adapter_b = nn.Linear(2, D, bias=False)
        self.head = nn.Linear(D, V, bias=False)
        self.head.weight = self.emb.weight  # tied: one tensor, two uses
        self.drop = nn.Dropout(0.5)  # must be inactive (eval mode) in every evaluation

    def forward(self, ids):
        h = self.emb(ids).mean(1)
        h = torch.tanh(self.body(h)) + self.adapter_b(self.adapter_a(h))
        return self.head(self.drop(h))


def ce_loss(call, batch):
    return nn.functional.cross_entropy(call(batch["ids"]), batch["labels"])


def make_batches(sizes, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        {"ids": torch.randint(0, V, (s, 3), generator=g), "labels": torch.randint(0, V, (s,), generator=g)}
        for s in sizes
    ]


def is_y(name):
    return name.startswith("adapter_")


def is_x(name):
    return not is_y(name)


def build(sizes=(4, 4, 3), seed=0):
    torch.manual_seed(seed)  # model init only; the objective itself draws nothing
    model = TinyTied()
    reference = copy.deepcopy(model)
    obj = ModuleObjective(model, make_batches(sizes, seed), ce_loss, is_x=is_x, is_y=is_y, name="tiny")
    return obj, reference


def test_block_split_by_names_counts_tied_weight_once():
    obj, ref = build()
    assert isinstance(obj, Objective)
    assert obj.x_layout.names == ("emb.weight", "body.weight", "body.bias")
    assert obj.y_layout.names == ("adapter_a.weight", "adapter_b.weight")
    assert obj.d_x == V * D + D * D + D  # head.weight is the embedding: not counted again
    assert obj.d_y == 2 * D + D * 2
    assert obj.frozen_names == ()
    assert obj.constants.L_x is None and obj.n == 3


def test_flat_buffers_alias_the_model_weights():
    obj, _ = build()
    assert obj.model.emb.weight.data_ptr() == obj.x.data_ptr()
    assert obj.model.head.weight is obj.model.emb.weight
    x0, y0 = obj.initial_point()
    before = obj.loss(obj.x, obj.y, 0).item()
    ids = obj.batches[0]["ids"]
    out_before = obj.model(ids).detach().clone()
    with torch.no_grad():
        obj.x.add_(0.3)  # in place on the live buffer
    assert not torch.equal(obj.model(ids), out_before)  # the module sees it directly
    assert obj.loss(obj.x, obj.y, 0).item() != before  # and so does the functional evaluation
    assert torch.equal(obj.model.emb.weight[0, :3], x0[:3] + 0.3)
    with torch.no_grad():
        obj.x.sub_(0.3)  # perturb-restore: equal up to rounding
    assert obj.loss(obj.x, obj.y, 0).item() == pytest.approx(before, rel=1e-6, abs=1e-7)
    obj.set_point(x0, y0)  # exact restore: bit-identical loss
    assert obj.loss(obj.x, obj.y, 0).item() == before
    assert torch.equal(obj.model(ids), out_before)
    # the clone from initial_point is independent of the live buffer
    with torch.no_grad():
        obj.y.mul_(2.0)
    assert not torch.equal(obj.y, y0)


def test_loss_and_grad_match_plain_autograd_with_unequal_batches():
    sizes = (4, 4, 3)
    obj, ref = build(sizes)
    ref.eval()
    total = sum(sizes)
    # the exact data-set average: the mean over all 11 examples, i.e. weights 4/11, 4/11, 3/11
    all_ids = torch.cat([b["ids"] for b in obj.batches])
    all_labels = torch.cat([b["labels"] for b in obj.batches])
    full = nn.functional.cross_entropy(ref(all_ids), all_labels)
    assert torch.allclose(obj.weights, torch.tensor(sizes, dtype=torch.float64) / total)
    assert obj.loss(obj.x, obj.y).item() == pytest.approx(full.item(), rel=1e-6)
    # an equal-weight average would differ: the check above is sensitive to the weighting
    equal = sum(obj.loss(obj.x, obj.y, i).item() for i in range(3)) / 3
    assert abs(equal - full.item()) > 1e-4
    full.backward()
    value, gx, gy = obj.value_and_grad(obj.x, obj.y)
    assert value.item() == pytest.approx(full.item(), rel=1e-6)
    ref_params = dict(ref.named_parameters())
    for name, view in obj.x_layout.views(gx).items():
        assert torch.allclose(view, ref_params[name].grad, atol=1e-6), name  # tied: both uses summed
    for name, view in obj.y_layout.views(gy).items():
        assert torch.allclose(view, ref_params[name].grad, atol=1e-6), name


def test_single_sample_grad_and_blocks_option():
    obj, ref = build()
    ref.eval()
    b = obj.batches[1]
    nn.functional.cross_entropy(ref(b["ids"]), b["labels"]).backward()
    gx, gy = obj.grad(obj.x, obj.y, 1)
    gx_only, none_y = obj.grad(obj.x, obj.y, torch.tensor(1), blocks="x")
    none_x, gy_only = obj.grad(obj.x, obj.y, 1, blocks="y")
    assert none_y is None and none_x is None
    assert torch.equal(gx, gx_only) and torch.equal(gy, gy_only)
    ref_params = dict(ref.named_parameters())
    for name, view in obj.y_layout.views(gy).items():
        assert torch.allclose(view, ref_params[name].grad, atol=1e-6)
    assert all(p.grad is None for p in obj.model.parameters())  # the live model is never touched


def test_double_backward_gives_hessian_vector_products():
    obj, _ = build()
    x = obj.x.detach().requires_grad_(True)
    y = obj.y.detach().requires_grad_(True)
    loss = obj.loss(x, y, 0)
    gy = torch.autograd.grad(loss, y, create_graph=True)[0]
    g = torch.Generator().manual_seed(1)
    v = torch.randn(obj.d_y, generator=g)
    hv = torch.autograd.grad(gy @ v, y)[0]
    eps = 1e-3  # central difference of the gradient, float32: error O(eps^2) + rounding/eps
    _, gp = obj.grad(obj.x, obj.y + eps * v, 0, blocks="y")
    _, gm = obj.grad(obj.x, obj.y - eps * v, 0, blocks="y")
    assert torch.allclose(hv, (gp - gm) / (2 * eps), atol=2e-3, rtol=1e-2)


def test_bad_inputs_raise_clear_errors():
    obj, _ = build()
    with pytest.raises(UsageError, match="1-D"):
        obj.loss(obj.x.expand(2, -1), obj.y)
    with pytest.raises(UsageError, match="sample index"):
        obj.loss(obj.x, obj.y, 3)
    with pytest.raises(UsageError, match="blocks"):
        obj.grad(obj.x, obj.y, 0, blocks="z")
    with pytest.raises(UsageError, match="batch"):
        obj.initial_point(batch=2)
    with pytest.raises(UsageError, match="neither"):
        ModuleObjective(TinyTied(), make_batches((2,)), ce_loss, is_x=lambda n: n.startswith("body"), is_y=is_y)
    with pytest.raises(UsageError, match="both"):
        ModuleObjective(TinyTied(), make_batches((2,)), ce_loss, is_x=lambda n: True, is_y=is_y)


def test_frozen_set_keeps_unmatched_parameters_out_of_both_blocks():
    model = TinyTied()
    obj = ModuleObjective(
        model, make_batches((2, 2)), ce_loss, is_x=lambda n: n.startswith("body"), is_y=is_y, allow_frozen=True
    )
    assert obj.frozen_names == ("emb.weight",)
    assert obj.d_x == D * D + D
    assert torch.isfinite(obj.loss(obj.x, obj.y))
