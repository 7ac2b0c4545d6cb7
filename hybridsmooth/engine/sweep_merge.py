"""Bring a sweep's finished runs in from another root: runs made on another machine (a GPU box that keeps
nothing, a cluster's scratch) join the sweep's own folders without being run again.

A run folder's name is its description's content hash, so the other root's folder for a planned run is found by
name and judged by the same test as the sweep's own (``sweep.folder_state``): only a run finished at the grid's
length is taken. It replaces a local folder that is new, partial or failed (a finished run holds everything a
partial one of the same run does), never a finished one (left as it is) nor one the grid calls a conflict (a
longer run, another run: a person decides). A local folder that a process is writing is left alone (its lock
is taken, without waiting, for the whole replacement). The copy is made beside the target and renamed into
place, so a reader sees the old folder or the whole new one, and a crash leaves a hidden ``.merge-*`` folder,
never a half-copied run.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from .rundir import _lock
from .sweep import PlannedRun, folder_state

# what a merge did with one planned run
MERGE_STATES = ("copied", "replaced", "here", "absent", "unfinished", "kept")


@dataclass(frozen=True)
class MergeResult:
    index: int
    folder: Path
    status: str  # one of MERGE_STATES
    note: str = ""


def merge_finished(runs: list[PlannedRun], source: str | os.PathLike) -> list[MergeResult]:
    """For every planned run, take its finished folder from ``source`` (another root of the same sweep) where the
    sweep's own folder does not hold it finished (module docstring). Returns what happened to each run."""
    source = Path(source)
    if not source.is_dir():
        raise UsageError(f"--from {source}: not a folder of run folders")
    if runs and runs[0].folder.parent.resolve() == source.resolve():
        raise UsageError(f"--from {source} is the sweep's own root")
    return [_merge_one(run, source / run.folder.name) for run in runs]


def merge_counts(results: list[MergeResult]) -> dict[str, int]:
    """How many runs ended in each of MERGE_STATES."""
    return {s: sum(r.status == s for r in results) for s in MERGE_STATES}


def _merge_one(run: PlannedRun, src: Path) -> MergeResult:
    def result(status: str, note: str = "") -> MergeResult:
        return MergeResult(run.index, run.folder, status, note)

    state, note = folder_state(src, run.description)
    if state == "new":
        return result("absent")
    if state != "finished":
        return result("unfinished", f"{state} there" + (f": {note}" if note else ""))
    if run.state == "finished":
        return result("here")
    if run.state == "conflict":
        return result("kept", f"the folder here is a conflict ({run.note}); not replaced")
    run.folder.parent.mkdir(parents=True, exist_ok=True)
    staged = run.folder.parent / f".merge-{run.folder.name}-{os.getpid()}"
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(src, staged)
    if folder_state(staged, run.description)[0] != "finished":  # changed while it was copied
        shutil.rmtree(staged, ignore_errors=True)
        return result("unfinished", "changed while it was copied")
    if not run.folder.exists():
        os.rename(staged, run.folder)
        return result("copied")
    try:
        fd = _lock(run.folder)
    except UsageError as err:
        shutil.rmtree(staged, ignore_errors=True)
        return result("kept", str(err))
    try:
        aside = run.folder.parent / f".merge-old-{run.folder.name}-{os.getpid()}"
        os.rename(run.folder, aside)
        os.rename(staged, run.folder)
        shutil.rmtree(aside, ignore_errors=True)
    finally:
        os.close(fd)
    return result("replaced", f"was {run.state}")
