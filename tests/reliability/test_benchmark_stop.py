"""Benchmarks in a time box: one stopped by ``timeout`` (SIGTERM) reports the repetitions it finished, and the
GPU suite refuses a machine without CUDA in one line instead of failing stage by stage."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))

from _stop import sigterm_interrupts  # noqa: E402


def test_sigterm_raises_keyboard_interrupt_inside_the_block_only():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with sigterm_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises long before this ends
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.llm
def test_hvp_matmat_stopped_by_timeout_prints_its_finished_repetitions():
    problem = "llm:model=tiny-bert,adapter=lora,n_train=4,batch_size=4,max_length=8"
    cmd = [sys.executable, str(REPO / "benchmarks" / "hvp_matmat.py"), "--problem", problem, "--reps", "100000"]
    cmd += ["--threads", "1", "--slq-steps", "0", "--heap", "default"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = 0
    for line in proc.stderr:  # two finished repetitions, then stop it as `timeout` would
        seen += "done in" in line
        if seen >= 2:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    done = int(out.split("# stopped after ")[1].split()[0])
    assert done >= 2
    assert f"[best of {done}, heap default]" in out and "rev-rev" in out


def test_stack_dumps_every_n_seconds_say_where_a_silent_run_waits():
    """BENCH_STACKS_EVERY prints the Python stack while the program sits in one long call; unset, nothing."""
    code = (
        "import sys, time; sys.path.insert(0, 'benchmarks'); from _stop import dump_stacks_from_env\n"
        "def slow_call_here():\n    time.sleep(1.5)\n"
        "print(dump_stacks_from_env()); slow_call_here()"
    )
    env = {**os.environ, "BENCH_STACKS_EVERY": "0.4"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "0.4"
    assert out.stderr.count("slow_call_here") >= 2  # one dump every 0.4 s during the 1.5 s call
    env.pop("BENCH_STACKS_EVERY")
    quiet = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env)
    assert quiet.stdout.strip() == "0.0" and "slow_call_here" not in quiet.stderr
    env["BENCH_STACKS_EVERY"] = "soon"
    bad = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env=env)
    assert bad.returncode != 0 and "BENCH_STACKS_EVERY='soon' is not a number of seconds" in bad.stderr


def test_gpu_suite_refuses_a_machine_without_cuda_in_one_line(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the suite would run")
    script = REPO / "benchmarks" / "gpu_suite.sh"
    usage = subprocess.run(["bash", str(script)], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage: benchmarks/gpu_suite.sh OUT_DIR" in usage.stdout
    env = {**os.environ, "PYTHON": sys.executable}
    out = subprocess.run(["bash", str(script), str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no CUDA GPU" in out.stderr
    assert not (tmp_path / "out").exists()  # nothing written, nothing half-measured
    bad = subprocess.run(
        ["bash", str(script), str(tmp_path / "out"), "60", "claim,bogus"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "unknown stage 'bogus'" in bad.stderr and not (tmp_path / "out").exists()
