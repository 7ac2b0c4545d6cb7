"""The API reference builds offline from the docstrings, and the walkthrough example runs end to end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_api_reference_builds_without_errors(tmp_path):
    pytest.importorskip("sphinx", reason="the docs build needs the test extra: pip install -e '.[test]'")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-q", "-b", "html", str(ROOT / "docs"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    problems = [line for line in proc.stderr.splitlines() if "WARNING" in line or "ERROR" in line]
    assert not problems, "\n".join(problems[:20])
    api = (tmp_path / "api.html").read_text()
    for name in ("block_constants", "train", "check", "Objective", "run_hybrid_sgd", "CheckResult"):
        assert name in api, name


def test_walkthrough_runs_and_writes_its_tables(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "walkthrough.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    constants = pd.read_csv(tmp_path / "constants.csv")
    # the problem's exact L_x = 10 and L_y = 1 (block norms of its Hessian), found by Lanczos
    exact = dict(zip(constants.block, constants.exact))
    est = dict(zip(constants.block, constants.estimate))
    assert est["xx"] == pytest.approx(exact["xx"], rel=1e-6) and est["yy"] == pytest.approx(exact["yy"], rel=1e-6)
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics.seed.nunique() == 8 and metrics.epoch.max() == 60
    checks = pd.read_csv(tmp_path / "checks.csv")
    assert not ((checks.expected == "pass") & (checks.verdict == "fail")).any()
    assert (tmp_path / "walkthrough.png").stat().st_size > 10_000
    assert "every row expected to pass passed" in proc.stdout
