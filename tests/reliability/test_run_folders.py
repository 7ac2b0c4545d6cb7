"""A run folder describes exactly one run: refused when taken, replaced only on request, resumed only by the same
run, locked while written, completed by a marker that readers require, readable by the group (items 4-6)."""

import json
import os
import stat

import pandas as pd
import pytest

from hybridsmooth.cli import main
from hybridsmooth.engine.rundir import COMPLETE_FILE, load_run, open_run_folder, write_atomic

SPEC = "quadratic:dx=5,dy=3,n=4"
TRAIN = ["train", SPEC, "--eta-x", "0.01", "--eta-y", "0.2", "--seeds", "3", "--quiet"]


def _one_line(capsys, *needles):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_existing_run_folder_is_refused_and_left_untouched(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "3", "--out", str(out)]) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main([*TRAIN, "--epochs", "5", "--mu", "0.01", "--out", str(out)]) == 2
    _one_line(capsys, "already holds a finished run", "--resume", "--overwrite")
    assert _snapshot(out) == before


def test_overwrite_leaves_only_the_new_run(tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "3", "--checkpoint-every", "1", "--out", str(out)]) == 0
    assert (
        main(
            [
                "train",
                SPEC,
                "--eta-x",
                "0.01",
                "--eta-y",
                "0.2",
                "--epochs",
                "2",
                "--seeds",
                "2",
                "--quiet",
                "--overwrite",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    run = load_run(out)
    import torch

    assert torch.load(out / "checkpoint.pt", weights_only=False)["run_hash"] == run.config["run_hash"]
    assert run.config["run"]["seeds"] == 2 and run.config["run"]["optimizer"]["epochs"] == 2
    assert set(run.metrics.seed) == {0, 1} and set(run.metrics.epoch) == {0, 1, 2}


def test_unfinished_folder_is_refused_by_readers(tmp_path):
    """A run killed before its end leaves config.json and records but no completion marker."""
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "3", "--out", str(out)]) == 0
    (out / COMPLETE_FILE).unlink()
    with pytest.raises(FileNotFoundError, match="not a finished run.*--resume"):
        load_run(out)


def test_marker_of_another_run_is_refused(tmp_path):
    """config.json of one run beside the marker of another (the mix a killed second run used to leave)."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*TRAIN, "--epochs", "2", "--out", str(a)]) == 0
    assert main([*TRAIN, "--epochs", "2", "--mu", "0.01", "--out", str(b)]) == 0
    (a / "config.json").write_bytes((b / "config.json").read_bytes())
    with pytest.raises(FileNotFoundError, match="does not belong"):
        load_run(a)


def test_resume_of_a_different_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    before = _snapshot(out)
    capsys.readouterr()
    assert main([*TRAIN, "--epochs", "4", "--mu", "0.01", "--resume", "--out", str(out)]) == 2
    _one_line(capsys, "holds a different run", "optimizer.mu: 0.001 there, 0.01 here")
    assert _snapshot(out) == before


def test_resume_of_an_empty_folder_is_refused(tmp_path, capsys):
    assert main([*TRAIN, "--epochs", "2", "--resume", "--out", str(tmp_path / "none")]) == 2
    _one_line(capsys, "nothing to resume")


def test_resume_shorter_than_the_folder_is_refused_and_config_says_what_the_folder_holds(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "8", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main([*TRAIN, "--epochs", "3", "--resume", "--out", str(out)]) == 2
    _one_line(capsys, "--epochs 3 is below the 8 epochs")
    assert main([*TRAIN, "--epochs", "12", "--resume", "--out", str(out)]) == 0
    run = load_run(out)
    assert run.config["run"]["optimizer"]["epochs"] == 12 and run.metrics.epoch.max() == 12


def test_stale_checkpoint_of_an_earlier_run_is_refused(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*TRAIN, "--epochs", "2", "--out", str(a)]) == 0
    assert main([*TRAIN, "--epochs", "2", "--mu", "0.01", "--out", str(b)]) == 0
    (b / "checkpoint.pt").write_bytes((a / "checkpoint.pt").read_bytes())
    capsys.readouterr()
    assert main([*TRAIN, "--epochs", "4", "--mu", "0.01", "--resume", "--out", str(b)]) == 2
    _one_line(capsys, "belongs to another run")


def test_second_writer_is_refused_while_the_first_holds_the_folder(tmp_path, capsys):
    out = tmp_path / "run"
    with open_run_folder(out):
        assert main([*TRAIN, "--epochs", "2", "--overwrite", "--out", str(out)]) == 2
        _one_line(capsys, "being written by another process")
    assert main([*TRAIN, "--epochs", "2", "--overwrite", "--out", str(out)]) == 0  # released


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_run_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        assert main([*TRAIN, "--epochs", "1", "--out", str(tmp_path / "run")]) == 0
    finally:
        os.umask(old)
    for p in (tmp_path / "run").iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == mode, p.name


def test_atomic_write_syncs_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"), real_replace(a, b))[1])
    write_atomic(tmp_path / "f.json", json.dumps({"a": 1}))
    assert calls.index("fsync") < calls.index("replace")
    assert json.loads((tmp_path / "f.json").read_text()) == {"a": 1}


@pytest.mark.parametrize("out", ["afile", "afile/sub", "/proc/hybridsmooth-nope/run"])
def test_output_path_is_checked_before_any_work(tmp_path, capsys, out):
    (tmp_path / "afile").write_text("keep me")
    path = out if out.startswith("/") else str(tmp_path / out)
    # 10^6 epochs would take minutes: a refusal after the work would show up as a timeout
    assert main([*TRAIN, "--epochs", "1000000", "--out", path]) == 2
    _one_line(capsys, "--out")
    assert (tmp_path / "afile").read_text() == "keep me"


def test_resume_and_overwrite_exclude_each_other(tmp_path, capsys):
    assert main([*TRAIN, "--epochs", "1", "--resume", "--overwrite", "--out", str(tmp_path / "r")]) == 2
    _one_line(capsys, "exclude each other")


def test_metrics_of_a_finished_run_match_load_run(tmp_path):
    out = tmp_path / "run"
    assert main([*TRAIN, "--epochs", "2", "--out", str(out)]) == 0
    run = load_run(out)
    pd.testing.assert_frame_equal(run.metrics, pd.read_csv(out / "metrics.csv"))
    assert json.loads((out / COMPLETE_FILE).read_text())["run_hash"] == run.config["run_hash"]
