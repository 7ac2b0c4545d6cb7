"""Synthetic runs keep what they recorded on Ctrl-C and kill, and resume to the numbers of an uninterrupted run;
options that do not apply to a problem are refused, not ignored (item 7)."""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from hybridsmooth.cli import main
from hybridsmooth.engine.rundir import load_run
from hybridsmooth.objectives import llm

SPEC = "quadratic:dx=6,dy=3,n=4,coupling=0.3"
ARGS = [SPEC, "--eta-x", "0.01", "--eta-y", "0.2", "--seeds", "4", "--quiet"]
NUMBERS = ["seed", "epoch", "loss", "grad_x_norm", "grad_y_norm", "grad_norm"]


def _numbers(folder) -> pd.DataFrame:
    return pd.read_csv(folder / "metrics.csv")[NUMBERS]


def _reference(tmp_path, epochs: int) -> pd.DataFrame:
    out = tmp_path / f"ref{epochs}"
    assert main(["train", *ARGS, "--epochs", str(epochs), "--out", str(out)]) == 0
    return _numbers(out)


def test_checkpointed_run_resumes_to_the_uninterrupted_numbers(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *ARGS, "--epochs", "4", "--checkpoint-every", "2", "--out", str(out)]) == 0
    assert main(["train", *ARGS, "--epochs", "10", "--checkpoint-every", "2", "--resume", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(_numbers(out), _reference(tmp_path, 10))
    assert load_run(out).config["run"]["optimizer"]["epochs"] == 10


def _start(out, *extra):
    cmd = [sys.executable, "-m", "hybridsmooth", "train", *ARGS, "--epochs", "100000000", "--out", str(out), *extra]
    return subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}
    )


def _wait_for(path, proc, seconds=60.0):
    end = time.time() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < end, f"{path} did not appear"
        time.sleep(0.05)


def test_ctrl_c_keeps_the_records_and_resume_continues_them(tmp_path):
    out = tmp_path / "run"
    proc = _start(out)
    _wait_for(out / "config.json", proc)
    time.sleep(1.0)  # some epochs, no checkpoint asked for
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert len(stderr.strip().splitlines()) == 1 and "--resume" in stderr and "Traceback" not in stderr
    kept = _numbers(out)
    last = int(kept.epoch.max())
    assert last >= 1 and not (out / "complete.json").exists()
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        load_run(out)
    assert main(["train", *ARGS, "--epochs", str(last + 3), "--resume", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(_numbers(out), _reference(tmp_path, last + 3))


def test_kill_9_loses_only_what_came_after_the_last_checkpoint(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--checkpoint-every", "50")
    _wait_for(out / "checkpoint.pt", proc)
    proc.kill()
    proc.wait(timeout=60)
    assert main(["train", *ARGS, "--epochs", "120", "--checkpoint-every", "50", "--resume", "--out", str(out)]) == 0
    pd.testing.assert_frame_equal(_numbers(out), _reference(tmp_path, 120))


@pytest.mark.parametrize(
    "option", [["--steps", "10"], ["--eval-every", "2"], ["--eval-limit", "5"], ["--noise-mode", "buffer"]]
)
def test_model_only_options_are_refused_for_synthetic_problems(tmp_path, capsys, option):
    assert main(["train", *ARGS, *option, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert option[0] in err and "does not apply" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option", [["--seeds", "3"], ["--seed-list", "1"]])
def test_batch_options_are_refused_for_models_before_loading_them(tmp_path, monkeypatch, capsys, option):
    def never_loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the option was refused")

    monkeypatch.setattr(llm, "load_model", never_loaded)
    spec = "llm:model=tiny-bert,n_train=4"
    assert main(["train", spec, "--eta-x", "1e-3", "--eta-y", "1e-2", *option, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert option[0] in err and "does not apply" in err and len(err.splitlines()) == 1


def test_divergence_factor_is_honoured_for_synthetic_runs(tmp_path, capsys):
    out = tmp_path / "r"
    # eta_x above the ZO limit: the loss grows; a factor of 2 stops it early, the default (1e6) much later
    argv = ["train", SPEC, "--eta-x", "0.5", "--eta-y", "0.2", "--seeds", "2", "--epochs", "200", "--quiet"]
    assert main([*argv, "--divergence-factor", "2", "--out", str(out)]) == 1
    early = json.loads((out / "summary.json").read_text())["diverged_epochs"]
    assert main([*argv, "--out", str(tmp_path / "d")]) == 1
    late = json.loads((tmp_path / "d" / "summary.json").read_text())["diverged_epochs"]
    assert max(early) < max(late)
