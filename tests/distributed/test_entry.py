"""The runnable entry points: the data-parallel run (hybridsmooth.distributed.train) and L_x of the sharded
toy (hybridsmooth.distributed.curvature)."""

import re

import pytest
import torch

from hybridsmooth.distributed import curvature
from hybridsmooth.distributed.train import main, parse, train

from .dist_scenarios import ENTRY


def test_two_ranks_print_the_one_process_losses(ranks):
    one = train(0, 1, parse(ENTRY), out=lambda line: None)
    assert ranks[0]["entry"] == ranks[1]["entry"]
    # 18 examples in 3 minibatches of 6, split 3 + 3: only the order of the loss sums differs
    torch.testing.assert_close(torch.tensor(ranks[0]["entry"]), torch.tensor(one), rtol=1e-12, atol=0)


def test_main_without_torchrun_runs_one_process(capsys):
    assert main(["--steps", "2", "--examples", "8", "--minibatches", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("final full loss") and "difference 0.0e+00" in lines[-1]


def test_sharded_curvature_entry_checks_itself_against_one_process(ranks):
    a, b = ranks[0]["curvature_entry"], ranks[1]["curvature_entry"]
    assert {k: v for k, v in a.items() if k != "lines"} == {k: v for k, v in b.items() if k != "lines"}
    assert a["converged"] and a["restarts"] >= 1  # a basis of 5 rows restarts on its way to 1e-6
    assert len(a["lines"]) == 2 and b["lines"] == []  # rank 0 reports
    ours = float(re.search(r"rank\(s\): (\S+)", a["lines"][0]).group(1))
    exact = float(re.search(r"exact products: (\S+)", a["lines"][1]).group(1))
    # the sharded finite-difference estimate lies within its residual (and the O(h^2) gap) of the exact one
    assert abs(ours - exact) <= a["residuals"][0] + 1e-6 * abs(exact)
    assert ours == pytest.approx(a["estimates"][0], rel=1e-7)


def test_sharded_curvature_entry_refuses_bad_options(capsys):
    with pytest.raises(SystemExit):
        curvature.parse(["--tol", "0"])
    assert "--tol > 0" in capsys.readouterr().err


def test_curvature_main_without_torchrun_starts_its_own_processes(capfd):
    assert curvature.main(["--procs", "1", "--examples", "6"]) == 0
    out = capfd.readouterr().out  # printed by the started process, whose stdout is this one's file
    assert "on 1 rank(s)" in out and "converged True" in out and "one process, exact products" in out


TINY_BERT = "llm:model=tiny-bert,n_train=6,batch_size=6,max_length=16,n_dev=0,n_test=0,dtype=float64"


def test_curvature_main_on_a_sharded_transformer_checks_itself(capfd):
    args = ["--procs", "2", "--problem", TINY_BERT, "--h", "1e-5", "--tol", "1e-6", "--reference"]
    assert curvature.main(args) == 0
    out = capfd.readouterr().out
    ours = re.search(r"on 2 rank\(s\): (\S+) \(explicit residual (\S+),", out)
    exact = re.search(r"exact products: (\S+) \(residual (\S+)\)", out)
    assert ours and exact and "converged True" in out
    # within both residuals and the finite differences' O(h^2) bias (1e-8 relative at h = 1e-5)
    gap = abs(float(ours.group(1)) - float(exact.group(1)))
    assert gap <= float(ours.group(2)) + float(exact.group(2)) + 1e-7 * abs(float(exact.group(1)))


@pytest.mark.parametrize(
    "problem,message", [("quadratic:dx=3", "needs an llm: spec"), ("llm:modle=minilm", "unknown key 'modle'")]
)
def test_curvature_entry_refuses_a_problem_it_cannot_shard(capsys, problem, message):
    with pytest.raises(SystemExit):
        curvature.parse(["--problem", problem])
    assert message in capsys.readouterr().err


def test_curvature_entry_refuses_a_batch_the_problem_does_not_have_before_loading_it(capsys):
    with pytest.raises(SystemExit) as stop:  # 6 examples in minibatches of 4 make two: 0 and 1
        curvature.parse(["--problem", "llm:model=tiny-bert,n_train=6,batch_size=4", "--batch", "2"])
    assert stop.value.code == 2 and "the problem has 2 minibatches (0 to 1)" in capsys.readouterr().err
