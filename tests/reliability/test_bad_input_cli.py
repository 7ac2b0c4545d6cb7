"""The command line: one line and exit status 2 where a traceback used to be (huge sizes, zero seeds, negative
numbers in scientific notation), a quiet exit on a closed pipe, ``--version``, and the progress bar of
``check`` with its off switches."""

import os
import subprocess
import sys

import pytest

from hybridsmooth import __version__
from hybridsmooth.cli import build_parser

from .cli_status import exit_status

TINY = "quadratic:dx=3,dy=2,n=2"


def _one_error_line(capsys, *parts):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in err, err
    return err


def test_version(capsys):
    assert exit_status(["--version"]) == 0
    assert capsys.readouterr().out == f"hybridsmooth {__version__}\n"


@pytest.mark.parametrize("value", ["-1e-4", "-1E+2", "-.5e-3", "-2.5", "-3"])
def test_negative_numbers_in_scientific_notation_are_values(value):
    args = build_parser().parse_args(["train", TINY, "--eta-x", value])
    assert args.eta_x == float(value)


def test_a_negative_step_size_gets_the_step_size_error(tmp_path, capsys):
    out = tmp_path / "run"
    assert (
        exit_status(
            [
                "train",
                TINY,
                "--eta-x",
                "-1e-4",
                "--eta-y",
                "0.1",
                "--epochs",
                "1",
                "--seeds",
                "1",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 2
    )
    err = _one_error_line(capsys, "eta_x must be positive")
    assert "expected one argument" not in err
    assert not out.exists()


def test_options_are_still_options(capsys):
    args = build_parser().parse_args(["train", TINY, "--eta-x", "-1e-4", "--quiet"])
    assert args.eta_x == -1e-4 and args.quiet
    assert exit_status(["train", TINY, "--eta-x", "-e4"]) == 2  # not a number: read as an option
    _one_error_line(capsys, "expected one argument")


def test_huge_sizes_are_refused_with_the_memory_they_need(capsys):
    assert exit_status(["estimate", "quadratic:dx=1000000000000"]) == 2
    _one_error_line(capsys, "hybridsmooth estimate: error: quadratic: dx=1000000000000", "needs", "of memory")


def test_demo_refuses_zero_seeds_before_running(tmp_path, capsys):
    assert exit_status(["demo", "--synthetic-only", "--seeds", "0", "--out", str(tmp_path / "d")]) == 2
    _one_error_line(capsys, "--seeds must be an integer >= 1, got 0")
    assert not (tmp_path / "d").exists()
    assert exit_status(["demo", "--synthetic-only", "--epochs", "0", "--out", str(tmp_path / "d")]) == 2
    _one_error_line(capsys, "--epochs must be an integer >= 1, got 0")


def test_demo_refuses_seeds_and_epochs_that_cannot_fit_in_memory(tmp_path, capsys):
    assert (
        exit_status(
            ["demo", "--synthetic-only", "--seeds", str(10**9), "--epochs", str(10**9), "--out", str(tmp_path / "d")]
        )
        == 2
    )
    _one_error_line(capsys, "--seeds 1000000000 --epochs 1000000000 needs", "of memory")


@pytest.mark.parametrize(
    "argv, part",
    [
        (["check", "--seeds", str(10**20)], "--seeds must be an integer in 2..10000"),
        (["check", "--only", "8", "--seeds", "1"], "--seeds must be an integer in 2..10000"),
        (["check", "--threads", str(10**20)], "--threads must be an integer in 1.."),
        (["check", "--threads", "0"], "--threads must be an integer in 1.."),
        (["demo", "--synthetic-only", "--threads", str(10**20)], "--threads must be an integer in 1.."),
    ],
)
def test_check_and_demo_refuse_huge_counts(argv, part, capsys):
    assert exit_status(argv) == 2
    _one_error_line(capsys, part)


def test_a_closed_pipe_ends_quietly():
    # the reader is gone before the command writes (what `hybridsmooth problems | head -1` does once the
    # output outgrows the pipe's buffer)
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "hybridsmooth", "problems"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == ""


def test_check_shows_progress_on_stderr_unless_quiet(capsys):
    assert exit_status(["check", "--only", "9,15"]) == 0
    captured = capsys.readouterr()
    assert "check" in captured.err and "9: jacobi" in captured.out
    assert exit_status(["check", "--only", "9,15", "--quiet"]) == 0
    assert capsys.readouterr().err == ""


def test_check_json_to_a_pipe_has_no_progress(capsys):
    assert not sys.stdout.isatty()  # captured: as good as a pipe
    assert exit_status(["check", "--only", "9,15", "--json"]) == 0
    assert capsys.readouterr().err == ""
