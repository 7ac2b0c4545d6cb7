"""A benchmark stopped by ``timeout`` (SIGTERM) reports the repetitions it finished instead of nothing."""

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
