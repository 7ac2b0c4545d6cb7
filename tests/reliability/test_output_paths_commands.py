"""Output paths of ``check --report``, ``figures --out`` and ``demo --out`` are checked before any work: a path
that cannot be written is refused with exit status 2 and one line naming the option, and nothing is written.

Tests run as root, where permissions do not stop a write; the unwritable paths are under /proc (no folder
can be made there) and through an existing regular file."""

import pytest

from .cli_status import exit_status

PROC = "/proc/hybridsmooth-nope/x"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder holding one regular file; default output folders would land here."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder\n")
    return tmp_path


def _bad_paths(workdir):
    return [PROC, str(workdir / "afile" / "sub")]


def _refused(argv, option, workdir, capsys):
    assert exit_status(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
    assert f"error: {option} " in captured.err
    assert captured.out == ""  # no step started
    assert sorted(p.name for p in workdir.iterdir()) == ["afile"]
    assert (workdir / "afile").read_text() == "not a folder\n"


def test_check_report(workdir, capsys):
    for path in _bad_paths(workdir):
        _refused(["check", "--report", path], "--report", workdir, capsys)
    # a folder where the report file should go
    (workdir / "folder").mkdir()
    assert exit_status(["check", "--report", str(workdir / "folder")]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err


def test_figures_out(workdir, capsys):
    for path in _bad_paths(workdir):
        _refused(["figures", "--out", path], "--out", workdir, capsys)


def test_figures_runs_dir_when_a_run_is_due(workdir, capsys):
    assert exit_status(["figures", "--out", str(workdir / "figs"), "--runs-dir", PROC, "--rerun"]) == 2
    captured = capsys.readouterr()
    assert "error: --runs-dir " in captured.err and captured.out == ""
    assert list((workdir / "figs").iterdir()) == []


@pytest.mark.parametrize("extra", [[], ["--synthetic-only"]])
def test_demo_out(workdir, capsys, extra):
    for path in _bad_paths(workdir):
        _refused(["demo", "--out", path, *extra], "--out", workdir, capsys)
