"""Sweeps: a grid file expanded into run descriptions, one run folder each, run until all are finished.

A grid file (TOML, or YAML with the same keys) names the problems, methods and optimizer settings; a key
whose value is a list is an axis of the grid (the sweep is the cartesian product of its axes), a scalar is
fixed. Instead of axes a grid may list its runs (``[[runs]]`` tables, a YAML list), each entry one run with
the keys of a grid point, for sets of runs that are no product (``hybridsmooth figures --write-grid``).
Each description lives in ``<root>/<content_hash>``, so the folders alone say what is done: re-running a
sweep skips finished runs, continues partial ones from their checkpoints and starts the rest. Nothing is
kept in memory between commands; ``collect`` reads its table from the folders.
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import pandas as pd

from ..errors import UsageError
from .run_description import RunDescription
from .rundir import CHECKPOINT_FILE, COMPLETE_FILE, CONFIG_FILE, SUMMARY_FILE, load_run, open_run_folder, write_atomic
from .sweep_grid import Grid, expand, read_grid, write_grid  # noqa: F401  (the sweep's grid, one import away)

FAILED_FILE = "failed.json"
STATES = ("new", "finished", "partial", "failed", "conflict")


@dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep: its place in the plan's order, what it is, where it lives and how far it got."""

    index: int
    description: RunDescription
    folder: Path
    state: str
    note: str = ""


# --- folder states ---------------------------------------------------------------------------------------------
def plan(grid: Grid) -> list[PlannedRun]:
    """Every run of the grid with its folder and state, in the grid's order."""
    folders = [grid.root / d.content_hash() for d in grid.descriptions]
    return [PlannedRun(i, d, f, *folder_state(f, d)) for i, (d, f) in enumerate(zip(grid.descriptions, folders))]


def folder_state(folder: Path, description: RunDescription) -> tuple[str, str]:
    """(state, note): ``finished`` when complete.json and config.json name this run at this length;
    ``partial`` when a run was started (or finished shorter) and can be continued; ``failed`` when it raised;
    ``conflict`` when the folder holds something a resume cannot reach (a longer run, another run)."""
    config = _read(folder / CONFIG_FILE)
    complete = _read(folder / COMPLETE_FILE)
    failed = _read(folder / FAILED_FILE)
    if config is not None:
        stored = config.get("run") or {}
        if config.get("run_hash") != description.content_hash():
            return "conflict", f"{folder / CONFIG_FILE} holds another run"
        have, want = _length(stored), _length(description.to_dict())
        if have > want:
            return "conflict", f"holds {have} epochs/steps, the grid asks for {want}"
        if complete is not None and complete.get("run_hash") == config["run_hash"] and have == want:
            return "finished", ""
    if failed is not None:
        return "failed", f"{failed.get('type', 'Error')}: {failed.get('error', '')}"
    if config is not None or (folder / CHECKPOINT_FILE).exists():
        return "partial", ""
    return "new", ""


def _length(run: dict) -> int:
    return run.get("steps") or (run.get("optimizer") or {}).get("epochs", 0)


def stored_length(folder: Path, description: RunDescription) -> int | None:
    """The epochs or steps of the run ``folder`` holds under ``description``'s identity (finished or not);
    None when it holds none, or another run."""
    config = _read(folder / CONFIG_FILE)
    if config is None or config.get("run_hash") != description.content_hash():
        return None
    return _length(config.get("run") or {})


def _read(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def counts(runs: list[PlannedRun]) -> dict[str, int]:
    return {"runs": len(runs), **{s: sum(r.state == s for r in runs) for s in STATES}}


def shard(runs: list[PlannedRun], text: str | None) -> list[PlannedRun]:
    """The runs of shard ``i/N``: those whose plan index % N == i (all runs for None)."""
    if text is None:
        return runs
    i, sep, n = text.partition("/")
    if not (sep and i.isdigit() and n.isdigit() and int(n) >= 1 and int(i) < int(n)):
        raise UsageError(f"--shard takes i/N with 0 <= i < N, e.g. 0/4; got {text!r}")
    return [r for r in runs if r.index % int(n) == int(i)]


# --- running -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outcome:
    index: int
    folder: str
    status: str  # finished | diverged | failed | interrupted | skipped
    message: str = ""


def run_all(
    runs: list[PlannedRun],
    *,
    workers: int | None = 1,
    threads: int | None = None,
    report: Callable | None = None,
    executor: str = "local",
    options: dict | None = None,
) -> list[Outcome]:
    """Run every run that is not finished, calling ``report(outcome)`` as each ends. A run that raises writes
    failed.json and the others go on.

    ``executor``: ``local`` runs ``workers`` processes (1 runs here, in this process); ``ray`` and ``slurm``
    hand the runs to ``engine.sweep_executors.run_ray`` / ``run_submitit`` with ``options`` (their keyword
    arguments), ``workers`` meaning runs at once there (None: the executor's default)."""
    todo = [r for r in runs if r.state not in ("finished", "conflict")]
    outcomes = [_skipped(r) for r in runs if r not in todo]
    report = report or (lambda outcome: None)
    for outcome in outcomes:
        report(outcome)
    jobs = [(r.index, r.description.to_dict(), str(r.folder)) for r in todo]
    if executor != "local":
        # nothing to run: no cluster to start or job array to submit
        return outcomes + (_run_elsewhere(executor, jobs, workers, threads, report, options or {}) if jobs else [])
    workers = workers or 1
    if workers <= 1 or len(jobs) <= 1:
        with _threads(threads or 1):
            for job in jobs:
                outcomes.append(run_one(*job))
                report(outcomes[-1])
                if outcomes[-1].status == "interrupted":
                    break
        return outcomes
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(threads or 1,)
    )
    with pool:
        futures = {pool.submit(run_one, *job): job for job in jobs}
        try:
            for future in as_completed(futures):
                outcome = _result(future, futures[future])
                outcomes.append(outcome)
                report(outcome)
        except KeyboardInterrupt:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return outcomes


