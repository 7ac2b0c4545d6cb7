"""The hybrid's accuracy as a function of its ZO step size: is there an eta_x at which the joint update beats
FO-PEFT?

The claim test selects one eta_x per cell on the dev split of one seed, so it cannot tell "the ZO block never
helps" from "the dev split picked a step too small to matter". A dose-response answers that: the hybrid at
several eta_x, all at one adapter step eta_y (and mu), on the same paired seeds as FO-PEFT at that eta_y, each
run probing the blocks (``claim.tables.contribution_table``). Per eta_x: the paired difference Hybrid - FO-PEFT
at the best dev checkpoint with its interval and exact sign-flip p-value (Holm-adjusted over the eta_x of the
family), the late collapses, and what the ZO block did (its share of the first-order decrease, how far x
moved). eta_x = 0 is the hybrid's own code path with a still x: it differs from FO-PEFT by rounding alone.

The runs are the cell's own descriptions (``Cell.run``), so a run shared with a claim folder of the same cell
has the same content hash, and the sweep's store runs each once and resumes where it stopped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from .cells import Cell
from .stats import bootstrap_interval, paired_difference
from .summary import with_family
from .tables import collapsed, contribution_table, run_record

REFERENCE = "fo_peft"
# the tables a dose folder keeps, enough to rebuild dose.csv and the figure without its run folders
SOURCE_TABLES = ("dose_per_seed.csv", "dose_probes.csv")


def dose_runs(cell: Cell, eta_xs: Sequence[float], eta_y: float, mu: float) -> list[tuple[str, float, int, object]]:
    """(method, eta_x, seed, run) for FO-PEFT at ``eta_y`` and the hybrid at each of ``eta_xs`` (same eta_y and
    mu), on every seed of ``cell``; each a final run (probes, test split)."""
    eta_xs = check_eta_xs(eta_xs)
    if not (math.isfinite(eta_y) and eta_y > 0):
        raise UsageError(f"--eta-y must be a positive step size, got {eta_y}")
    runs = []
    for seed in cell.seeds:
        runs.append((REFERENCE, 0.0, seed, cell.run(REFERENCE, {"eta_y": eta_y, "mu": mu}, seed, final=True)))
        for eta_x in eta_xs:
            setting = {"eta_x": eta_x, "eta_y": eta_y, "mu": mu}
            runs.append(("hybrid", eta_x, seed, cell.run("hybrid", setting, seed, final=True)))
    return runs


def check_eta_xs(eta_xs: Sequence[float]) -> list[float]:
    values = [float(v) for v in eta_xs]
    bad = [v for v in values if not (math.isfinite(v) and v >= 0)]
    if bad or not values:
        raise UsageError(f"--eta-x takes step sizes >= 0 (0: the hybrid's code path, x still), got {bad or values}")
    if len(set(values)) != len(values):
        raise UsageError(f"--eta-x lists a step size twice: {values}")
    return sorted(values)


def arm(method: str, eta_x: float) -> str:
    """The label of one arm of the dose-response: FO-PEFT, or the hybrid at its eta_x."""
    return "FO-PEFT" if method == REFERENCE else f"hybrid eta_x={eta_x:g}"


def dose_tables(runs, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per seed, probes) of the finished runs under ``root``; an unfinished run is refused by name."""
    rows, probes = [], []
    for method, eta_x, seed, run in runs:
        rec = run_record(Path(root) / run.content_hash())
        rec.pop("evals")
        probe = rec.pop("probes")
        labels = {"arm": arm(method, eta_x), "method": method, "seed": seed}
        rows.append({**labels, "eta_x": run.eta_x, "eta_y": run.eta_y, "mu": run.mu, **rec})
        if probe is not None and len(probe):
            probes.append(probe.assign(**labels, eta_x=run.eta_x))
    return pd.DataFrame(rows), (pd.concat(probes, ignore_index=True) if probes else pd.DataFrame())


