"""How far a claim run has got, read from its run folders: per tuning grid point whether it finished and what
it reached, the selection wherever a method's whole grid has finished, and how many seeded runs are done.

What a run stopped by a time box (a GPU lent for minutes, a job's wall-clock limit) can still report; the full
analysis (``protocol.analyse``) needs every run. The selection is the protocol's own (``selection.select``,
the dev split only); the test columns of a finished tuning run are shown beside it, never read by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..engine.sweep import folder_state, stored_length
from ..errors import UsageError
from .cells import Cell
from .selection import select
from .tables import TEST_COLUMNS, run_record


@dataclass(frozen=True)
class Progress:
    tuning: pd.DataFrame  # one row per grid point: its setting, finished, what it reached, selected
    curves: pd.DataFrame  # the finished tuning runs' dev evaluations, labelled by method and setting
    selected: dict  # method -> setting, for the methods whose whole grid has finished
    seeded_done: int | None  # finished seeded runs (the control's included), once every method is selected
    seeded_total: int | None
    seeded_complete: dict | None = None  # method (the control too) -> whether every one of its seeds finished


def run_finished(root: Path, run) -> bool:
    # the sweep's own test: a folder finished at a shorter length is a run to continue, not a finished one
    return folder_state(Path(root) / run.content_hash(), run)[0] == "finished"


def claim_progress(cell: Cell, root: Path, *, selected: dict | None = None) -> Progress:
    """``selected``: the step sizes taken from an earlier claim (``claim run --selection``), whose tuning did
    not run here; the seeded runs are counted at those."""
    if selected is not None:
        return _seeded_progress(cell, root, pd.DataFrame(), pd.DataFrame(), selected)
    from .protocol import describe_setting

    _refuse_longer(root, [(f"{m} at {describe_setting(m, s)} (tuning)", r) for m, s, r in cell.tuning_runs()])
    rows, curves = [], []
    for method, _setting, run in cell.tuning_runs():
        row = {"method": method, "eta_x": run.eta_x, "eta_y": run.eta_y, "mu": run.mu}
        row["finished"] = run_finished(root, run)
        if row["finished"]:
            rec = run_record(Path(root) / run.content_hash())
            evals = rec.pop("evals")
            rec.pop("probes")
            row.update(rec)
            if evals is not None:
                curves.append(evals.assign(method=method, eta_x=run.eta_x, eta_y=run.eta_y))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["selected"] = False
    complete = [m for m in cell.methods if table.loc[table["method"] == m, "finished"].all()]
    selected = {}
    if complete:
        rows_done = table[table["method"].isin(complete)].drop(columns=list(TEST_COLUMNS), errors="ignore")
        selected, marked = select(rows_done)
        table.loc[marked.index, "selected"] = marked["selected"]
    cat = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    return _seeded_progress(cell, root, table, cat, selected)


def _seeded_progress(cell: Cell, root: Path, table: pd.DataFrame, curves: pd.DataFrame, selected: dict) -> Progress:
    seeded_done = seeded_total = complete_by_method = None
    if set(cell.methods) <= set(selected):
        _refuse_longer(root, [(f"{m} seed {seed}", r) for m, seed, r in cell.final_runs(selected)])
        finals = [(method, run_finished(root, r)) for method, _, r in cell.final_runs(selected)]
        seeded_total, seeded_done = len(finals), sum(done for _, done in finals)
        complete_by_method = {}
        for method, done in finals:
            complete_by_method[method] = complete_by_method.get(method, True) and done
    return Progress(table, curves, selected, seeded_done, seeded_total, complete_by_method)


def _refuse_longer(root: Path, runs: list) -> None:
    """A run longer than asked is the report's --steps, not the run, being wrong: the sweep calls such a folder a
    conflict, so without this every run would count as unfinished (the full analysis refuses the same runs)."""
    for label, run in runs:
        have = stored_length(Path(root) / run.content_hash(), run)
        if have is not None and run.steps is not None and have > run.steps:
            raise UsageError(
                f"{Path(root).parent}: {label} ran {have} steps, where this report expects {run.steps}: give the "
                "--steps its runs were made with"
            )


def progress_lines(cell: Cell, progress: Progress) -> list[str]:
    """One line per method, then one for the seeded runs."""
    from .protocol import describe_setting

    t = progress.tuning
    lines = []
    if t.empty and progress.selected:
        lines.append("step sizes from an earlier claim's selection (no tuning here)")
    for method in cell.methods if not t.empty else ():
        rows = t[t["method"] == method]
        line = f"{method}: {int(rows['finished'].sum())} of {len(rows)} grid points finished"
        if method in progress.selected:
            best = rows[rows["selected"]].iloc[0]
            setting = describe_setting(method, progress.selected[method])
            line += f"; selected {setting} (best dev accuracy {best['best_dev_accuracy']:.3f})"
        lines.append(line)
    if progress.seeded_total is None:
        waiting = [m for m in cell.methods if m not in progress.selected]
        lines.append(f"seeded runs: not planned until the tuning of {', '.join(waiting)} has finished")
    else:
        lines.append(f"seeded runs: {progress.seeded_done} of {progress.seeded_total} finished")
    return lines
