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
