"""Data-parallel hybrid step on two gloo ranks: identical replicas, and the union-batch single-process run."""

import torch

from hybridsmooth.distributed.data_parallel import ReplicaObjective, dp_model_step
from hybridsmooth.distributed.toy import toy_objective
from hybridsmooth.engine.model_step import model_step

from .dist_scenarios import DP, dp_batches, dp_steps


def union_run():
    """One process, each minibatch whole (the union of the ranks' shares), the same schedule."""
    obj = toy_objective(dp_batches())
    x0 = obj.x.clone()
    losses = [model_step(obj, DP["config"], "regenerate", s).loss for s in dp_steps()]
    return obj, x0, losses


def test_replicas_stay_bitwise_identical(ranks):
    a, b = ranks[0]["dp"], ranks[1]["dp"]
    # same direction, same reduced losses and gradient -> the same in-place operations on the same bits
    assert torch.equal(a["x"], b["x"]) and torch.equal(a["y"], b["y"])
    assert a["losses"] == b["losses"]


def test_replicas_equal_one_process_on_the_union_batch(ranks):
    obj, x0, losses = union_run()
    dp = ranks[0]["dp"]
    assert not torch.allclose(dp["x"], x0, rtol=0, atol=1e-6)  # the steps did move x
    # float64: the reduced loss sums the same terms in another order (relative error ~1e-16); phi divides a
    # loss difference by 2 mu = 2e-3, so x and y can differ by ~eta * 1e-13 per step; 1e-11 leaves margin
    torch.testing.assert_close(dp["x"], obj.x, rtol=0, atol=1e-11)
    torch.testing.assert_close(dp["y"], obj.y, rtol=0, atol=1e-11)
    torch.testing.assert_close(torch.tensor(dp["losses"]), torch.tensor(losses), rtol=1e-13, atol=0)


def test_world_of_one_is_the_plain_model_step():
    # without a process group the replica objective is the local one: bitwise the single-process step
    a, b = toy_objective(dp_batches()), toy_objective(dp_batches())
    for s_a, s_b in zip(dp_steps(), dp_steps()):
        out_a = dp_model_step(a, DP["config"], "regenerate", s_a)
        assert out_a.loss == model_step(b, DP["config"], "regenerate", s_b).loss
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)


def test_replica_gradient_keeps_the_block_shapes():
    obj = toy_objective(dp_batches())
    value, gx, gy = ReplicaObjective(obj).value_and_grad(obj.x, obj.y, 0, blocks="y")
    assert value.shape == () and gx is None and gy.shape == obj.y.shape


def test_a_precision_mode_the_step_does_not_carry_is_refused():
    import pytest

    from hybridsmooth.errors import UsageError
    from hybridsmooth.optim import HybridSGDConfig
    from hybridsmooth.optim.schedule import step_schedule

    obj = toy_objective(dp_batches())
    config = HybridSGDConfig(eta_x=1e-3, eta_y=1e-2, zo_precision="master")
    step = next(step_schedule(config.order, n=obj.n, run_seed=0, stop=1))
    with pytest.raises(UsageError, match="zo_precision 'master'"):
        dp_model_step(obj, config, "regenerate", step)
