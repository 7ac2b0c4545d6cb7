"""Executors of ``hybridsmooth sweep run`` beyond the local process pool: Ray tasks and submitit job arrays.

Both take the jobs ``engine.sweep.run_all`` builds, ``(plan index, description dict, run folder)``, and run
each with ``engine.sweep.run_one`` wherever the executor places it. A synthetic problem's seeds are one
batched run, so one job. The run folder (on storage every worker sees) holds everything the run records; only
its ``Outcome`` comes back, and ``report(outcome)`` is called as each job ends. A job whose worker died
(``kill -9``, out of memory, a lost node) is reported failed and its folder gets failed.json; the next
``sweep run`` continues it from its last checkpoint (``checkpoint_every`` in the grid).

* ``run_ray``: one Ray core task per run, each asking for ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs
  (a fraction lets several small-model runs share one GPU). It joins the cluster at ``address`` (or
  ``RAY_ADDRESS``, or the one this process is already connected to), otherwise starts a local one with
  ``workers`` runs' worth of CPUs. Ctrl-C cancels the tasks still out: a running one stops at its next
  step boundary and saves, as it does under Ctrl-C at a terminal.
* ``run_submitit``: one SLURM job-array element per run (``slurm_array_parallelism = workers``), or with
  ``local=True`` submitit's local executor (subprocesses of this machine, ``workers`` at a time), which needs
  no SLURM. The submitted callable is a ``Checkpointable``: when SLURM preempts an element or its time
  runs out, submitit resubmits the same run, which resumes from the folder's checkpoint.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .sweep import Outcome, job_lost, run_one

try:  # the slurm extra; without it the class below is still defined (and run_submitit is refused earlier)
    from submitit.helpers import Checkpointable
except ModuleNotFoundError:  # pragma: no cover - the test environment installs the extra
    Checkpointable = object

Job = tuple[int, dict, str]  # (plan index, RunDescription.to_dict(), run folder)
Report = Callable[[Outcome], None]

# a worker lost to a crash or a vanished node is tried again; run_one resumes from the folder's checkpoint
RAY_RETRIES = 2
# how often a wait for Ray tasks comes back to Python, to notice Ctrl-C
WAKE_S = 0.5
# after Ctrl-C, how long the cancelled runs get to save their last epoch before this process leaves
CANCEL_GRACE_S = 30.0
# SLURM's queue is asked about through sacct, which a busy cluster does not like polled often
POLL_S = {"slurm": 15.0, "local": 0.5}
# submitit's own defaults are a 5-minute (SLURM) or 2-minute (local) limit: far too short for a run
DEFAULT_TIME_MIN = 60


def run_job(threads: int, index: int, description: dict, folder: str) -> Outcome:
    """``run_one`` with torch limited to ``threads`` CPU threads: a worker process may be handed several runs,
    and each should use only the CPUs its task asked for."""
    import torch

    torch.set_num_threads(threads)
    return run_one(index, description, folder)


# --- Ray -----------------------------------------------------------------------------------------------------
def run_ray(
    jobs: Sequence[Job],
    *,
    report: Report,
    workers: int | None = None,
    threads: int | None = None,
    cpus_per_run: int = 1,
    gpus_per_run: float = 0.0,
    address: str | None = None,
) -> list[Outcome]:
    """Run ``jobs`` as Ray tasks and return their outcomes in the order they ended (see the module docstring).
    ``threads``: torch threads per run (default ``cpus_per_run``)."""
    import ray

    opened = _connect_ray(address, workers or 1, cpus_per_run, gpus_per_run)
    try:
        task = ray.remote(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=RAY_RETRIES)(run_job)
        refs = {task.remote(threads or cpus_per_run, *job): job for job in jobs}
        return _wait_ray(refs, report)
    finally:
        if opened:
            ray.shutdown()


def _connect_ray(address: str | None, workers: int, cpus_per_run: int, gpus_per_run: float) -> bool:
    """Connect this process to a cluster; True when this call connected it (and so should disconnect).

    A connection this process already holds is used as it is: the caller (a test, a notebook) owns it."""
    import ray

    from ..errors import UsageError

    if ray.is_initialized():
        return False
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address)
        return True
    ray.init(num_cpus=workers * cpus_per_run)
    # a local cluster never grows: a task asking for a GPU it lacks would wait forever
    have = ray.cluster_resources().get("GPU", 0)
    if gpus_per_run > have:
        ray.shutdown()
        raise UsageError(f"--gpus-per-run {gpus_per_run}: this machine's Ray cluster has {have:g} GPUs")
    return True


def _wait_ray(refs: dict, report: Report) -> list[Outcome]:
    import ray

    outcomes, pending = [], list(refs)
    try:
        while pending:
            # with a timeout: a blocking wait holds off Python's signal handlers, and so Ctrl-C, until a task ends
            done, pending = ray.wait(pending, num_returns=1, timeout=WAKE_S)
            for ref in done:
                outcomes.append(_ray_outcome(ref, refs[ref]))
                report(outcomes[-1])
    except KeyboardInterrupt:
        _cancel_ray(pending)
        raise
    return outcomes


def _ray_outcome(ref, job: Job) -> Outcome:
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayError as err:  # the worker died past its retries, or the task was cancelled
        cause = getattr(err, "cause", None)  # a RayTaskError wraps what the task raised in a long traceback
        return job_lost(job, cause if isinstance(cause, BaseException) else err)


def _cancel_ray(pending: list) -> None:
    """Cancel the tasks still out. A running task gets a KeyboardInterrupt, which a run takes as Ctrl-C (it
    stops at its next step boundary and saves); wait a little for those saves, a second Ctrl-C cuts it short."""
    import ray

    for ref in pending:
        ray.cancel(ref)
    if pending:
        ray.wait(pending, num_returns=len(pending), timeout=CANCEL_GRACE_S)


# --- submitit ------------------------------------------------------------------------------------------------
class SubmititRun(Checkpointable):
    """One run as a submitit job. Calling it runs (or resumes) the run; ``checkpoint`` is what submitit calls
    when SLURM preempts the job or its time is nearly up: it resubmits the same run, which ``run_one``
    continues from the folder's checkpoint (the run saves its last finished epoch as the job exits)."""

    def __init__(self, threads: int = 1):
        self.threads = threads

    def __call__(self, index: int, description: dict, folder: str) -> Outcome:
        return run_job(self.threads, index, description, folder)

    def checkpoint(self, index: int, description: dict, folder: str):
        from submitit.helpers import DelayedSubmission

        # a fresh callable: nothing of the interrupted process (its partial state) travels with the resubmission
        return DelayedSubmission(SubmititRun(self.threads), index, description, folder)


