"""The runnable data-parallel entry point (hybridsmooth.distributed.train)."""

import torch

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
