"""`hybridsmooth estimate` shows a progress bar on stderr for long work, and nothing with --quiet."""

from hybridsmooth.cli import main

SPEC = "quadratic:dx=30,dy=6,Lx=8,Ly=2,coupling=0.6,n=4,seed=5"


def test_progress_bar_counts_the_solves_on_stderr(capsys):
    assert main(["estimate", SPEC, "--points", "2"]) == 0
    captured = capsys.readouterr()
    # 2 points x 3 blocks, and the products of the running solve in the postfix
    assert "estimate" in captured.err and "6/6" in captured.err and "products" in captured.err
    assert "L_x" in captured.out and "estimate:" not in captured.out
    # capsys replaces stdout by a non-terminal, as a pipe would: JSON for a program, no bar
    assert main(["estimate", SPEC, "--json"]) == 0
    assert capsys.readouterr().err == ""


def test_quiet_prints_nothing_on_stderr(capsys):
    assert main(["estimate", SPEC, "--points", "2", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "L_x" in captured.out
