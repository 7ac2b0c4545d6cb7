"""The paper's method comparisons: Figure 3 (Hybrid vs the four baselines), Figure 6 (the same over more
model/data pairs) and Figure 7 (Figure 3 against measured wall-clock, with a per-step cost table).

One experiment shape serves all three: a list of *panels*, each a problem, the methods with their step sizes,
the seeds and the number of steps. Runs go through ``figure_runs`` (stored once, shared: Figure 7's quick
config is Figure 3's, so it re-plots Figure 3's runs against time instead of retraining).

Tables written (all tidy, one row per record):
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

from ..errors import UsageError
from ..optim.hybrid_sgd import METHODS
from . import figure_runs as mr
from . import style
from .paper_setup import FULL_DATA, llm_problem
from .registry import Experiment, read_config, read_table, write_config, write_table

MIN_IMPROVEMENT = 0.01
METHOD_ORDER = ("hybrid", "fo_peft", "fo_full", "zo_full", "zo_peft")

# (forwards, backwards over y, backwards over x) per step, fo_point = clean, central ZO, q = 1; a logging
# forward of the FO-only methods is outside the timed step and not counted
PASSES = {
    "hybrid": (3, 1, 0),  # ZO on x: 2 forwards; FO on y: forward + backward through y only
    "hybrid+plus": (2, 1, 0),  # the adapter gradient rides on the ZO forward at x + mu u
    "hybrid+sym": (2, 2, 0),  # ... and on the one at x - mu u
    "fo_peft": (1, 1, 0),
    "fo_full": (1, 1, 1),  # one backward that reaches both blocks
    "zo_full": (2, 0, 0),
    "zo_peft": (2, 0, 0),
}

# Plain SGD step sizes, set by hand per model and kept inside the FO limit 2/L_y of the measured adapter
# curvature: MiniLM LoRA on tweets L_y ~ 1.1 (eta_y = 0.5; 1.0 makes the dev loss jump), on BBC topics
# L_y ~ 0.2 at the start (eta_y = 0.3: 1.0 oscillates within 16 steps), SmolLM2 LoRA L_y ~ 7 (eta_y = 0.1;
# 1.0 diverges). The ZO x-steps sit far above the
# ZO mean-square limit 2/(L_x (d_x + 2)) ~ 1e-8 of a 2.3e7-dimensional block, as MeZO's do (1e-6 on SmolLM2).
QUICK_STEPS = {
    "hybrid": [1e-5, 0.5],
    "fo_peft": [0.0, 0.5],
    "fo_full": [1e-3, 0.5],
    "zo_full": [1e-5, 0.0],
    "zo_peft": [0.0, 1e-2],
}
QUICK_STEPS_TOPIC = {**QUICK_STEPS, "hybrid": [1e-5, 0.3], "fo_peft": [0.0, 0.3], "fo_full": [1e-3, 0.3]}
QUICK_STEPS_SMOLLM2 = {"hybrid": [1e-6, 0.1], "fo_peft": [0.0, 0.1], "zo_full": [1e-6, 0.0]}
FULL_STEPS_SMOLLM2 = {**QUICK_STEPS_SMOLLM2, "fo_full": [1e-5, 0.1], "zo_peft": [0.0, 1e-3]}


def _panel(
    problem: str,
    label: str,
    *,
    methods=None,
    seeds=(0, 1),
    steps: int = 24,
    eval_every: int = 4,
    eval_limit: int | None = 32,
    mu: float = 1e-3,
) -> dict:
    return {
        "label": label,
        "problem": problem,
        "methods": dict(methods or QUICK_STEPS),
        "seeds": list(seeds),
        "steps": steps,
        "eval_every": eval_every,
        "eval_limit": eval_limit,
        "mu": mu,
    }


# window = one epoch of the quick data (64 examples / batch 8): the running mean then averages every minibatch once
FIG3_QUICK = {
    "mode": "quick",
    "window": 8,
    "target_fraction": 0.5,
    "panels": [_panel(llm_problem("minilm", "lora"), "MiniLM + LoRA, tweet sentiment")],
}
FIG3_FULL = {
    "mode": "full",
    "window": 63,
    "target_fraction": 0.5,
    "panels": [
        _panel(
            llm_problem("smollm2", "lora", **FULL_DATA),
            "SmolLM2-135M + LoRA, tweet sentiment",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
            methods=FULL_STEPS_SMOLLM2,
        )
    ],
}
# Figure 7: Figure 3's runs (shared) plus the hybrid with its FO gradient at the perturbed points (THEORY 2.3)
FIG7_QUICK = {**FIG3_QUICK, "panels": [{**FIG3_QUICK["panels"][0], "fo_points": ["plus", "sym"]}]}
FIG7_FULL = {**FIG3_FULL, "panels": [{**FIG3_FULL["panels"][0], "fo_points": ["plus", "sym"]}]}
FIG6_QUICK = {
    "mode": "quick",
    "window": 8,
    "target_fraction": 0.5,
    "panels": [
        FIG3_QUICK["panels"][0],
        _panel(
            llm_problem("minilm", "lora", "topic"),
            "MiniLM + LoRA, BBC topics (5 classes)",
            seeds=(0,),
            steps=16,
            eval_every=4,
            methods=QUICK_STEPS_TOPIC,
        ),
        _panel(
            llm_problem("smollm2", "lora"),
            "SmolLM2-135M + LoRA, tweet sentiment",
            seeds=(0,),
            steps=8,
            eval_every=4,
            eval_limit=32,
            methods=QUICK_STEPS_SMOLLM2,
        ),
    ],
}
FIG6_FULL = {
    "mode": "full",
    "window": 63,
    "target_fraction": 0.5,
    "panels": [
        FIG3_FULL["panels"][0],
        _panel(
            llm_problem("smollm2", "lora", "topic", **FULL_DATA),
            "SmolLM2-135M + LoRA, BBC topics",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
            methods=FULL_STEPS_SMOLLM2,
        ),
        _panel(
            llm_problem("smollm2", "prompt", **FULL_DATA),
            "SmolLM2-135M + prompt tuning, tweet sentiment",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
            methods=FULL_STEPS_SMOLLM2,
        ),
        _panel(
            llm_problem("minilm", "lora", **FULL_DATA),
            "MiniLM + LoRA, tweet sentiment",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
        ),
    ],
}


# --- validation ---------------------------------------------------------------------------------------------
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


def panel_specs(panel: Mapping) -> list[mr.TrainSpec]:
    specs = []
    for method in _ordered(panel["methods"]):
        pair = panel["methods"][method]
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise UsageError(f"method {method}: step sizes must be [eta_x, eta_y], got {pair!r}")
        fo_points = ["clean", *panel.get("fo_points", [])] if method == "hybrid" else ["clean"]
        for fo_point in fo_points:
            for seed in panel["seeds"]:
                specs.append(
                    mr.TrainSpec(
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


def _ordered(methods) -> list[str]:
    """Methods in the figures' order; variants (``hybrid+plus``) right after their method."""
    methods = list(methods)
    rank = {m: i for i, m in enumerate(METHOD_ORDER)}
    return sorted(methods, key=lambda v: (rank.get(_base(v), len(rank)), v != _base(v), v))


