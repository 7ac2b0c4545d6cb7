"""The claim test's tables, read from its finished run folders: tuning, per seed, learning curves, probes,
and the summaries built on them (intervals per method, paired differences, steps to target, the control,
the ZO block's share of the decrease, the budget). Everything is a pandas DataFrame; nothing trains here."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.model_run import PROBES_FILE
from ..engine.rundir import EVALS_FILE, load_run
from .cells import CONTROL, Cell
from .stats import bootstrap_interval, exact_mcnemar_p, paired_difference

# forward and backward passes of one step (q = 1, central ZO form, FO gradient at the clean point)
PASSES = {
    "hybrid": (3, "adapter"),
    "fo_peft": (1, "adapter"),
    "fo_full": (1, "all weights"),
    "zo_full": (2, ""),
    "zo_peft": (2, ""),
    CONTROL: (3, "adapter"),
}
TARGET_FRACTION = 0.9  # the target dev loss: 90% of FO-PEFT's mean decrease to its lowest point
LEVEL_WINDOW = 0.25  # "levelled off": the last quarter of the run gives under LEVEL_SHARE of the decrease
LEVEL_SHARE = 0.1
CONTROL_TOLERANCE = 1e-3  # relative difference of the dev loss along the run that still counts as rounding
DROP = 0.1  # a fall of the dev accuracy from its best to the end of the run that counts as a collapse
PAIRS = (("hybrid", "fo_peft"), ("hybrid", "fo_full"))  # the comparisons the claim is about
PLANNED_DIFFERENCE = 0.01  # one point of accuracy: the difference whose seeds the paired table plans
# what the hybrid's code path does with no ZO step: the size of difference rounding alone makes, to read the
# claim's comparisons against
CONTROL_PAIRS = ((CONTROL, "fo_peft"),)


def best_evaluation(evals: pd.DataFrame | None) -> dict:
    """The evaluation with the highest dev accuracy (ties: the lower dev loss, then the earlier step)."""
    if evals is None or evals.empty:
        return {"best_dev_step": math.nan, "best_dev_accuracy": math.nan, "best_dev_loss": math.nan}
    row = evals.sort_values(["dev_accuracy", "dev_loss", "step"], ascending=[False, True, True]).iloc[0]
    return {
        "best_dev_step": int(row["step"]),
        "best_dev_accuracy": float(row["dev_accuracy"]),
        "best_dev_loss": float(row["dev_loss"]),
    }


def run_record(folder: Path) -> dict:
    """A finished run folder as one row of the claim tables (its evaluations and probes under "evals" and
    "probes")."""
    rec = load_run(folder)
    s = rec.summary
    evals = rec.tables.get(EVALS_FILE)
    # a diverged run's last evaluation is from before it diverged: it cannot be its best point either
    best = best_evaluation(None if s.get("diverged") else evals)
    return {
        "diverged": bool(s.get("diverged")),
        "diagnosis": s.get("diagnosis", ""),
        "steps_done": s.get("steps"),
        "train_seconds": s.get("seconds"),
        "final_dev_loss": s.get("final_dev_loss"),
        "final_dev_accuracy": s.get("final_dev_accuracy"),
        **best,
        # the test split at the best dev evaluation (the primary measure, MeZO's best checkpoint) and at the end
        "test_accuracy": s.get("best_test_accuracy"),
        "test_loss": s.get("best_test_loss"),
        "final_test_accuracy": s.get("final_test_accuracy"),
        "final_test_loss": s.get("final_test_loss"),
        "evals": evals,
        "probes": rec.tables.get(PROBES_FILE),
        "folder": str(folder),
    }


def zo_precisions(per_seed: pd.DataFrame) -> dict[str, str]:
    """Each method's ZO precision (``zo.precision``) as its seeded runs record it; tables written before they
    recorded it ran in plain precision, the only one there was for their cells."""
    recorded = per_seed["zo_precision"] if "zo_precision" in per_seed else pd.Series("plain", index=per_seed.index)
    found = recorded.fillna("plain").groupby(per_seed["method"], sort=False).unique()
    return {m: ", ".join(sorted(v)) for m, v in found.items()}


TEST_COLUMNS = ("test_accuracy", "test_loss", "final_test_accuracy", "final_test_loss")


def tuning_table(cell: Cell, root: Path) -> pd.DataFrame:
    rows = []
    for method, _setting, run in cell.tuning_runs():
        rec = run_record(Path(root) / run.content_hash())
        rec.pop("evals"), rec.pop("probes")
        # the run measured the test split for its seed's final table; the selection must not see it
        rec.update(dict.fromkeys(TEST_COLUMNS))
        rows.append({"method": method, "eta_x": run.eta_x, "eta_y": run.eta_y, "mu": run.mu, **rec})
    return pd.DataFrame(rows)


def final_tables(cell: Cell, selected: dict, root: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(per seed, learning curves, probes) of the final runs, each row with its method and seed."""
    rows, curves, probes = [], [], []
    for method, seed, run in cell.final_runs(selected):
        rec = run_record(Path(root) / run.content_hash())
        evals, probe = rec.pop("evals"), rec.pop("probes")
        labels = {"method": method, "seed": seed}
        # the ZO rounding mode changes a run's numbers as a step size does (``claim pool`` keeps it apart)
        setting = {"eta_x": run.eta_x, "eta_y": run.eta_y, "mu": run.mu, "zo_precision": run.zo_precision}
        rows.append({**labels, **setting, **rec})
        if evals is not None:
            curves.append(evals.assign(**labels))
        if probe is not None and len(probe):
            probes.append(probe.assign(**labels))
    cat = lambda frames: pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()  # noqa: E731
    return pd.DataFrame(rows), cat(curves), cat(probes)


