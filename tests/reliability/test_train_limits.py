"""Sizes and integers that cannot be honoured are refused by `train` in one line, before any allocation (item 11)."""

import pytest

from hybridsmooth.cli import main

BASE = ["train", "quadratic:dx=3,dy=2,n=2", "--eta-x", "0.01", "--eta-y", "0.1", "--epochs", "2", "--quiet"]


@pytest.mark.parametrize(
    "option, needle",
    [
        (["--seeds", "1000000000000"], "needs 360 TB of memory"),
        (["--q", "1000000000000"], "q=1000000000000 directions"),
        (["--q", "0"], "--q must be an integer"),
        (["--seed", "100000000000000000000"], "--seed must be an integer in 0..9223372036854775807"),
        (["--seed", "-1"], "--seed must be an integer"),
        (["--threads", "100000000000000000000"], "--threads must be an integer in 1.."),
        (["--seed-list", "100000000000000000000"], "--seed-list takes comma-separated integers"),
        (["--seed-list", "3,3"], "names a seed twice"),
        (["--seeds", "2", "--seed-list", "1"], "not both"),
    ],
)
def test_impossible_sizes_and_seeds_are_refused_in_one_line(tmp_path, capsys, option, needle):
    assert main([*BASE, *option, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "r").exists()
