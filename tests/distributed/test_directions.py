"""Direction parallelism: an in-place restore lets replicas drift, the exact restore keeps them identical."""

import torch

from hybridsmooth.distributed.directions import direction, measure_exact
from hybridsmooth.zo.inplace_reference import regenerate_directions

from .dist_scenarios import DIRS, dirs_problem, run_directions


def test_inplace_restore_makes_replicas_drift(ranks):
    # float32: x + mu u_r - 2 mu u_r + mu u_r rounds differently for each rank's own u_r (regression test:
    # if this ever passes bitwise, the drift the exact restore guards against is not being exercised)
    a, b = ranks[0]["directions"]["inplace"], ranks[1]["directions"]["inplace"]
    assert not torch.equal(a, b)
    assert (a - b).abs().max() < 1e-4  # drift in the last bits, not a different algorithm


def test_exact_restore_keeps_replicas_identical_and_equal_to_one_process(ranks):
    a, b = ranks[0]["directions"]["exact"], ranks[1]["directions"]["exact"]
    assert torch.equal(a, b)
    # one process measures all q directions itself on the same bits: the same phis, the same updates
    assert torch.equal(a, run_directions()["exact"])
    assert not torch.equal(a, dirs_problem()[0])


def test_measure_exact_leaves_x_bitwise():
    x, loss = dirs_problem()
    x0 = x.clone()
    u = list(direction([x], (1, 0, 0), 0, "central"))
    lp, lm = measure_exact([x], loss, u, mu=DIRS["mu"], form="central", f0=None)
    assert torch.equal(x, x0) and lp != lm


def test_direction_zero_is_the_single_direction_step():
    x, _ = dirs_problem()
    first = regenerate_directions([x], run_seed=3, epoch=1, step=4)[0][0]
    assert torch.equal(next(direction([x], (3, 1, 4), 0, "central")), first)