# --- run ------------------------------------------------------------------------------------------------------
def targets_table(evals: pd.DataFrame, *, fraction: float) -> pd.DataFrame:
    """Steps and training seconds to the panel's target dev loss per method (mean over the seeds that reach
    it; resolution: the evaluation interval). A hybrid run with another FO point counts as its own method
    (``hybrid+plus``)."""
    evals = _with_variant(evals)
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
    steps = _with_variant(steps)
    rows = []
    for panel, df in steps.groupby("panel", sort=False):
        per = df.groupby("variant")["seconds"].agg(["mean", "std", "count"])
        ref = per["mean"].get("fo_peft", math.nan)
        two_fwd = per["mean"].get("zo_peft", math.nan)
        for method in _ordered(per.index):
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


# --- plots ------------------------------------------------------------------------------------------------------
FO_POINT_STYLES = {"plus": ":", "sym": "-."}


def _base(variant: str) -> str:
    return variant.split("+")[0]


def _with_variant(df: pd.DataFrame) -> pd.DataFrame:
    """Tables written before FO points were recorded have only ``method``: the variant is the method."""
    return df if "variant" in df.columns else df.assign(variant=df["method"])


def variant_label(variant: str) -> str:
    method, _, fo_point = variant.partition("+")
    label = style.method_label(method)
    return f"{label}, FO grad at x{'+' if fo_point == 'plus' else '+-'}mu u ({fo_point})" if fo_point else label


