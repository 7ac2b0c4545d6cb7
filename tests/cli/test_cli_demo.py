import math

from hybridsmooth.cli import main
from hybridsmooth.commands.demo import epochs_to_target
from hybridsmooth.engine import load_run


def test_demo_short_run_writes_both_runs_and_two_steps_win(tmp_path, capsys):
    assert main(["demo", "--synthetic-only", "--out", str(tmp_path), "--epochs", "30", "--seeds", "4"]) == 0
    text = capsys.readouterr().out
    assert "two_steps" in text and "one_step" in text and str(tmp_path) in text
    two, one = load_run(tmp_path / "two_steps"), load_run(tmp_path / "one_step")
    assert len(two.metrics) == 4 * 31 and len(one.metrics) == 4 * 31
    # the adapter target is reached within 30 epochs by two step sizes only
    assert epochs_to_target(two.metrics, "grad_y_norm", 1e-3) < 30
    assert math.isinf(epochs_to_target(one.metrics, "grad_y_norm", 1e-3))
