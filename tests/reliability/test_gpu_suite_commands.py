"""benchmarks/gpu_suite.sh (gpu_check.sh inside it) asks each of its programs for options they have: run with a
stand-in interpreter that parses every command with the program's own parser and runs none of them
(tests/parse_only.py), every stage ends with status 0. A stale option would otherwise show only on a GPU host,
where a box lasts minutes."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.llm

STAGES = {
    "quick",
    "gpu_check",
    "lanczos_calls",
    "hvp_cost_float32",
    "hvp_matmat_float32",
    "hvp_cost_bfloat16",
    "hvp_matmat_bfloat16",
    "claim_smollm2",
    "claim_progress",
}


def _stand_in(tmp_path: Path) -> Path:
    """An interpreter that answers ``-c`` checks (CUDA, imports) with success and parses everything else."""
    py = tmp_path / "python"
    py.write_text(
        f'#!/bin/sh\n[ "$1" = "-c" ] && exit 0\nexec "{sys.executable}" "{REPO / "tests" / "parse_only.py"}" "$@"\n'
    )
    py.chmod(0o755)
    return py


def test_every_stage_of_the_gpu_suite_parses_its_command(tmp_path):
    out = tmp_path / "out"
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(_stand_in(tmp_path)), "WORKERS": "2"}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_suite.sh", str(out), "540"], cwd=REPO, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    status = dict(re.findall(r"^== (\w+): rc=(\d+)", (out / "suite.log").read_text(), re.M))
    assert set(status) - {"SmolLM2"} == STAGES
    failed = {s: (out / f"{s}.log").read_text().strip() for s, rc in status.items() if rc != "0"}
    assert not failed


def test_the_stand_in_refuses_an_option_a_program_does_not_have(tmp_path):
    py = _stand_in(tmp_path)
    bad = subprocess.run(
        [str(py), "benchmarks/hvp_cost.py", "--blocks", "xx", "--no-such-option"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "unrecognized arguments: --no-such-option" in bad.stderr
    good = subprocess.run(
        [str(py), "-m", "hybridsmooth", "claim", "report", "--out", "X"], cwd=REPO, capture_output=True
    )
    assert good.returncode == 0