def _band(ax, df: pd.DataFrame, x: str, y: str, variant: str) -> None:
    g = df.groupby(x)[y]
    mean, std = g.mean(), g.std().fillna(0.0)
    method, _, fo_point = variant.partition("+")
    color = style.METHOD_COLORS[method]
    # the hybrid often overlaps FO-PEFT (a tiny ZO step adds little in few steps): draw it on top, dashed
    top = method == "hybrid"
    ls = FO_POINT_STYLES.get(fo_point, "--" if top else "-")
    ax.plot(
        mean.index,
        mean.values,
        color=color,
        label=variant_label(variant),
        lw=2.0 if top else 1.6,
        ls=ls,
        zorder=4 if top else 2,
    )
    ax.fill_between(
        mean.index,
        (mean - std).values,
        (mean + std).values,
        color=color,
        alpha=style.SPREAD_ALPHA / (2 if fo_point else 1),
        lw=0,
    )


def _time_axis(df: pd.DataFrame) -> pd.DataFrame:
    """Seed-mean elapsed seconds at each step, so that runs of one method share a time grid."""
    out = df.copy()
    out["time"] = out.groupby(["variant", "step"])["elapsed"].transform("mean")
    return out


def _plot_panels(name: str, tables_dir: Path, png_path: Path, *, against: str = "step", footer: str = "") -> None:
    steps = _with_variant(read_table(tables_dir, f"{name}.csv"))
    evals = _with_variant(read_table(tables_dir, f"{name}_evals.csv"))
    targets = read_table(tables_dir, f"{name}_targets.csv")
    cfg = read_config(tables_dir)
    panels = list(dict.fromkeys(steps["panel"]))
    fig, _ = style.new_figure(ncols=3, width=16.5, height=3.7 * len(panels))
    fig.clf()
    grid = fig.subplots(len(panels), 3, squeeze=False)
    x_step = "time" if against == "time" else "step"
    x_eval = "seconds" if against == "time" else "step"
    xlabel = "wall-clock of training steps (s)" if against == "time" else "step"
    for r, panel in enumerate(panels):
        ax_loss, ax_dev, ax_acc = grid[r]
        sp = steps[steps["panel"] == panel]
        ev = evals[evals["panel"] == panel]
        if against == "time":
            sp = _time_axis(sp)
            ev = ev.assign(seconds=ev.groupby(["variant", "step"])["seconds"].transform("mean"))
        for method in _ordered(sp["variant"].unique()):
            _band(ax_loss, sp[sp["variant"] == method], x_step, "smoothed", method)
            em = ev[ev["variant"] == method]
            if len(em):
                _band(ax_dev, em, x_eval, "dev_loss", method)
                _band(ax_acc, em, x_eval, "dev_accuracy", method)
            if sp[sp["variant"] == method]["diverged"].any():
                ax_loss.plot(
                    [], [], "x", color=style.METHOD_COLORS[_base(method)], label=f"{method} diverged (stopped)"
                )
        tg = targets[targets["panel"] == panel]
        if len(tg) and np.isfinite(tg["target_dev_loss"].iloc[0]):
            ax_dev.axhline(
                float(tg["target_dev_loss"].iloc[0]), color=style.THEORY_COLOR, ls=":", lw=1, label="target dev loss"
            )
        ax_loss.set(xlabel=xlabel, ylabel=f"train loss (running mean over {cfg.get('window')} steps)", title=panel)
        ax_dev.set(xlabel=xlabel, ylabel="dev loss (cross-entropy)", title="dev loss (same examples for all)")
        ax_acc.set(xlabel=xlabel, ylabel="dev accuracy", title="dev accuracy")
        for ax in (ax_loss, ax_dev, ax_acc):
            ax.grid(True, alpha=0.3, linestyle=":")
            ax.ticklabel_format(axis="y", useOffset=False)
        ax_loss.legend(loc="best", fontsize=7.5)
        ax_dev.legend(loc="best", fontsize=7.5)
        _targets_note(ax_acc, tg, against)
    fig.suptitle(
        "mean over seeds, band = +- one std" + (" (one seed: no band)" if steps["seed"].nunique() < 2 else ""),
        fontsize=9,
    )
    fig.tight_layout()
    if footer:
        fig.text(0.5, -0.02, footer, ha="center", va="top", fontsize=8)
    style.save_figure(fig, png_path)


