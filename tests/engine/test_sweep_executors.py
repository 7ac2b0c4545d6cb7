"""The Ray and submitit executors of ``sweep run``: the local executor's metrics exactly, recovery from a
worker killed mid-sweep and from a requeue, and the refusal of options that do not apply."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from submitit.helpers import Checkpointable, DelayedSubmission

from hybridsmooth.cli import main
from hybridsmooth.commands import sweep as sweep_command
from hybridsmooth.engine import sweep
from hybridsmooth.engine.execute import execute
from hybridsmooth.engine.rundir import CHECKPOINT_FILE, COMPLETE_FILE, load_run
from hybridsmooth.engine.sweep_executors import SubmititRun

GRID = """
root = "{root}"
problems = ["{problem}"]
methods = ["hybrid", "zo_full"]
eta_x = [1e-3, 3e-3]
eta_y = [0.1]
mu = [1e-3]
epochs = {epochs}
seeds = 3
checkpoint_every = 1
[optimizer]
order = "rr"
"""
SMALL = "quadratic:dx=4,dy=2,n=3"
# tens of milliseconds an epoch: a run of 20 epochs is still going when its first checkpoints are on disk
LONGER = "quadratic:dx=20,dy=4,n=50"
# columns that differ between two sweeps of the same grid: wall-clock times and where the folders are
UNEQUAL = ("seconds", "folder")


def write_grid(where: Path, problem: str = SMALL, epochs: int = 3, methods: str = '"hybrid", "zo_full"') -> Path:
    where.mkdir(parents=True, exist_ok=True)
    text = GRID.format(root=where / "runs", problem=problem, epochs=epochs).replace('"hybrid", "zo_full"', methods)
    path = where / "grid.toml"
    path.write_text(text)
    return path


def table(grid: Path) -> pd.DataFrame:
    """The collected table of a finished sweep, without the columns two equal sweeps may differ in."""
    collected, missing = sweep.collect(sweep.plan(sweep.read_grid(grid)))
    assert not missing
    return collected.drop(columns=[c for c in collected.columns if c in UNEQUAL or "seconds" in c])


@pytest.fixture(scope="module")
def local_table(tmp_path_factory) -> pd.DataFrame:
    grid = write_grid(tmp_path_factory.mktemp("local"))
    assert main(["sweep", "run", str(grid)]) == 0
    return table(grid)


@pytest.fixture(scope="module")
def ray_cluster():
    """One 2-CPU local cluster for the module: starting one takes seconds. ``sweep run`` uses a connection this
    process already holds (and leaves it open)."""
    ray.init(num_cpus=2, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_gives_the_local_executors_metrics(tmp_path, capsys, local_table, ray_cluster):
    grid = write_grid(tmp_path)
    assert main(["sweep", "run", str(grid), "--executor", "ray", "--cpus-per-run", "1"]) == 0
    assert "4 runs: 4 finished" in capsys.readouterr().out
    pd.testing.assert_frame_equal(table(grid), local_table)
    assert ray.is_initialized()  # the fixture's cluster is the caller's: the sweep did not shut it down


def test_submitit_local_gives_the_local_executors_metrics(tmp_path, capsys, local_table):
    grid = write_grid(tmp_path)
    assert main(["sweep", "run", str(grid), "--executor", "slurm", "--slurm-local", "--workers", "2"]) == 0
    assert "4 runs: 4 finished" in capsys.readouterr().out
    pd.testing.assert_frame_equal(table(grid), local_table)
    assert list((tmp_path / "runs" / ".submitit").glob("*_result.pkl"))  # it did go through submitit


def test_a_worker_killed_mid_sweep_is_continued_by_the_same_command(tmp_path):
    # two runs, one per worker, long enough (tens of epochs, a checkpoint each) to be killed in the middle
    grid = write_grid(tmp_path / "killed", problem=LONGER, epochs=20, methods='"hybrid"')
    command = ["sweep", "run", str(grid), "--workers", "2"]
    first = subprocess.Popen(
        [sys.executable, "-m", "hybridsmooth", *command],
        start_new_session=True,  # its own process group: whatever is left of it can be ended at once
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        _kill_a_worker_after_a_checkpoint(first, tmp_path / "killed" / "runs")
        assert first.wait(timeout=60) == 1, first.communicate()[0]  # the lost runs are reported failed
    finally:
        _end_group(first)
    states = [r.state for r in sweep.plan(sweep.read_grid(grid))]
    assert set(states) <= {"failed", "partial", "finished"} and states != ["finished"] * len(states)
    assert main(command) == 0  # the same command again (here, in this process: a second start costs seconds)
    straight = write_grid(tmp_path / "straight", problem=LONGER, epochs=20, methods='"hybrid"')
    assert main(["sweep", "run", str(straight)]) == 0
    pd.testing.assert_frame_equal(table(grid), table(straight))


def _kill_a_worker_after_a_checkpoint(parent: subprocess.Popen, root: Path, timeout: float = 60) -> None:
    """SIGKILL one pool worker of ``parent`` as soon as some run folder holds a checkpoint of an unfinished run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and parent.poll() is None:
        started = [p for p in root.glob(f"*/{CHECKPOINT_FILE}") if not (p.parent / COMPLETE_FILE).exists()]
        workers = _pool_workers(parent.pid)
        if started and workers:
            os.kill(workers[0], signal.SIGKILL)
            return
        time.sleep(0.02)
    pytest.fail(f"no checkpoint of an unfinished run within {timeout} s: {parent.communicate()[0]!r}")


