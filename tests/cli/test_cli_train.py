import json
import subprocess
import sys

import pandas as pd
import pytest

from hybridsmooth.cli import main

SPEC = "quadratic:dx=5,dy=3,n=4"
BASE = [SPEC, "--method", "hybrid", "--eta-x", "0.01", "--eta-y", "0.2", "--epochs", "5", "--seeds", "3", "--quiet"]


def test_train_writes_run_dir_and_table(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *BASE, "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["problem"] == SPEC and cfg["run"]["optimizer"]["method"] == "hybrid" and cfg["run"]["seeds"] == 3
    m = pd.read_csv(out / "metrics.csv")
    assert len(m) == 3 * 6 and set(m.epoch) == set(range(6))
    text = capsys.readouterr().out
    assert "grad_norm" in text and "no divergence in 3 seeds" in text and str(out) in text


def test_train_json_is_parseable(tmp_path, capsys):
    assert main(["train", *BASE, "--out", str(tmp_path / "j"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["seeds"] == 3 and summary["diverged_seeds"] == 0
    assert summary["final_loss_mean"] > 0


def test_diverged_run_writes_files_and_exits_1(tmp_path, capsys):
    out = tmp_path / "div"
    argv = [SPEC, "--eta-x", "2", "--eta-y", "0.2", "--epochs", "50", "--seeds", "2", "--quiet", "--out", str(out)]
    assert main(["train", *argv]) == 1
    assert (out / "metrics.csv").is_file() and (out / "summary.json").is_file()
    assert "exceeds the ZO mean-square limit" in capsys.readouterr().out


def _one_line_error(capsys, msg):
    err = capsys.readouterr().err.strip()
    assert msg in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_bad_method_exits_2_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # argparse rejects the choice before run()
        main(["train", SPEC, "--method", "bogus", "--out", str(tmp_path / "b")])
    assert exc.value.code == 2
    _one_line_error(capsys, "invalid choice: 'bogus'")


@pytest.mark.parametrize(
    "spec, eta_x, msg",
    [
        (SPEC, "-0.1", "eta_x must be positive"),
        ("quadratic:dx=5,bogus=1", "0.01", "unknown key 'bogus'"),
        ("nosuchproblem", "0.01", "unknown problem 'nosuchproblem'"),
    ],
)
def test_bad_values_exit_2_one_line(tmp_path, capsys, spec, eta_x, msg):
    argv = [
        spec,
        "--eta-x",
        eta_x,
        "--eta-y",
        "0.2",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "bad"),
    ]
    assert main(["train", *argv]) == 2
    _one_line_error(capsys, msg)
    assert not (tmp_path / "bad").exists()


def test_missing_step_size_is_usage_error(tmp_path, capsys):
    assert main(["train", SPEC, "--eta-x", "0.01", "--quiet", "--out", str(tmp_path / "m")]) == 2
    assert "give --eta-y" in capsys.readouterr().err


def test_subprocess_exit_status_and_stderr(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hybridsmooth",
            "train",
            "quadratic:nope=1",
            "--eta-x",
            "0.1",
            "--eta-y",
            "0.1",
            "--out",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("hybridsmooth train: error: quadratic: unknown key 'nope'")
    assert len(proc.stderr.strip().splitlines()) == 1 and proc.stdout == ""


def test_step_for_frozen_block_is_usage_error(tmp_path, capsys):
    argv = [
        "train",
        SPEC,
        "--method",
        "fo_peft",
        "--eta-x",
        "0.1",
        "--eta-y",
        "0.1",
        "--quiet",
        "--out",
        str(tmp_path / "f"),
    ]
    assert main(argv) == 2
    _one_line_error(capsys, "--method fo_peft keeps x frozen: drop --eta-x")
    argv = [
        "train",
        SPEC,
        "--method",
        "fo_peft",
        "--eta-y",
        "0.1",
        "--epochs",
        "2",
        "--seeds",
        "2",
        "--quiet",
        "--out",
        str(tmp_path / "ok"),
        "--json",
    ]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "fo_peft"