def _targets_note(ax, tg: pd.DataFrame, against: str) -> None:
    if not len(tg):
        return
    col = "seconds_to_target" if against == "time" else "steps_to_target"
    unit = "s" if against == "time" else "steps"
    lines = ["to target dev loss:"]
    for _, r in tg.iterrows():
        v = r[col]
        lines.append(
            f"{r['method']}: "
            + (f"{v:.3g} {unit}" if np.isfinite(v) else "not reached")
            + f" ({int(r['reached'])}/{int(r['seeds'])})"
        )
    ax.text(
        0.98,
        0.02,
        "\n".join(lines),
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        bbox=dict(boxstyle="round", fc="white", alpha=0.8),
    )


def plot_fig3(tables_dir, png_path):
    _plot_panels("fig3", Path(tables_dir), Path(png_path))


def plot_fig6(tables_dir, png_path):
    _plot_panels("fig6", Path(tables_dir), Path(png_path))


def plot_fig7(tables_dir, png_path):
    tables_dir = Path(tables_dir)
    costs = read_table(tables_dir, "fig7_costs.csv")
    note = "seconds per step (x FO-PEFT): " + "; ".join(
        f"{r['method']} {r['seconds_per_step']:.3g} ({r['ratio_to_fo_peft']:.2g}x)" for _, r in costs.iterrows()
    )
    _plot_panels("fig7", tables_dir, Path(png_path), against="time", footer=note)


# --- experiments ----------------------------------------------------------------------------------------------
_RECON = (
    "Reconstruction at small scale (THEORY 8): the paper used OPT-1.3B/LLaMA-7B on SST-2 and SuperGLUE tasks; "
    "quick mode uses MiniLM/SmolLM2-135M on small slices of real tweets and BBC News, plain SGD, few steps. "
    "Full mode (SmolLM2-135M, 1000 examples, 1000 steps x 5 seeds per method, on CUDA) has not been run."
)

EXPERIMENTS = [
    Experiment(
        name="fig3",
        kind="paper",
        title="Hybrid vs baselines (Fig 3)",
        caption=(
            "Training loss (running mean of the minibatch loss over one epoch), dev loss and dev accuracy vs "
            "step (mean +- std over seeds) for Hybrid (ZO x + FO y), FO-PEFT, FO-Full, ZO-Full (MeZO) and "
            "ZO-PEFT from one start point, with steps to a target dev loss halfway from the start to the best "
            "final dev loss (fig3_targets.csv, with the ratio to FO-PEFT). " + _RECON
        ),
        quick=FIG3_QUICK,
        full=FIG3_FULL,
        run=run_fig3,
        plot=plot_fig3,
        main_table="fig3.csv",
        tables=("fig3_evals.csv", "fig3_targets.csv"),
        required_keys=("panels", "window", "target_fraction"),
        validate=validate_panels,
    ),
    Experiment(
        name="fig6",
        kind="paper",
        title="Curves for more models and data sets (Fig 6)",
        caption=(
            "Figure 3's panels over more model/data pairs: MiniLM on tweet sentiment and on 5-class BBC "
            "News topics, SmolLM2-135M (causal LM, prompt-based classification) on tweet sentiment with the "
            "three main methods. The paper's Vicuna/LLaMA-7B on WSC/WinoGrande are replaced by the models and "
            "data that install offline here. " + _RECON
        ),
        quick=FIG6_QUICK,
        full=FIG6_FULL,
        run=run_fig6,
        plot=plot_fig6,
        main_table="fig6.csv",
        tables=("fig6_evals.csv", "fig6_targets.csv"),
        required_keys=("panels", "window", "target_fraction"),
        validate=validate_panels,
    ),
    Experiment(
        name="fig7",
        kind="paper",
        title="Performance vs wall-clock (Fig 7)",
        caption=(
            "Figure 3's runs (the same stored runs) against the measured wall-clock of their training steps "
            "(evaluations excluded), with a per-step cost table fig7_costs.csv: forward/backward passes per "
            "step and measured seconds per step as ratios to FO-PEFT and to a ZO-PEFT step (two forwards), "
            "with the hybrid's FO gradient at the clean point and at the perturbed points (plus: x + mu u, "
            "sym: the mean over x +- mu u, THEORY 2.3), which the in-place ZO step takes from its own "
            "forward passes. " + _RECON
        ),
        quick=FIG7_QUICK,
        full=FIG7_FULL,
        run=run_fig7,
        plot=plot_fig7,
        main_table="fig7_costs.csv",
        tables=("fig7.csv", "fig7_evals.csv", "fig7_targets.csv"),
        required_keys=("panels", "window", "target_fraction"),
        validate=validate_panels,
    ),
]
