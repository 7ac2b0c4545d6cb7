"""Runs of the method-comparison figures (Fig 3, 6, 7): panel configs checked and turned into training specs,
trained through ``figure_runs`` (stored once, shared), and written as tidy tables, one row per record:

- ``<name>.csv``: per step: panel, problem, method, seed, step, loss (minibatch), smoothed loss (trailing
  running mean over ``window`` steps), elapsed seconds of training steps;
- ``<name>_evals.csv``: dev loss and accuracy every ``eval_every`` steps;
- ``<name>_targets.csv``: steps (and seconds) to a target dev loss per method, over seeds.
Steps-to-target is read from the dev loss, not the minibatch loss: every run starts at the same point and is
evaluated on the same dev examples, so the curves differ only by training, while a minibatch loss (even
averaged over an epoch) moves with the sample order. The target is set from the runs themselves:
D0 - f (D0 - D_best), with D0 the dev loss at the start and D_best the lowest final seed-mean dev loss of
any method (f = ``target_fraction``); when no method improved on D0 by at least ``MIN_IMPROVEMENT`` (relative)
there is no target (nan): a smaller change is within the noise of a few dozen dev examples.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.run_description import RunDescription
from ..errors import UsageError
from ..optim.hybrid_sgd import METHODS
from . import figure_runs as mr
from .registry import read_table, write_config, write_table

MIN_IMPROVEMENT = 0.01
METHOD_ORDER = ("hybrid", "fo_peft", "fo_full", "zo_full", "zo_peft")

# (forwards, backwards over y, backwards over x) per step, fo_point = clean, central ZO, q = 1; every method
# records its loss from these passes (the FO-only ones from their gradient's forward), so no other pass runs
PASSES = {
    "hybrid": (3, 1, 0),  # ZO on x: 2 forwards; FO on y: forward + backward through y only
    "hybrid+plus": (2, 1, 0),  # the adapter gradient rides on the ZO forward at x + mu u
    "hybrid+sym": (2, 2, 0),  # ... and on the one at x - mu u
    "fo_peft": (1, 1, 0),
    "fo_full": (1, 1, 1),  # one backward that reaches both blocks
    "zo_full": (2, 0, 0),
    "zo_peft": (2, 0, 0),
}
# the FO points the hybrid may take besides the clean one, with their line styles in the plots
FO_POINT_STYLES = {"plus": ":", "sym": "-."}


def _int(value, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise UsageError(f"config {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def validate_panels(config: Mapping) -> None:
    _int(config.get("window"), "window", 1)
    f = config.get("target_fraction")
    if not isinstance(f, (int, float)) or not 0 < f < 1:
        raise UsageError(f"config 'target_fraction' must lie in (0, 1), got {f!r}")
    panels = config.get("panels")
    if not isinstance(panels, (list, tuple)) or not panels:
        raise UsageError("config 'panels' must be a non-empty list of {label, problem, methods, seeds, steps, ...}")
    for i, p in enumerate(panels):
        where = f"panel {i}"
        if not isinstance(p, Mapping):
            raise UsageError(f"{where} must be a mapping, got {p!r}")
        missing = [k for k in ("label", "problem", "methods", "seeds", "steps") if k not in p]
        if missing:
            raise UsageError(f"{where} lacks {', '.join(missing)}")
        if not isinstance(p["problem"], str) or not p["problem"].startswith("llm:"):
            raise UsageError(f"{where}: problem must be an llm:... string, got {p['problem']!r}")
        methods = p["methods"]
        if not isinstance(methods, Mapping) or not methods:
            raise UsageError(f"{where}: methods must map method names to [eta_x, eta_y]")
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise UsageError(f"{where}: unknown method(s) {', '.join(unknown)}; accepted: {', '.join(METHODS)}")
        seeds = p["seeds"]
        if not isinstance(seeds, (list, tuple)) or not seeds:
            raise UsageError(f"{where}: seeds must be a non-empty list of integers")
        for s in seeds:
            _int(s, f"{where} seed", 0)
        _int(p["steps"], f"{where} steps", 2)
        fo_points = p.get("fo_points", [])
        if (
            not isinstance(fo_points, (list, tuple))
            or any(f not in FO_POINT_STYLES for f in fo_points)
            or (fo_points and "hybrid" not in methods)
        ):
            raise UsageError(
                f"{where}: fo_points must list FO points of the hybrid from "
                f"{', '.join(FO_POINT_STYLES)} (and the panel must run hybrid), got {fo_points!r}"
            )
        _int(p.get("eval_every", 0), f"{where} eval_every", 0)
        panel_specs(p)  # step sizes, mu: the optimizer's own checks, as one-line errors


def panels_runs(config: Mapping) -> list[RunDescription]:
    """Every run of a method-comparison figure, panel by panel: what its run trains (``Experiment.runs``)."""
    validate_panels(config)
    return [spec for p in config["panels"] for spec in panel_specs(p)]


def panel_specs(panel: Mapping) -> list[RunDescription]:
    specs = []
    for method in ordered_variants(panel["methods"]):
        pair = panel["methods"][method]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise UsageError(f"method {method}: step sizes must be [eta_x, eta_y], got {pair!r}")
        fo_points = ["clean", *panel.get("fo_points", [])] if method == "hybrid" else ["clean"]
        for fo_point in fo_points:
            for seed in panel["seeds"]:
                specs.append(
                    mr.figure_run(
                        panel["problem"],
                        method,
                        float(pair[0]),
                        float(pair[1]),
                        int(panel["steps"]),
                        seed=int(seed),
                        mu=float(panel.get("mu", 1e-3)),
                        fo_point=fo_point,
                        eval_every=int(panel.get("eval_every", 0)),
                        eval_limit=panel.get("eval_limit"),
                    )
                )
    return specs


def ordered_variants(methods) -> list[str]:
    """Methods in the figures' order; variants (``hybrid+plus``) right after their method."""
    methods = list(methods)
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(methods, key=lambda v: (rank.get(base_method(v), len(rank)), v != base_method(v), v))