def method_summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Per method: test accuracy and final dev loss with bootstrap 95% intervals over seeds."""
    rows = []
    for method, df in per_seed.groupby("method", sort=False):
        ok = df[~df["diverged"]]
        acc = bootstrap_interval(ok["test_accuracy"].astype(float))
        final_acc = bootstrap_interval(ok["final_test_accuracy"].astype(float))
        loss = bootstrap_interval(ok["final_dev_loss"].astype(float))
        dev_acc = bootstrap_interval(ok["best_dev_accuracy"].astype(float))
        rows.append(
            {
                "method": method,
                "seeds": len(df),
                "diverged": int(df["diverged"].sum()),
                "eta_x": float(df["eta_x"].iloc[0]),
                "eta_y": float(df["eta_y"].iloc[0]),
                "test_accuracy": acc[0],
                "test_accuracy_low": acc[1],
                "test_accuracy_high": acc[2],
                "final_test_accuracy": final_acc[0],
                "final_test_accuracy_low": final_acc[1],
                "final_test_accuracy_high": final_acc[2],
                "dev_loss": loss[0],
                "dev_loss_low": loss[1],
                "dev_loss_high": loss[2],
                "best_dev_accuracy": dev_acc[0],
                # seeds whose dev accuracy fell DROP points or more from its best by the end (plain SGD's late
                # collapses, which separate the end-of-run numbers from the best-checkpoint ones)
                "dropped_at_end": int(collapsed(ok).sum()),
                "best_dev_step": float(ok["best_dev_step"].mean()) if len(ok) else math.nan,
                "train_seconds": float(df["train_seconds"].mean()),
            }
        )
    return pd.DataFrame(rows)


def _aligned(per_seed: pd.DataFrame, a: str, b: str, column: str) -> tuple[np.ndarray, np.ndarray]:
    wide = per_seed[per_seed["method"].isin([a, b])].pivot(index="seed", columns="method", values=column)
    wide = wide.reindex(columns=[a, b]).astype(float)
    return wide[a].to_numpy(), wide[b].to_numpy()


PAIRED_COLUMNS = (
    "comparison",
    "metric",
    "pairs",
    "mean_difference",
    "bootstrap_low",
    "bootstrap_high",
    "t_low",
    "t_high",
    "low",
    "high",
    "detectable_difference",
    "seeds_to_detect_planned",
    "seeds_to_detect_by_rank",
    "hodges_lehmann",
    "hodges_lehmann_low",
    "hodges_lehmann_high",
    "hodges_lehmann_level",
    "sign_flip_p",
    "signed_rank_p",
    "smallest_possible_p",
    "verdict",
)
COLLAPSE_COLUMNS = ("comparison", "pairs", "collapsed_a", "collapsed_b", "only_a", "only_b", "mcnemar_p")


def paired_table(per_seed: pd.DataFrame, pairs=PAIRS) -> pd.DataFrame:
    """The paired differences a - b (test accuracy: higher is better; final dev loss: lower is better)."""
    rows = []
    methods = set(per_seed["method"])
    for a, b in pairs:
        if a not in methods or b not in methods:
            continue
        for column, higher in (("test_accuracy", True), ("final_test_accuracy", True), ("final_dev_loss", False)):
            va, vb = _aligned(per_seed, a, b, column)
            # a point of accuracy is the scale the paper's tables speak in; a dev loss has no such unit
            planned = PLANNED_DIFFERENCE if column != "final_dev_loss" else None
            difference = paired_difference(va, vb, higher_is_better=higher, planned=planned)
            rows.append({"comparison": f"{a} - {b}", "metric": column, **difference})
    # a folder of one method (seeds to pool later) has no pair: the table keeps its columns for the figure
    return pd.DataFrame(rows, columns=None if rows else PAIRED_COLUMNS)


def collapsed(per_seed: pd.DataFrame) -> pd.Series:
    """Per run: whether it collapsed, i.e. diverged or ended DROP points or more below its best dev accuracy."""
    # accuracies are multiples of 1/n_dev: a fall of exactly DROP must not miss by a rounding of the difference
    fell = (per_seed["best_dev_accuracy"] - per_seed["final_dev_accuracy"]) >= DROP - 1e-9
    return per_seed["diverged"].astype(bool) | fell


def collapse_table(per_seed: pd.DataFrame, pairs=PAIRS) -> pd.DataFrame:
    """Late collapses of a against b on the same seeds: the counts, the seeds where only one collapsed, and
    the exact McNemar p-value of the difference."""
    rows = []
    table = per_seed.assign(collapsed=collapsed(per_seed).astype(float))
    methods = set(table["method"])
    for a, b in pairs:
        if a not in methods or b not in methods:
            continue
        va, vb = _aligned(table, a, b, "collapsed")
        keep = np.isfinite(va) & np.isfinite(vb)
        ca, cb = va[keep].astype(bool), vb[keep].astype(bool)
        only_a, only_b = int((ca & ~cb).sum()), int((cb & ~ca).sum())
        rows.append(
            {
                "comparison": f"{a} - {b}",
                "pairs": int(keep.sum()),
                "collapsed_a": int(ca.sum()),
                "collapsed_b": int(cb.sum()),
                "only_a": only_a,
                "only_b": only_b,
                "mcnemar_p": exact_mcnemar_p(only_a, only_b),
            }
        )
    return pd.DataFrame(rows, columns=None if rows else COLLAPSE_COLUMNS)


def target_dev_loss(curves: pd.DataFrame) -> float:
    """90% of FO-PEFT's decrease of the mean dev loss from the start to its lowest point along the run (nan
    when it never decreased). The lowest point, not the last: a run that collapses late must not move the
    target above what every method reached on the way."""
    fo = curves[curves["method"] == "fo_peft"]
    if fo.empty:
        return math.nan
    mean = fo.groupby("step")["dev_loss"].mean().sort_index()
    start, lowest = float(mean.iloc[0]), float(mean.min())
    return start - TARGET_FRACTION * (start - lowest) if lowest < start else math.nan


def targets_table(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Steps and training seconds until the dev loss first reaches ``target`` (resolution: the evaluation
    interval), with bootstrap intervals over the seeds that reach it."""
    rows = []
    for method, df in curves.groupby("method", sort=False):
        steps, secs, n = [], [], 0
        for _, run in df.groupby("seed"):
            n += 1
            run = run[run["step"] > 0].sort_values("step")
            hit = run[run["dev_loss"] <= target]
            if len(hit):
                steps.append(float(hit["step"].iloc[0]))
                secs.append(float(hit["seconds"].iloc[0]))
        s, sec = bootstrap_interval(steps), bootstrap_interval(secs)
        rows.append(
            {
                "method": method,
                "target_dev_loss": target,
                "seeds": n,
                "reached": len(steps),
                "steps_to_target": s[0],
                "steps_low": s[1],
                "steps_high": s[2],
                "seconds_to_target": sec[0],
                "seconds_low": sec[1],
                "seconds_high": sec[2],
            }
        )
    return pd.DataFrame(rows)