def run_submitit(
    jobs: Sequence[Job],
    *,
    report: Report,
    workers: int | None = None,
    threads: int | None = None,
    cpus_per_run: int = 1,
    gpus_per_run: int = 0,
    partition: str | None = None,
    time_min: int | None = None,
    mem_gb: float | None = None,
    local: bool = False,
    folder: str | os.PathLike | None = None,
) -> list[Outcome]:
    """Run ``jobs`` as a submitit job array and return their outcomes in the order they ended (see the module
    docstring). ``folder``: submitit's logs and pickles (default ``<root>/.submitit``, next to the run
    folders); ``workers``: array elements at once (default: SLURM's limit; 1 with ``local``)."""
    import submitit

    folder = Path(folder) if folder is not None else Path(jobs[0][2]).parent / ".submitit"
    executor = submitit.AutoExecutor(folder=folder, cluster="local" if local else "slurm")
    executor.update_parameters(**_submitit_parameters(workers, cpus_per_run, gpus_per_run, partition, time_min, mem_gb))
    runner = SubmititRun(threads or cpus_per_run)
    # SLURM holds the array back to `workers` elements itself; the local executor starts whatever it is given
    window = (workers or 1) if local else len(jobs)
    return _wait_submitit(executor, runner, list(jobs), window, report, POLL_S["local" if local else "slurm"])


def _submitit_parameters(workers, cpus_per_run, gpus_per_run, partition, time_min, mem_gb) -> dict:
    params = {"name": "hybridsmooth-sweep", "cpus_per_task": cpus_per_run, "timeout_min": time_min or DEFAULT_TIME_MIN}
    optional = {
        "gpus_per_node": gpus_per_run,
        "mem_gb": mem_gb,
        "slurm_partition": partition,
        "slurm_array_parallelism": workers,
    }
    return {**params, **{k: v for k, v in optional.items() if v}}


def _wait_submitit(executor, runner: SubmititRun, queue: list[Job], window: int, report: Report, poll: float):
    """Submit ``queue`` as array elements, at most ``window`` out at a time, and collect each as it ends."""
    outcomes, out = [], {}  # submitted job -> its Job
    try:
        while queue or out:
            free = window - len(out)
            if queue and free > 0:
                batch, queue = queue[:free], queue[free:]
                out.update(zip(executor.map_array(runner, *zip(*batch)), batch))
            ended = [job for job in out if job.done()]
            if not ended:
                time.sleep(poll)
            for job in ended:
                outcomes.append(_submitit_outcome(job, out.pop(job)))
                report(outcomes[-1])
    except KeyboardInterrupt:
        # a local element gets SIGINT (it saves at its next step boundary); SLURM's get scancel
        for job in out:
            job.cancel(check=False)
        raise
    return outcomes


def _submitit_outcome(job, run: Job) -> Outcome:
    try:
        return job.result()
    except Exception as err:  # the element ended without a result: killed, out of memory, over its time
        # submitit's message carries the whole log tail; the outcome says where the log is instead
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return job_lost(run, RuntimeError(f"job {job.job_id}: {first} (log: {job.paths.stderr})"))
