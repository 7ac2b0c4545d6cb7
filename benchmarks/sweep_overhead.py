"""What running a sweep through an executor costs beyond the runs' own compute, and what 2 workers buy.

(a) Overhead: a grid of many short synthetic runs (default 40) swept with the local process pool and with a
local Ray cluster, ``workers`` at once. Each run's own compute is the ``seconds`` of its summary.json (the
optimization loop, timed inside the run). The engine's overhead is what the sweep's wall time exceeds a
perfect split of that compute over the workers:

    overhead per run = (wall - sum(compute) / workers) / runs,   ratio = overhead per run / mean compute per run

It holds process or task start-up, importing torch in each worker, reading the description, opening and
writing the run folder, and the executor's bookkeeping. Ray's cluster start is timed apart (a cluster is
started once, for many sweeps).

(b) Throughput: a few CPU-bound runs of several seconds each, swept with 1 worker (in this process), 2 local
workers and 2 Ray workers; speed-up = wall(1 worker) / wall(2 workers) (goal >= 1.7 on 2 cores: the runs
are independent, so only start-up and the machine's other load keep it from 2).

Each sweep gets fresh run folders. Timings on a shared machine are noisy (the 1-minute load average is
printed): trust the ratios measured side by side in one run, not the seconds.

    .venv/bin/python benchmarks/sweep_overhead.py
    .venv/bin/python benchmarks/sweep_overhead.py --runs 40 --workers 2 --long-runs 8 --long-epochs 40
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from hybridsmooth.engine import sweep

SHORT = "quadratic:dx=20,dy=4,n=20"
LONG = "quadratic:dx=200,dy=20,n=200"


def grid_text(root: Path, problem: str, runs: int, epochs: int) -> str:
    # runs distinct runs of one problem: an axis of that many step sizes (small enough never to diverge)
    etas = ", ".join(f"{1e-4 * (1 + i / runs):.6g}" for i in range(runs))
    return (
        f'root = "{root}"\nproblems = ["{problem}"]\nmethods = ["hybrid"]\neta_x = [{etas}]\n'
        f"eta_y = [0.01]\nepochs = {epochs}\nseeds = 4\n"
    )


def sweep_once(where: Path, problem: str, runs: int, epochs: int, executor: str, workers: int) -> dict:
    """Sweep a fresh grid and return its wall time and its runs' own compute."""
    where.mkdir(parents=True)
    path = where / "grid.toml"
    path.write_text(grid_text(where / "runs", problem, runs, epochs))
    planned = sweep.plan(sweep.read_grid(path))
    options = {"cpus_per_run": 1} if executor == "ray" else None
    t0 = time.perf_counter()
    outcomes = sweep.run_all(planned, workers=workers, executor=executor, options=options)
    wall = time.perf_counter() - t0
    bad = [o for o in outcomes if o.status != "finished"]
    if bad:
        raise SystemExit(f"{len(bad)} runs did not finish: {bad[0]}")
    compute = [json.loads((r.folder / "summary.json").read_text())["seconds"] for r in planned]
    return {"executor": executor, "workers": workers, "runs": runs, "wall_s": wall, "compute_s": sum(compute)}


def overhead_row(m: dict) -> dict:
    per_run = (m["wall_s"] - m["compute_s"] / m["workers"]) / m["runs"]
    mean_compute = m["compute_s"] / m["runs"]
    return {**m, "compute_per_run_s": mean_compute, "overhead_per_run_s": per_run, "ratio": per_run / mean_compute}


def start_ray(cpus: int) -> float:
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, log_to_driver=False)
    return time.perf_counter() - t0


def print_table(rows: list[dict]) -> None:
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"), flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=40, help="short runs of the overhead sweep (default 40)")
    p.add_argument("--epochs", type=int, default=5, help=f"epochs of a short run of {SHORT} (default 5)")
    p.add_argument("--workers", type=int, default=2, help="workers of the overhead sweeps (default 2)")
    p.add_argument("--long-runs", type=int, default=6, help="CPU-bound runs of the throughput sweeps (default 6)")
    p.add_argument("--long-epochs", type=int, default=30, help=f"epochs of a CPU-bound run of {LONG} (default 30)")
    p.add_argument("--no-ray", action="store_true", help="local executor only")
    args = p.parse_args(argv)
    ray_rows = not args.no_ray
    print(f"{os.cpu_count()} CPUs, 1-minute load average {os.getloadavg()[0]:.1f} at the start", flush=True)
    with tempfile.TemporaryDirectory(prefix="sweep-overhead-") as tmp:
        scratch = Path(tmp)
        ray_start = start_ray(max(args.workers, 2)) if ray_rows else None
        if ray_start is not None:
            print(f"Ray local cluster start: {ray_start:.2f} s (not in the walls below)", flush=True)
        print(f"\n(a) overhead: {args.runs} runs of {SHORT}, {args.epochs} epochs, 4 seeds each", flush=True)
        rows = [
            overhead_row(sweep_once(scratch / f"a-{ex}", SHORT, args.runs, args.epochs, ex, args.workers))
            for ex in ("local", *(("ray",) if ray_rows else ()))
        ]
        print_table(rows)
        print(f"\n(b) throughput: {args.long_runs} runs of {LONG}, {args.long_epochs} epochs, 4 seeds each", flush=True)
        cases = [("local", 1), ("local", 2), *((("ray", 2),) if ray_rows else ())]
        rows = [sweep_once(scratch / f"b-{ex}-{w}", LONG, args.long_runs, args.long_epochs, ex, w) for ex, w in cases]
        for row in rows:
            row["compute_per_run_s"] = row["compute_s"] / row["runs"]
            row["speedup_vs_1"] = rows[0]["wall_s"] / row["wall_s"]
        print_table(rows)
        met = all(r["speedup_vs_1"] >= 1.7 for r in rows if r["workers"] == 2)
        print(f"goal: 2 workers >= 1.7x 1 worker: {'met' if met else 'NOT met'}", flush=True)
        print(f"1-minute load average {os.getloadavg()[0]:.1f} at the end", flush=True)
        if ray_rows:
            import ray

            ray.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
