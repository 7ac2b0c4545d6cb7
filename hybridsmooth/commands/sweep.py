"""``hybridsmooth sweep plan | run | status | collect GRID``: a grid of runs, one run folder each.

GRID is a TOML file (see ``engine.sweep``). ``plan`` lists the runs and the state of their folders, ``run``
runs what is not finished (finished folders are skipped, partial ones resumed; exit status 1 if a run failed
or diverged), ``status`` counts the states and names the failed runs, ``collect`` writes one tidy table of
the finished runs read from their folders.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from .. import validate
from ..engine import sweep
from ..errors import UsageError
from ..paths import ensure_output_file

# executor -> (the module it needs, the extra that installs it)
REMOTE_EXECUTORS = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    for name, help_text in (
        ("plan", "list the runs of GRID and the state of their folders"),
        ("run", "run every run of GRID that is not finished (resumes partial ones)"),
        ("status", "count the runs of GRID by state and name the failed ones"),
        ("collect", "write one table (one row per run, seed and epoch) of GRID's finished runs"),
    ):
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.add_argument("grid", help="grid file (TOML)")
        p.add_argument("--root", default=None, help="folder of the run folders (default: the grid's root)")
        if name in ("plan", "status"):
            p.add_argument("--json", action="store_true", help="one JSON object per run on stdout")
        if name == "run":
            p.add_argument("--executor", default="local", choices=["local", *REMOTE_EXECUTORS])
            p.add_argument("--workers", type=int, default=1, help="runs at once, one process each (default 1)")
            p.add_argument("--shard", default=None, metavar="i/N", help="only the runs whose index %% N == i")
            p.add_argument("--threads", type=int, default=None, help="torch CPU threads per run (default 1)")
        if name == "collect":
            p.add_argument("--out", required=True, help="table to write: .csv, or .parquet (needs pyarrow)")


def run(args) -> int:
    if args.action is None:
        raise UsageError("give an action: plan, run, status or collect")
    if args.action == "run":
        _check_run_options(args)
    if args.action == "collect":
        _check_table_path(args.out)
    grid = sweep.read_grid(args.grid, args.root)
    runs = sweep.plan(grid)
    return {"plan": _plan, "run": _run, "status": _status, "collect": _collect}[args.action](args, runs)


def _check_run_options(args) -> None:
    if args.executor in REMOTE_EXECUTORS:
        module, extra = REMOTE_EXECUTORS[args.executor]
        if importlib.util.find_spec(module) is None:
            raise UsageError(f"--executor {args.executor} needs {module}: pip install hybridsmooth[{extra}]")
        raise UsageError(f"--executor {args.executor} is not implemented yet; use --executor local")
    validate.integer("--workers", args.workers, minimum=1, maximum=os.cpu_count() or 1, error=UsageError)
    if args.threads is not None:
        validate.threads("--threads", args.threads)
    sweep.shard([], args.shard)  # a bad shard is refused before the grid is read


def _check_table_path(out: str) -> None:
    suffix = Path(out).suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise UsageError(f"--out {out}: give a .csv or .parquet file")
    if suffix == ".parquet" and importlib.util.find_spec("pyarrow") is None:
        raise UsageError(f"--out {out}: parquet needs pyarrow (pip install pyarrow); or write a .csv")


def _row(run: sweep.PlannedRun) -> dict:
    return {
        "index": run.index,
        "state": run.state,
        "run_hash": run.folder.name,
        "folder": str(run.folder),
        "label": f"{run.description.problem} {run.description.label()}",
        **({"note": run.note} if run.note else {}),
    }


def _counts_line(runs) -> str:
    c = sweep.counts(runs)
    return f"{c['runs']} runs: " + ", ".join(f"{c[s]} {s}" for s in sweep.STATES if c[s] or s != "conflict")


def _plan(args, runs) -> int:
    if args.json:
        for run in runs:
            print(json.dumps({**_row(run), "run": run.description.to_dict()}))
        return 0
    width = len(str(max(len(runs) - 1, 0)))
    for run in runs:
        row = _row(run)
        print(f"{run.index:>{width}}  {run.state:<8}  {row['run_hash']}  {row['label']}")
    print(_counts_line(runs))
    return 0


def _status(args, runs) -> int:
    if args.json:
        print(json.dumps(sweep.counts(runs)))
        for run in runs:
            if run.state in ("failed", "conflict"):
                print(json.dumps(_row(run)))
        return 0
    print(_counts_line(runs))
    for run in runs:
        if run.state in ("failed", "conflict"):
            print(f"{run.state} {run.folder}: {run.note}")
    return 0


def _run(args, runs) -> int:
    selected = sweep.shard(runs, args.shard)
    total = len(selected)
    done = [0]

    def report(outcome: sweep.Outcome) -> None:
        done[0] += 1
        tail = f": {outcome.message}" if outcome.status in ("failed", "interrupted") else ""
        print(f"[{done[0]}/{total}] {outcome.status} {outcome.folder}{tail}", flush=True)

    outcomes = sweep.run_all(selected, workers=args.workers, threads=args.threads, report=report)
    by = {s: sum(o.status == s for o in outcomes) for s in ("finished", "skipped", "diverged", "failed")}
    print(f"{total} runs: " + ", ".join(f"{n} {s}" for s, n in by.items()))
    if any(o.status == "interrupted" for o in outcomes):
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return 130
    return 1 if by["failed"] or by["diverged"] else 0


def _collect(args, runs) -> int:
    table, missing = sweep.collect(runs)
    if missing:
        print(f"{len(missing)} of {len(runs)} runs are not finished and left out (see `sweep status`)", file=sys.stderr)
    out = ensure_output_file(args.out)
    if out.suffix.lower() == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    print(f"wrote {out}: {len(table)} rows x {len(table.columns)} columns from {len(runs) - len(missing)} runs")
    return 0
