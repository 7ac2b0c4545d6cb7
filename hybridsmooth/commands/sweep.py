"""``hybridsmooth sweep plan | run | status | collect | merge GRID``: a grid of runs, one run folder each.

GRID is a TOML file (see ``engine.sweep``). ``plan`` lists the runs and the state of their folders, ``run``
runs what is not finished (finished folders are skipped, partial ones resumed; exit status 1 if a run failed
or diverged), ``status`` counts the states and names the failed runs, ``collect`` writes one tidy table of
the finished runs read from their folders, ``merge --from DIR`` brings in the runs finished in another root of
the same sweep (``engine.sweep_merge``).

``run --executor`` says where the runs go (``engine.sweep_executors``): ``local`` (default) runs them here,
``--workers`` processes at once; ``ray`` runs each as a Ray task (``--cpus-per-run``, fractional
``--gpus-per-run``) on the cluster at ``--ray-address``/``RAY_ADDRESS`` or on a local one of ``--workers``
runs; ``slurm`` submits a submitit job array (``--slurm-partition``, ``--slurm-time``, ``--slurm-mem``,
``--gpus-per-run``; ``--workers`` elements at once), requeued onto the run's checkpoint when preempted or
out of time, or with ``--slurm-local`` runs the array through submitit's local executor, without SLURM. An
option of another executor than the chosen one is refused. Each run is one task: a synthetic problem's
seeds stay one batched run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

from .. import validate
from ..engine import sweep
from ..errors import UsageError
from ..paths import ensure_output_file

# executor -> (the module it needs, the extra that installs it)
REMOTE_EXECUTORS = {"ray": ("ray", "ray"), "slurm": ("submitit", "slurm")}
# the options of `sweep run` that only some executors take; given to another executor they are refused
EXECUTOR_OPTIONS = {
    "cpus_per_run": ("ray", "slurm"),
    "gpus_per_run": ("ray", "slurm"),
    "ray_address": ("ray",),
    "slurm_partition": ("slurm",),
    "slurm_time": ("slurm",),
    "slurm_mem": ("slurm",),
    "slurm_local": ("slurm",),
}


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    for name, help_text in (
        ("plan", "list the runs of GRID and the state of their folders"),
        ("run", "run every run of GRID that is not finished (resumes partial ones)"),
        ("status", "count the runs of GRID by state and name the failed ones"),
        ("collect", "write one table (one row per run, seed and epoch) of GRID's finished runs"),
        ("merge", "bring GRID's runs finished in another root (--from) into its own folders"),
    ):
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.add_argument("grid", help="grid file: TOML, or YAML (.yaml/.yml); axes or a list of runs")
        p.add_argument("--root", default=None, help="folder of the run folders (default: the grid's root)")
        if name in ("plan", "status"):
            p.add_argument("--json", action="store_true", help="one JSON object per run on stdout")
        if name == "run":
            _add_run_arguments(p)
        if name == "collect":
            p.add_argument("--out", required=True, help="table to write: .csv, or .parquet (needs pyarrow)")
        if name == "merge":
            add_merge_source(p, "another root of the same sweep (run folders named by their hash)")


def add_merge_source(p, what: str) -> None:
    """``--from DIR`` of a merge: where the runs finished on another machine are."""
    p.add_argument("--from", dest="source", required=True, metavar="DIR", help=f"{what}, e.g. copied from a GPU box")


def _add_run_arguments(p) -> None:
    p.add_argument("--executor", default="local", choices=["local", *REMOTE_EXECUTORS], help="default local")
    # None, not 1: a remote executor has its own default, and an option given where it does not apply is refused
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runs at once (default 1): processes here; the CPUs of a local Ray cluster in runs; "
        "SLURM array elements at once (default: no limit but SLURM's)",
    )
    p.add_argument("--shard", default=None, metavar="i/N", help="only the runs whose index %% N == i")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads per run (default 1, or --cpus-per-run)")
    p.add_argument("--cpus-per-run", type=int, default=None, help="ray, slurm: CPUs each run asks for (default 1)")
    p.add_argument(
        "--gpus-per-run",
        type=float,
        default=None,
        help="ray: GPUs each run asks for, a fraction shares a GPU between runs; slurm: whole GPUs (default 0)",
    )
    p.add_argument("--ray-address", default=None, help="ray: the cluster to join (default RAY_ADDRESS, or start one)")
    p.add_argument("--slurm-partition", default=None, help="slurm: the partition (default: SLURM's)")
    p.add_argument("--slurm-time", type=int, default=None, metavar="MIN", help="slurm: minutes per job (default 60)")
    p.add_argument("--slurm-mem", type=float, default=None, metavar="GB", help="slurm: memory per job in GB")
    p.add_argument(
        "--slurm-local", action="store_true", default=None, help="slurm: run the array with submitit's local executor"
    )


def run(args) -> int:
    if args.action is None:
        raise UsageError("give an action: plan, run, status, collect or merge")
    if args.action == "run":
        _check_run_options(args)
    if args.action == "collect":
        _check_table_path(args.out)
    grid = sweep.read_grid(args.grid, args.root)
    runs = sweep.plan(grid)
    actions = {"plan": _plan, "run": _run, "status": _status, "collect": _collect, "merge": _merge}
    return actions[args.action](args, runs)


def _check_run_options(args) -> None:
    if args.executor in REMOTE_EXECUTORS:
        module, extra = REMOTE_EXECUTORS[args.executor]
        if importlib.util.find_spec(module) is None:
            raise UsageError(f"--executor {args.executor} needs {module}: pip install hybridsmooth[{extra}]")
    _check_applicable(args)
    _check_workers(args)
    if args.threads is not None:
        validate.threads("--threads", args.threads)
    if args.cpus_per_run is not None:
        validate.integer("--cpus-per-run", args.cpus_per_run, minimum=1, error=UsageError)
    if args.gpus_per_run is not None:
        _check_gpus(args.executor, args.gpus_per_run)
    if args.slurm_time is not None:
        validate.integer("--slurm-time", args.slurm_time, minimum=1, error=UsageError)
    if args.slurm_mem is not None:
        validate.positive("--slurm-mem", args.slurm_mem, error=UsageError)
    if args.executor == "slurm" and not args.slurm_local and shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: no SLURM here (sbatch not found); add --slurm-local to run the array here")
    sweep.shard([], args.shard)  # a bad shard is refused before the grid is read


def given_run_options(args) -> list[str]:
    """The flags of ``_add_run_arguments`` given on the command line (none are given by default)."""
    names = ["workers", "shard", "threads", *EXECUTOR_OPTIONS]
    given = [("--" + n.replace("_", "-")) for n in names if getattr(args, n, None) is not None]
    return given + (["--executor"] if getattr(args, "executor", "local") != "local" else [])


def refuse_shard(args, command: str, grid: str) -> None:
    """``command`` runs its runs whole: a --shard it would ignore is refused, naming the grid file to shard."""
    if getattr(args, "shard", None) is not None:
        raise UsageError(
            f"{command} takes no --shard: it runs every run of {grid}; give that grid to "
            "`hybridsmooth sweep run --shard i/N`"
        )


def _check_applicable(args) -> None:
    """An option of another executor is an error: silently ignoring it would run the sweep other than asked."""
    for name, executors in EXECUTOR_OPTIONS.items():
        if getattr(args, name) is not None and args.executor not in executors:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} applies to --executor {' or '.join(executors)}, not {args.executor}")


def _ray_address(args) -> str | None:
    return args.ray_address or os.environ.get("RAY_ADDRESS") or None


def _check_workers(args) -> None:
    if args.workers is None:
        return
    if args.executor == "ray" and _ray_address(args):
        raise UsageError(
            "--workers sizes a local Ray cluster; on the cluster at --ray-address/RAY_ADDRESS its "
            "resources decide how many runs go at once"
        )
    # processes (or a Ray cluster's CPUs) on this machine; a SLURM array's elements are spread over the cluster
    here = args.executor != "slurm" or args.slurm_local
    cpus = os.cpu_count() or 1
    limit = cpus if here else None
    validate.integer(
        "--workers",
        args.workers,
        minimum=1,
        maximum=limit,
        error=UsageError,
        why=f"this machine has {cpus} CPUs" if here else "",
    )


def _check_gpus(executor: str, gpus: float) -> None:
    validate.non_negative("--gpus-per-run", gpus, error=UsageError)
    if executor == "slurm" and gpus != int(gpus):
        raise UsageError(f"--gpus-per-run {gpus:g}: a SLURM job asks for whole GPUs (share one with --executor ray)")
    if executor == "ray" and gpus > 1 and gpus != int(gpus):
        raise UsageError(f"--gpus-per-run {gpus:g}: Ray takes a fraction of one GPU or whole GPUs")


def _executor_options(args) -> dict:
    """The keyword arguments of ``engine.sweep_executors.run_ray`` / ``run_submitit`` the options give."""
    common = {"cpus_per_run": args.cpus_per_run or 1}
    if args.executor == "ray":
        return {**common, "gpus_per_run": args.gpus_per_run or 0.0, "address": _ray_address(args)}
    if args.executor == "slurm":
        slurm = {"partition": args.slurm_partition, "time_min": args.slurm_time, "mem_gb": args.slurm_mem}
        return {**common, **slurm, "gpus_per_run": int(args.gpus_per_run or 0), "local": bool(args.slurm_local)}
    return {}


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

    workers = args.workers or (1 if args.executor == "local" else None)
    options = _executor_options(args)
    outcomes = sweep.run_all(
        selected, workers=workers, threads=args.threads, report=report, executor=args.executor, options=options
    )
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


def _merge(args, runs) -> int:
    from ..engine.sweep_merge import merge_counts, merge_finished

    results = merge_finished(runs, args.source)
    for r in results:
        if r.status in ("copied", "replaced", "kept") or (r.status == "unfinished" and r.note):
            print(f"{r.status} {r.folder}" + (f": {r.note}" if r.note else ""))
    by = merge_counts(results)
    print(f"{len(results)} runs: " + ", ".join(f"{n} {s}" for s, n in by.items() if n or s in ("copied", "here")))
    print(_counts_line(sweep.plan(sweep.read_grid(args.grid, args.root))))
    return 0