def dose_table(per_seed: pd.DataFrame, probes: pd.DataFrame, probe_every: int, metric: str = "test_accuracy"):
    """One row per eta_x of the hybrid: its accuracy, the paired difference from FO-PEFT on the seeds where both
    have a best checkpoint (FO-PEFT's accuracy on those seeds beside it), Holm's adjustment over the eta_x, the
    divergences and late collapses of both on every seed both ran, and the ZO block's share."""
    per_seed = per_seed.assign(collapsed=collapsed(per_seed))
    ref = per_seed[per_seed["method"] == REFERENCE].set_index("seed")
    hybrid = per_seed[per_seed["method"] == "hybrid"]
    if ref.empty or hybrid.empty:
        raise ValueError("a dose-response needs FO-PEFT's runs and the hybrid's at one eta_x at least")
    contributions = contribution_table(probes.assign(method=probes["arm"]), probe_every) if len(probes) else None
    rows = []
    for eta_x, runs in hybrid.groupby("eta_x", sort=True):
        runs = runs.set_index("seed")
        ran = sorted(set(runs.index) & set(ref.index))
        # a diverged run has no best checkpoint: it counts as diverged and collapsed, not in the pairs (as in
        # the claim's own tables)
        seeds = [s for s in ran if math.isfinite(runs.loc[s, metric]) and math.isfinite(ref.loc[s, metric])]
        diff = paired_difference(runs.loc[seeds, metric].to_numpy(), ref.loc[seeds, metric].to_numpy())
        mean, low, high = bootstrap_interval(runs[metric].to_numpy(dtype=float))
        row = {
            "arm": arm("hybrid", eta_x),
            "eta_x": float(eta_x),
            "eta_y": float(runs["eta_y"].iloc[0]),
            "seeds": len(runs),
            "diverged": int(runs["diverged"].astype(bool).sum()),
            metric: mean,
            f"{metric}_low": low,
            f"{metric}_high": high,
            f"fo_peft_{metric}": float(ref.loc[seeds, metric].mean()),
            "pairs": diff["pairs"],
            "mean_difference": diff["mean_difference"],
            "low": diff["low"],
            "high": diff["high"],
            "detectable_difference": diff["detectable_difference"],
            "sign_flip_p": diff["sign_flip_p"],
            "signed_rank_p": diff["signed_rank_p"],
            "verdict": diff["verdict"],
            "collapsed": int(runs["collapsed"].sum()),
            "fo_peft_collapsed": int(ref.loc[ran, "collapsed"].sum()),
        }
        row.update(_zo_block(contributions, row["arm"]))
        rows.append(row)
    # Holm over the step sizes, as the claim summary does over its cells (``summary.with_family``)
    return with_family(pd.DataFrame(rows))


def _zo_block(contributions: pd.DataFrame | None, label: str) -> dict:
    names = ("x_share_expected", "x_share_measured", "x_distance_end", "y_distance_end")
    if contributions is None or label not in set(contributions["method"]):
        return dict.fromkeys(names, math.nan)
    row = contributions.set_index("method").loc[label]
    return {name: float(row[name]) for name in names}


def read_source_tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per seed, probes) from the tables an earlier analysis wrote; the probes may be absent."""
    per_seed_path, probes_path = (Path(out) / name for name in SOURCE_TABLES)
    if not per_seed_path.is_file():
        raise FileNotFoundError(f"{out} holds neither run folders nor {per_seed_path.name}")
    return pd.read_csv(per_seed_path), (pd.read_csv(probes_path) if probes_path.is_file() else pd.DataFrame())


def x_positions(eta_xs) -> np.ndarray:
    """Where each eta_x sits on a log axis: eta_x = 0 one decade below the smallest positive one (its tick says
    0), so that the still-x arm stands beside the others."""
    eta_xs = np.asarray(eta_xs, dtype=float)
    positive = eta_xs[eta_xs > 0]
    zero_at = positive.min() / 10 if positive.size else 1.0
    return np.where(eta_xs > 0, eta_xs, zero_at)
