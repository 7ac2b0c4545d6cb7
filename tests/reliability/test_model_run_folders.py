"""Model runs follow the same folder rules: one writer, no stale checkpoint, Ctrl-C keeps a resumable state, a
diverged run has no final dev loss, and model options are honoured (items 4, 7, 11)."""

import json
import os
import signal

import pandas as pd
import pytest
import torch
from tiny_model_runs import hybrid, run_of, tiny

from hybridsmooth.cli import main
from hybridsmooth.engine.interrupt import RunInterrupted
from hybridsmooth.engine.model_run import train_model
from hybridsmooth.engine.rundir import load_run, open_run_folder
from hybridsmooth.errors import UsageError
from hybridsmooth.objectives.llm import evaluate

pytestmark = pytest.mark.llm
SPEC = "llm:model=tiny-llama,n_train=12,n_dev=4,n_test=4,batch_size=4,max_length=20"


def test_two_model_runs_cannot_write_one_folder(tmp_path):
    out = tmp_path / "run"
    with open_run_folder(out):
        with pytest.raises(UsageError, match="being written by another process"):
            train_model(tiny(), run_of(hybrid(), steps=1), out_dir=out)


def test_existing_model_run_is_not_overwritten_silently(tmp_path):
    out = tmp_path / "run"
    train_model(tiny(), run_of(hybrid(), steps=2), out_dir=out)
    with pytest.raises(UsageError, match="already holds a finished run"):
        train_model(tiny(), run_of(hybrid(eta_y=0.5), steps=2), out_dir=out)
    assert load_run(out).config["run"]["optimizer"]["eta_y"] == 0.01


def test_ctrl_c_stops_between_steps_and_resume_gives_the_uninterrupted_run(tmp_path):
    full = tiny()
    ref = train_model(full, run_of(hybrid(), steps=6, eval_every=2), out_dir=tmp_path / "ref")
    calls = []

    def evaluate_then_interrupt(obj):
        calls.append(1)
        if len(calls) == 2:  # the evaluation after step 2: Ctrl-C arrives while the run is busy
            os.kill(os.getpid(), signal.SIGINT)
        return {
            "loss": float(evaluate(obj, obj.x, obj.y, split="dev")["loss"]),
            "accuracy": float(evaluate(obj, obj.x, obj.y, split="dev")["accuracy"]),
        }

    out = tmp_path / "run"
    with pytest.raises(RunInterrupted, match="--resume"):
        train_model(tiny(), run_of(hybrid(), steps=6, eval_every=2), out_dir=out, evaluate=evaluate_then_interrupt)
    kept = pd.read_csv(out / "metrics.csv")
    assert list(kept.step) == [0, 1] and (out / "checkpoint.pt").is_file()
    with pytest.raises(FileNotFoundError, match="not a finished run"):
        load_run(out)
    resumed = tiny()
    res = train_model(resumed, run_of(hybrid(), steps=6, eval_every=2), out_dir=out, resume=True)
    cols = ["step", "sample", "loss", "zo_phi", "grad_y_norm"]
    assert (res.steps[cols].to_numpy() == ref.steps[cols].to_numpy()).all()
    assert torch.equal(resumed.x, full.x) and torch.equal(resumed.y, full.y)


def test_resume_with_fewer_steps_than_held_is_refused(tmp_path):
    out = tmp_path / "run"
    train_model(tiny(), run_of(hybrid(), steps=4, checkpoint_every=2), out_dir=out)
    with pytest.raises(UsageError, match="--steps 2 is below the 4 steps"):
        train_model(tiny(), run_of(hybrid(), steps=2, checkpoint_every=2), out_dir=out, resume=True)
    res = train_model(tiny(), run_of(hybrid(), steps=6, checkpoint_every=2), out_dir=out, resume=True)
    assert res.completed_steps == 6 and load_run(out).config["run"]["steps"] == 6


def test_diverged_model_run_reports_no_final_dev_loss(tmp_path, capsys):
    out = tmp_path / "run"
    # a ZO step of 1e3 on every base weight: the loss leaves 1000 x its first value at step 1
    argv = [
        "train",
        SPEC,
        "--method",
        "zo_full",
        "--eta-x",
        "1e3",
        "--steps",
        "6",
        "--quiet",
        "--json",
        "--out",
        str(out),
    ]
    assert main(argv) == 1
    printed = json.loads(capsys.readouterr().out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["diverged"] and printed["diverged"]
    assert summary["final_dev_loss"] is None and printed["dev_loss"] is None
    assert summary["last_eval_step"] == 0


def test_model_divergence_factor_is_honoured(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        SPEC,
        "--method",
        "fo_peft",
        "--eta-y",
        "1e-2",
        "--steps",
        "3",
        "--quiet",
        "--json",
        "--divergence-factor",
        "1.0000001",
        "--out",
        str(out),
    ]
    # any step whose loss exceeds the first one by a relative 1e-7 counts as diverged with this factor
    main(argv)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["optimizer"]["divergence_factor"] == 1.0000001


def test_smoothing_radius_that_overflows_the_weights_dtype_is_refused(tmp_path, capsys):
    argv = [
        "train",
        SPEC,
        "--eta-x",
        "1e-3",
        "--eta-y",
        "1e-2",
        "--mu",
        "1e300",
        "--steps",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "--mu" in err and "float32" in err and len(err.splitlines()) == 1
