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
import multiprocessing as mp
from pathlib import Path

import pandas as pd


def run_one(job) -> dict:
    import torch

    from hybridsmooth.claim.cells import cell_named
    from hybridsmooth.engine.execute import execute

    torch.set_num_threads(1)  # as the claim's workers run
    cell_name, method, setting, seed, out = job
    description = cell_named(cell_name).run(method, setting, seed, final=True)
    folder = Path(out) / "runs" / description.content_hash()
    if not (folder / "complete.json").is_file():
        execute(description, folder=folder, resume=folder.is_dir())
    summary = json.loads((folder / "summary.json").read_text())
    probes = pd.read_csv(folder / "probes.csv") if (folder / "probes.csv").is_file() else None
    moved = float(probes["x_distance"].iloc[-1]) if probes is not None and "x_distance" in probes else float("nan")
    keys = ("diverged", "best_dev_step", "best_dev_accuracy", "best_test_accuracy", "final_test_accuracy")
    return {"seed": seed, **{k: summary.get(k) for k in keys}, "x_distance_end": moved, "folder": str(folder)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell", default="smollm2_short")
    parser.add_argument("--method", default="hybrid")
    parser.add_argument("--eta-x", type=float, default=0.0)
    parser.add_argument("--eta-y", type=float, default=0.0)
    parser.add_argument("--mu", type=float, default=1e-3)
    parser.add_argument("--seeds", required=True, help="comma-separated seeds, e.g. 1,9")
    parser.add_argument("--out", required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    setting = {"eta_x": args.eta_x, "eta_y": args.eta_y, "mu": args.mu}
    seeds = [int(s) for s in args.seeds.split(",")]
    jobs = [(args.cell, args.method, setting, s, args.out) for s in seeds]
    with mp.get_context("spawn").Pool(min(args.workers, len(jobs))) as pool:
        rows = pool.map(run_one, jobs)
    table = pd.DataFrame(rows).assign(method=args.method, **setting)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    table.to_csv(Path(args.out) / "ablation.csv", index=False)
    print(table.drop(columns="folder").to_string(index=False))


if __name__ == "__main__":
    main()