def levelled_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method, on the mean dev loss over seeds: its start, its lowest value up to three quarters of the run
    and up to the end, and the share of the whole decrease that the last quarter added to the lowest value
    (a running minimum, so that a late spike of plain SGD does not read as progress or as its absence);
    ``levelled`` when that share is under 10%."""
    rows = []
    for method, df in curves.groupby("method", sort=False):
        mean = df.groupby("step")["dev_loss"].mean().sort_index()
        steps = mean.index.to_numpy()
        last = steps.max()
        late = steps[np.argmin(np.abs(steps - (1 - LEVEL_WINDOW) * last))]
        start = float(mean.iloc[0])
        best_early, best = float(mean[mean.index <= late].min()), float(mean.min())
        total = start - best
        share = (best_early - best) / total if total > 0 else math.nan
        rows.append(
            {
                "method": method,
                "dev_loss_start": start,
                "step_three_quarters": int(late),
                "lowest_by_three_quarters": best_early,
                "lowest_by_end": best,
                "dev_loss_end": float(mean.iloc[-1]),
                "last_quarter_share": share,
                "levelled": bool(share < LEVEL_SHARE) if math.isfinite(share) else False,
            }
        )
    return pd.DataFrame(rows)


def _control_seeds(per_seed: pd.DataFrame) -> list:
    # a control run in a folder of its own meets FO-PEFT's runs of its seeds only once pooled with them
    return sorted(
        set(per_seed[per_seed["method"] == CONTROL]["seed"]) & set(per_seed[per_seed["method"] == "fo_peft"]["seed"])
    )


def control_steps(per_seed: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """The hybrid at eta_x = 0 beside FO-PEFT at every evaluation of the seeds both ran: both dev losses and
    their relative difference |control - FO-PEFT| / |FO-PEFT| (the control's figure, and its table's source)."""
    rows = []
    for seed in _control_seeds(per_seed):
        c = curves[(curves["method"] == CONTROL) & (curves["seed"] == seed)].set_index("step")["dev_loss"]
        f = curves[(curves["method"] == "fo_peft") & (curves["seed"] == seed)].set_index("step")["dev_loss"]
        both = c.index.intersection(f.index)
        rows.append(
            pd.DataFrame(
                {
                    "seed": seed,
                    "step": both,
                    "control_dev_loss": c[both].to_numpy(),
                    "fo_peft_dev_loss": f[both].to_numpy(),
                    "relative_difference": ((c[both] - f[both]).abs() / f[both].abs()).to_numpy(),
                }
            )
        )
    columns = ["seed", "step", "control_dev_loss", "fo_peft_dev_loss", "relative_difference"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)


def _diverged_step(row: pd.Series) -> float:
    # a diverged run records the step it diverged at as its last (steps_done counts it)
    return float(row["steps_done"]) - 1 if bool(row["diverged"]) else math.nan


def control_table(per_seed: pd.DataFrame, curves: pd.DataFrame) -> pd.DataFrame:
    """The hybrid at eta_x = 0 against FO-PEFT on the same seeds: the largest relative difference of the dev
    loss along the run and the first evaluation where it exceeds ``CONTROL_TOLERANCE``, the step each run
    diverged at (a run that diverges where the other does not, or at another step, has come apart there,
    whatever their shared evaluations say), and the differences of the test accuracy and loss at the best dev
    checkpoint."""
    steps = control_steps(per_seed, curves).set_index("step")
    rows = []
    for seed in _control_seeds(per_seed):
        rel = steps[steps["seed"] == seed]["relative_difference"]
        pc = per_seed[(per_seed["method"] == CONTROL) & (per_seed["seed"] == seed)].iloc[0]
        pf = per_seed[(per_seed["method"] == "fo_peft") & (per_seed["seed"] == seed)].iloc[0]
        worst = float(rel.max()) if len(rel) else math.nan
        apart = [float(s) for s in rel[rel > CONTROL_TOLERANCE].index[:1]]
        stops = (_diverged_step(pc), _diverged_step(pf))
        same_end = stops[0] == stops[1] or all(math.isnan(s) for s in stops)
        if not same_end:
            apart.append(min(s for s in stops if not math.isnan(s)))
        rows.append(
            {
                "seed": seed,
                "evaluations": len(rel),
                "max_relative_dev_loss_difference": worst,
                # where rounding differences grew past the tolerance: late, and growing step by step, is the
                # amplification of perturb/restore rounding by an unstable step; at step 0 a code-path difference
                "first_step_apart": min(apart) if apart else math.nan,
                "first_evaluation_difference": float(rel[rel.index > 0].iloc[0]) if (rel.index > 0).any() else math.nan,
                "control_diverged_at": stops[0],
                "fo_peft_diverged_at": stops[1],
                "test_accuracy_difference": float(pc["test_accuracy"]) - float(pf["test_accuracy"]),
                "test_loss_difference": float(pc["test_loss"]) - float(pf["test_loss"]),
                "matches_to_rounding": bool(worst <= CONTROL_TOLERANCE and same_end),
            }
        )
    return pd.DataFrame(rows)


def contribution_table(probes: pd.DataFrame, every: int) -> pd.DataFrame:
    """Per method: the first-order decrease of the probe loss owed to each block, summed over the probed
    steps and scaled by the probe interval (a Riemann sum over the run), measured (one draw per step) and
    expected (the step's mean direction); the ZO/x block's share of each; how far each block moved."""
    rows = []
    for method, df in probes.groupby("method", sort=False):
        per_seed = df.groupby("seed")
        sums = per_seed[["x_change", "y_change", "x_expected", "y_expected"]].sum() * every
        last = df[df["step"] == df["step"].max()]
        x_meas, y_meas = sums["x_change"].to_numpy(), sums["y_change"].to_numpy()
        x_exp, y_exp = sums["x_expected"].to_numpy(), sums["y_expected"].to_numpy()

        def share(x, y):
            total = x + y
            return float(np.mean(np.where(total != 0, x / np.where(total == 0, 1, total), np.nan)))

        rows.append(
            {
                "method": method,
                "seeds": len(sums),
                "x_first_order": float(x_meas.mean()),
                "y_first_order": float(y_meas.mean()),
                "x_expected": float(x_exp.mean()),
                "y_expected": float(y_exp.mean()),
                "x_share_measured": share(x_meas, y_meas),
                "x_share_expected": share(x_exp, y_exp),
                "grad_x_norm": float(df["grad_x_norm"].mean()),
                "grad_y_norm": float(df["grad_y_norm"].mean()),
                "x_distance_end": float(last["x_distance"].mean()),
                "y_distance_end": float(last["y_distance"].mean()),
            }
        )
    return pd.DataFrame(rows)


def budget_table(tuning: pd.DataFrame, per_seed: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Per method: steps per run, passes per step, mean seconds per step, runs and training seconds spent
    in tuning and in the seeded runs (evaluations excluded). A seeded run that is also a tuning run (the
    selected setting on the tuning seed) is counted once, with the tuning runs; ``shared_runs`` counts them."""
    rows = []
    methods = list(dict.fromkeys([*tuning["method"], *per_seed["method"]]))
    tuned = set(tuning["folder"]) if "folder" in tuning else set()
    for method in methods:
        t = tuning[tuning["method"] == method]
        f = per_seed[per_seed["method"] == method]
        shared = f["folder"].isin(tuned) if "folder" in f else pd.Series(False, index=f.index)
        new = f[~shared]
        both = pd.concat([t, new])
        done = both["steps_done"].astype(float).sum()
        forwards, backward = PASSES.get(method, (math.nan, ""))
        rows.append(
            {
                "method": method,
                "steps_per_run": steps,
                "forwards_per_step": forwards,
                "backward_per_step": f"1 ({backward})" if backward else "0",
                "seconds_per_step": float(both["train_seconds"].sum() / done) if done else math.nan,
                "tuning_runs": len(t),
                "tuning_seconds": float(t["train_seconds"].sum()),
                "seeded_runs": len(f),
                "shared_runs": int(shared.sum()),
                "seeded_seconds": float(new["train_seconds"].sum()),
            }
        )
    return pd.DataFrame(rows)
