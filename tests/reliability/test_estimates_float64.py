"""Real-model objectives in double precision: dtype=float64 end to end, so a float32 constant can be checked."""

import math

import pytest
import torch

from hybridsmooth.commands.estimate_table import estimate_table
from hybridsmooth.objectives.llm import evaluate, make_llm_objective
from hybridsmooth.problems import make_problem

pytestmark = pytest.mark.llm
SMALL = dict(model="tiny-bert", adapter="lora", n_train=4, n_dev=4, n_test=0, batch_size=4, max_length=24)


@pytest.fixture(scope="module")
def double():
    return make_llm_objective(dtype="float64", **SMALL)


def test_float64_spec_builds_a_double_precision_objective():
    spec = "llm:model=tiny-bert,adapter=lora,n_train=4,n_dev=0,n_test=0,batch_size=4,max_length=24,dtype=float64"
    obj = make_problem(spec)
    assert obj.dtype == torch.float64 and obj.x.dtype == torch.float64 and obj.y.dtype == torch.float64


def test_losses_scores_and_gradients_are_float64(double):
    loss, gx, gy = double.value_and_grad(double.x, double.y, 0)
    assert loss.dtype == gx.dtype == gy.dtype == torch.float64
    assert abs(loss.item() - math.log(2)) < 0.1
    assert double.loss(double.x, double.y).dtype == torch.float64
    batch = double.batches[0]
    with torch.no_grad(), double.evaluated_at(double.x, double.y) as model:
        assert double.scores_fn(model, batch).dtype == torch.float64
    assert math.isfinite(evaluate(double, double.x, double.y, split="dev")["loss"])


def test_float64_constants_agree_with_float32(double):
    single = make_llm_objective(dtype="float32", **SMALL)
    want = estimate_table(double, blocks=["xx", "yy"])
    got = estimate_table(single, blocks=["xx", "yy"])
    for w, g in zip(want, got):
        assert abs(g["estimate"] - w["estimate"]) <= 1e-4 * w["estimate"], (w["block"], g["estimate"], w["estimate"])


def test_float64_finite_differences_agree_with_autograd(double):
    exact = estimate_table(double, blocks=["xx", "yy"])
    fd = estimate_table(double, blocks=["xx", "yy"], backend="finite_difference")
    for e, f in zip(exact, fd):
        assert abs(f["estimate"] - e["estimate"]) <= 1e-6 * e["estimate"], (e["block"], f["estimate"], e["estimate"])
