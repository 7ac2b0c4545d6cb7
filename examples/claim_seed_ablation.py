"""Rerun some seeds of a claim cell at a setting of your choice: the protocol's own run description (the same
splits, adapter initialisation, sample order and ZO directions as the cell's seeded runs), with one thing
changed. Used to ask whether the hybrid's failures on the cut SmolLM2 cell follow the size of its ZO step:

    python examples/claim_seed_ablation.py --cell smollm2_short --method hybrid --eta-x 1e-6 --eta-y 0.3 \
        --seeds 1,9 --out figures/claim/smollm2_short_walk --workers 2

Writes OUT/runs/<hash>/ (a run folder each; a second call resumes) and OUT/ablation.csv (one row per seed:
the best dev evaluation, the test accuracy there and at the end, the distance x moved).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from hybridsmooth.claim.cells import cell_named
from hybridsmooth.engine.sweep import Grid, plan, run_all
from hybridsmooth.errors import UsageError
from hybridsmooth.optim.hybrid_sgd import METHODS


def ablation_row(seed: int, folder: Path) -> dict:
    """One seed's row: its best dev evaluation, the test accuracy there and at the end, the distance x moved
    (the probe's last reading; a seeded claim run always probes)."""
    summary = json.loads((folder / "summary.json").read_text())
    moved = float(pd.read_csv(folder / "probes.csv")["x_distance"].iloc[-1])
    keys = ("diverged", "best_dev_step", "best_dev_accuracy", "best_test_accuracy", "final_test_accuracy")
    return {"seed": seed, **{k: summary.get(k) for k in keys}, "x_distance_end": moved, "folder": str(folder)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="smollm2_short")
    parser.add_argument("--method", default="hybrid", choices=list(METHODS))
    parser.add_argument("--eta-x", type=float, default=0.0)
    parser.add_argument("--eta-y", type=float, default=0.0)
    parser.add_argument("--mu", type=float, default=1e-3)
    parser.add_argument("--seeds", required=True, help="comma-separated seeds, e.g. 1,9")
    parser.add_argument("--out", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    setting = {"eta_x": args.eta_x, "eta_y": args.eta_y, "mu": args.mu}
    # every description is built (and so checked) before any run starts: a bad seed, cell or step size is
    # refused in one line
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds: comma-separated integers, got {args.seeds!r}")
    try:
        cell = cell_named(args.cell)
        runs = [cell.run(args.method, setting, s, final=True) for s in seeds]
    except (ValueError, UsageError) as err:
        parser.error(str(err))
    # the sweep's own planning and runner: the claim's folder names, finished runs skipped, one run per folder
    planned = plan(Grid(Path(args.out) / "runs", tuple(runs)))
    conflict = [p for p in planned if p.state == "conflict"]
    if conflict:
        parser.error(f"{conflict[0].folder} holds another run ({conflict[0].note}): give another --out")
    outcomes = run_all(planned, workers=args.workers, threads=1)  # 1 thread per worker, as the claim's runs
    lost = [o for o in outcomes if o.status in ("failed", "interrupted")]
    if lost:
        parser.exit(1, f"{len(lost)} run(s) did not finish ({lost[0].status}: {lost[0].message})\n")
    table = pd.DataFrame([ablation_row(s, p.folder) for s, p in zip(seeds, planned)])
    table = table.assign(method=args.method, **setting)
    table.to_csv(Path(args.out) / "ablation.csv", index=False)
    print(table.drop(columns="folder").to_string(index=False))


if __name__ == "__main__":
    main()