def _run_elsewhere(executor: str, jobs: list, workers, threads, report: Callable, options: dict) -> list[Outcome]:
    from . import sweep_executors  # imports ray or submitit only when asked for

    run = {"ray": sweep_executors.run_ray, "slurm": sweep_executors.run_submitit}[executor]
    return run(jobs, workers=workers, threads=threads, report=report, **options)


def _result(future, job) -> Outcome:
    try:
        return future.result()
    except BaseException as err:  # the worker process itself died (killed, out of memory)
        return job_lost(job, err)


def job_lost(job: tuple, err: BaseException) -> Outcome:
    """The outcome of a job ``(index, description, folder)`` whose worker died without returning one: its
    folder gets failed.json, so that ``status`` names it; the next ``sweep run`` continues it."""
    index, _, folder = job
    _write_failed(Path(folder), err)
    return Outcome(index, folder, "failed", _one_line(err))


def _skipped(run: PlannedRun) -> Outcome:
    if run.state == "conflict":
        return Outcome(run.index, str(run.folder), "failed", run.note)
    summary = _read(run.folder / SUMMARY_FILE) or {}
    diverged = bool(summary.get("diverged_seeds") or summary.get("diverged"))
    if diverged:  # said again on every resume: which step size failed, not only that one did
        return Outcome(run.index, str(run.folder), "diverged", str(summary.get("diagnosis", "")))
    return Outcome(run.index, str(run.folder), "skipped")


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


@contextmanager
def _threads(count: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_one(index: int, description: dict, folder: str) -> Outcome:
    """Run (or continue) one planned run in ``folder``; never raises for a failure of the run itself."""
    from .execute import execute
    from .interrupt import RunInterrupted

    path = Path(folder)
    try:
        desc = RunDescription.from_dict(description)
        # a checkpoint is all a resume needs; without one nothing is lost by starting again
        resume = (path / CHECKPOINT_FILE).is_file() and (path / CONFIG_FILE).is_file()
        path.mkdir(parents=True, exist_ok=True)
        with open_run_folder(path, resume=resume, overwrite=not resume) as opened:
            result = execute(desc, folder=opened)
    except RunInterrupted as err:
        return Outcome(index, folder, "interrupted", _one_line(err))
    except Exception as err:
        _write_failed(path, err)
        return Outcome(index, folder, "failed", _one_line(err))
    (path / FAILED_FILE).unlink(missing_ok=True)
    diverged = bool(getattr(result, "diverged", False))
    return Outcome(index, folder, "diverged" if diverged else "finished", getattr(result, "diagnosis", "") or "")


def _write_failed(folder: Path, err: BaseException) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(
            {"error": _one_line(err), "type": type(err).__name__, "traceback": traceback.format_exc()}, indent=2
        )
        write_atomic(folder / FAILED_FILE, text + "\n")
    except OSError:  # the folder itself is unwritable: the outcome still says why
        pass


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


# --- collecting ----------------------------------------------------------------------------------------------------
def collect(runs: list[PlannedRun]) -> tuple[pd.DataFrame, list[PlannedRun]]:
    """One tidy table of the finished runs' metrics (``runs`` as ``plan`` read them from their folders), each row
    labelled with its run's description as stored in its folder (the metrics' own columns win where names
    clash: they are what the run used); and the runs left out because they are not finished."""
    frames, missing = [], []
    for run in runs:
        if run.state != "finished":
            missing.append(run)
            continue
        record = load_run(run.folder)
        stored = RunDescription.from_dict(record.config["run"])
        labels = {
            "run_hash": record.config["run_hash"],
            "problem": stored.problem,
            # the optimizer's seed keys the run's random streams; metrics' "seed" is the seed index in the batch
            **{("run_seed" if k == "seed" else k): v for k, v in dataclasses.asdict(stored.optimizer).items()},
            "seeds": stored.seeds if isinstance(stored.seeds, int) else ",".join(map(str, stored.seeds or ())),
            "folder": str(run.folder),
        }
        metrics = record.metrics
        front = pd.DataFrame({k: [v] * len(metrics) for k, v in labels.items() if k not in metrics.columns})
        frames.append(pd.concat([front, metrics.reset_index(drop=True)], axis=1))
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return table, missing