def _pool_workers(pid: int) -> list[int]:
    """The spawned pool workers among ``pid``'s children (not multiprocessing's resource tracker)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in children if b"spawn_main" in _cmdline(int(c))]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _end_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_requeue_resubmits_the_same_run_and_continues_from_its_checkpoint(tmp_path):
    grid = write_grid(tmp_path, epochs=4)
    run = sweep.plan(sweep.read_grid(grid))[0]
    # a job stopped after 2 of 4 epochs: records and checkpoint of epoch 2, no completion marker
    execute(run.description.replace(optimizer__epochs=2), folder=run.folder)
    (run.folder / COMPLETE_FILE).unlink()
    before = pd.read_csv(run.folder / "metrics.csv")
    job = (run.index, run.description.to_dict(), str(run.folder))
    runner = SubmititRun(threads=1)
    assert isinstance(runner, Checkpointable)
    resubmission = runner.checkpoint(*job)
    assert isinstance(resubmission, DelayedSubmission) and isinstance(resubmission.function, SubmititRun)
    assert resubmission.args == job and resubmission.kwargs == {}
    resubmission.dump(tmp_path / "submitted.pkl")  # what submitit does with it, and reads back in the new job
    outcome = DelayedSubmission.load(tmp_path / "submitted.pkl").result()
    assert outcome.status == "finished" and sweep.folder_state(run.folder, run.description)[0] == "finished"
    after = pd.read_csv(run.folder / "metrics.csv")
    # continued, not restarted: the first epochs' rows are the stopped job's, timings included
    pd.testing.assert_frame_equal(after[after.epoch <= 2].reset_index(drop=True), before)
    execute(run.description, folder=tmp_path / "straight")
    straight = load_run(tmp_path / "straight").metrics.drop(columns="seconds")
    pd.testing.assert_frame_equal(load_run(run.folder).metrics.drop(columns="seconds"), straight)


@pytest.mark.parametrize(
    "options, message",
    [
        (["--cpus-per-run", "2"], "--cpus-per-run applies to --executor ray or slurm, not local"),
        (["--gpus-per-run", "1"], "--gpus-per-run applies to --executor ray or slurm, not local"),
        (["--slurm-local"], "--slurm-local applies to --executor slurm, not local"),
        (["--executor", "ray", "--slurm-partition", "gpu"], "--slurm-partition applies to --executor slurm, not ray"),
        (["--executor", "ray", "--slurm-time", "10"], "--slurm-time applies to --executor slurm, not ray"),
        (["--executor", "slurm", "--slurm-local", "--ray-address", "auto"], "--ray-address applies to --executor ray"),
        (["--executor", "ray", "--ray-address", "10.0.0.1:6379", "--workers", "2"], "--workers sizes a local Ray"),
        (["--executor", "ray", "--gpus-per-run", "1.5"], "a fraction of one GPU or whole GPUs"),
        (["--executor", "slurm", "--slurm-local", "--gpus-per-run", "0.5"], "whole GPUs"),
        (["--executor", "slurm", "--slurm-local", "--slurm-mem", "0"], "--slurm-mem must be"),
        (["--executor", "ray", "--cpus-per-run", "0"], "--cpus-per-run must be an integer >= 1"),
    ],
)
def test_options_that_do_not_apply_are_refused_in_one_line(tmp_path, capsys, options, message):
    assert main(["sweep", "run", str(write_grid(tmp_path)), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "runs").exists()  # refused before anything ran


def test_slurm_without_slurm_points_to_slurm_local(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sweep_command.shutil, "which", lambda name: None)
    assert main(["sweep", "run", str(write_grid(tmp_path)), "--executor", "slurm"]) == 2
    err = capsys.readouterr().err
    assert "sbatch not found" in err and "--slurm-local" in err and err.count("\n") == 1


@pytest.mark.parametrize("executor, module, extra", [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_a_missing_package_names_its_extra(tmp_path, capsys, monkeypatch, executor, module, extra):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else find_spec(name, *a))
    assert main(["sweep", "run", str(write_grid(tmp_path)), "--executor", executor]) == 2
    err = capsys.readouterr().err
    assert f"--executor {executor} needs {module}: pip install hybridsmooth[{extra}]" in err and err.count("\n") == 1