def base_method(variant: str) -> str:
    return variant.split("+")[0]


def with_variant(df: pd.DataFrame) -> pd.DataFrame:
    """Tables written before FO points were recorded have only ``method``: the variant is the method."""
    return df if "variant" in df.columns else df.assign(variant=df["method"])


def targets_table(evals: pd.DataFrame, *, fraction: float) -> pd.DataFrame:
    """Steps and training seconds to the panel's target dev loss per method (mean over the seeds that reach
    it; resolution: the evaluation interval). A hybrid run with another FO point counts as its own method
    (``hybrid+plus``)."""
    evals = with_variant(evals)
    rows = []
    for panel, df in evals.groupby("panel", sort=False):
        start = float(df[df["step"] == 0]["dev_loss"].mean())
        last_step = df.groupby(["variant", "seed"])["step"].transform("max")
        final = df[df["step"] == last_step].groupby("variant")["dev_loss"].mean()
        best = float(final.min())
        target = start - fraction * (start - best) if best < (1 - MIN_IMPROVEMENT) * start else math.nan
        for method, dm in df.groupby("variant", sort=False):
            hits, secs = [], []
            for _, run in dm.groupby("seed"):
                run = run[run["step"] > 0].sort_values("step")
                reached = run[run["dev_loss"] <= target]
                if len(reached):
                    hits.append(int(reached["step"].iloc[0]))
                    secs.append(float(reached["seconds"].iloc[0]))
            rows.append(
                {
                    "panel": panel,
                    "method": method,
                    "target_dev_loss": target,
                    "start_dev_loss": start,
                    "best_final_dev_loss": best,
                    "final_dev_loss": float(final[method]),
                    "final_dev_accuracy": float(dm[dm["step"] == dm["step"].max()]["dev_accuracy"].mean()),
                    "seeds": dm["seed"].nunique(),
                    "reached": len(hits),
                    "steps_to_target": float(np.mean(hits)) if hits else math.nan,
                    "seconds_to_target": float(np.mean(secs)) if secs else math.nan,
                }
            )
    out = pd.DataFrame(rows)
    out["steps_ratio_to_fo_peft"] = math.nan
    for _panel, idx in out.groupby("panel").groups.items():
        ref = out.loc[idx][out.loc[idx, "method"] == "fo_peft"]["steps_to_target"]
        if len(ref):
            out.loc[idx, "steps_ratio_to_fo_peft"] = out.loc[idx, "steps_to_target"] / float(ref.iloc[0])
    return out


def _run_panels(name: str, config: Mapping, out_dir: Path) -> None:
    validate_panels(config)
    out_dir = Path(out_dir)
    cache = out_dir.parent / mr.MODEL_RUNS_DIR
    window = int(config["window"])
    steps_parts, eval_parts = [], []
    for p in config["panels"]:
        runs = mr.train_all(cache, panel_specs(p))
        st = mr.steps_table(runs, panel=p["label"])
        st["smoothed"] = st.groupby(["variant", "seed"], sort=False)["loss"].transform(lambda s: mr.smoothed(s, window))
        steps_parts.append(st)
        eval_parts.append(mr.evals_table(runs, panel=p["label"]))
    steps = pd.concat(steps_parts, ignore_index=True)
    evals = pd.concat(eval_parts, ignore_index=True)
    cols = [
        "panel",
        "problem",
        "method",
        "fo_point",
        "variant",
        "seed",
        "step",
        "loss",
        "smoothed",
        "seconds",
        "elapsed",
        "eta_x",
        "eta_y",
        "mu",
        "diverged",
    ]
    write_table(out_dir, f"{name}.csv", steps[cols])
    write_table(out_dir, f"{name}_evals.csv", evals)
    write_table(out_dir, f"{name}_targets.csv", targets_table(evals, fraction=float(config["target_fraction"])))
    write_config(out_dir, config)


def run_fig3(config, out_dir):
    _run_panels("fig3", config, out_dir)


def run_fig6(config, out_dir):
    _run_panels("fig6", config, out_dir)


def run_fig7(config, out_dir):
    _run_panels("fig7", config, out_dir)
    out_dir = Path(out_dir)
    write_table(out_dir, "fig7_costs.csv", cost_table(read_table(out_dir, "fig7.csv")))


def cost_table(steps: pd.DataFrame) -> pd.DataFrame:
    """Per method: passes per step (analytic, fo_point clean) and the measured seconds per step, as ratios to
    FO-PEFT and to the time of two ZO forwards (half a ZO-PEFT step) measured in the same runs."""
    steps = with_variant(steps)
    rows = []
    for panel, df in steps.groupby("panel", sort=False):
        per = df.groupby("variant")["seconds"].agg(["mean", "std", "count"])
        ref = per["mean"].get("fo_peft", math.nan)
        two_fwd = per["mean"].get("zo_peft", math.nan)
        for method in ordered_variants(per.index):
            f, by, bx = PASSES.get(method, (math.nan, math.nan, math.nan))
            rows.append(
                {
                    "panel": panel,
                    "method": method,
                    "forwards": f,
                    "backward_y": by,
                    "backward_x": bx,
                    "seconds_per_step": per.loc[method, "mean"],
                    "seconds_std": per.loc[method, "std"],
                    "steps_timed": int(per.loc[method, "count"]),
                    "ratio_to_fo_peft": per.loc[method, "mean"] / ref,
                    "ratio_to_zo_peft_step": per.loc[method, "mean"] / two_fwd,
                }
            )
    return pd.DataFrame(rows)
