"""Where two runs of the same seeds come apart, step by step: the adapter gradient norm each run recorded at its
clean point, compared seed by seed. Used on the eta_x = 0 control of the cut SmolLM2 cell, whose dev losses
(`control.csv`, every 25 steps) showed only that seed 1 had come apart by step 25:

    python examples/claim_seed_ablation.py --cell smollm2_short --method fo_peft --eta-y 0.3 --seeds 0,1 \
        --out /tmp/fo_peft_0_1 --workers 2       # FO-PEFT's own runs of those seeds (the claim keeps no run folders)
    python examples/control_step_by_step.py figures/claim/smollm2_short_control /tmp/fo_peft_0_1 \
        --out figures/claim/smollm2_short_control/step_by_step.csv

The recorded loss is no use here: the hybrid records the mean of its two perturbed forwards, FO-PEFT the loss at
the point itself. The gradient norm is taken at the point by both (the control's FO gradient at the clean point).
Writes one row per seed and step: both values and their relative difference; prints the first step where it
exceeds the claim's rounding tolerance.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hybridsmooth.claim.tables import CONTROL_TOLERANCE
from hybridsmooth.engine.rundir import load_run
from hybridsmooth.problems import parse_spec


def runs_by_seed(folder: Path, method: str | None = None) -> dict[int, pd.DataFrame]:
    """The metrics of the finished runs under ``folder/runs`` (of ``method`` only, when given), by the seed of
    their problem: one run per seed."""
    found: dict[int, pd.DataFrame] = {}
    for marker in sorted((folder / "runs").glob("*/complete.json")):
        record = load_run(marker.parent)
        described = record.config["run"]
        if method is not None and described["optimizer"]["method"] != method:
            continue
        seed = int(parse_spec(described["problem"])[1]["seed"])
        if seed in found:
            raise SystemExit(f"{folder}: two finished runs of seed {seed}; name the method (--first-method ...)")
        found[seed] = record.metrics
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="a folder whose runs/ holds one finished run per seed")
    parser.add_argument("second", type=Path, help="another such folder, with runs of the same seeds")
    parser.add_argument("--first-method", default=None, help="only the first folder's runs of this method")
    parser.add_argument("--second-method", default=None, help="only the second folder's runs of this method")
    parser.add_argument("--column", default="grad_y_norm", help="a column of metrics.csv (default grad_y_norm)")
    parser.add_argument("--out", type=Path, default=None, help="CSV of the comparison")
    args = parser.parse_args()
    first, second = runs_by_seed(args.first, args.first_method), runs_by_seed(args.second, args.second_method)
    seeds = sorted(set(first) & set(second))
    if not seeds:
        parser.error(f"no seed has a finished run in both {args.first} and {args.second}")
    rows = []
    for seed in seeds:
        a = first[seed].set_index("step")[args.column]
        b = second[seed].set_index("step")[args.column]
        both = a.index.intersection(b.index)
        rel = (a[both] - b[both]).abs() / b[both].abs()
        rows.append(pd.DataFrame({"seed": seed, "step": both, "first": a[both], "second": b[both], "relative": rel}))
        apart = rel[rel > CONTROL_TOLERANCE]
        if len(apart):
            first_apart = int(apart.index[0])
            where = f"apart from step {first_apart} (at most {rel[rel.index < first_apart].max():.1e} before)"
        else:
            where = "never apart"
        print(f"seed {seed}: {args.column} at most {rel.max():.1e} apart, {where}; tolerance {CONTROL_TOLERANCE:g}")
    table = pd.concat(rows, ignore_index=True)
    if args.out is not None:
        table.to_csv(args.out, index=False)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
