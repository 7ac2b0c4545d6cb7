"""Fig 4 of the paper: the soft-prompt ablation, two one-at-a-time sweeps over mu and over eta_x/eta_y that
share their centre run (THEORY 8)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib import colormaps
from matplotlib.ticker import MaxNLocator

from ..engine.run_description import RunDescription
from . import style
from .registry import config_int, config_positive, config_rates, read_table, write_config, write_table
from .stepsize_curves import final_loss_text, loss_curve, loss_limits, running_loss_label, runs_caption
from .stepsize_setup import (
    FULL_SMOLLM2,
    METHOD,
    PAIR_KEYS,
    QUICK_MINILM,
    config_problem,
    config_seeds,
    config_value,
    hybrid_specs,
    pair_means,
    run_summary,
    steps_with_smoothing,
    three_digits,
    train_hybrid_runs,
    validate_problem,
)

FIG4_TABLE, FIG4_RUNS = "fig4.csv", "fig4_runs.csv"


def validate_fig4(config: Mapping) -> None:
    validate_problem(config)
    config_positive(config, "eta_x")
    config_positive(config, "eta_y")
    config_positive(config, "mu")
    config_rates(config, "mus")
    config_rates(config, "ratio_factors")
    config_seeds(config)
    config_int(config, "steps", minimum=1)
    config_int(config, "window", minimum=1)


def fig4_pairs(config: Mapping) -> pd.DataFrame:
    """The two one-at-a-time sweeps around the centre (eta_x, eta_y, mu): mu over ``mus`` at the centre pair,
    and eta_x = factor * (eta_x/eta_y)_centre * eta_y at the centre eta_y and mu. The centre is in both."""
    ex, ey, mu = float(config["eta_x"]), float(config["eta_y"]), float(config["mu"])
    rows = [
        {"sweep": "mu", "value": m, "eta_x": ex, "eta_y": ey, "mu": m}
        for m in sorted(set(config_rates(config, "mus")) | {mu})
    ]
    # factor 1 keeps eta_x exactly, so the centre is the same stored run in both sweeps
    rows += [
        {"sweep": "ratio", "value": f, "eta_x": ex if f == 1.0 else three_digits(f * ex), "eta_y": ey, "mu": mu}
        for f in sorted(set(config_rates(config, "ratio_factors")) | {1.0})
    ]
    out = pd.DataFrame(rows)
    out["ratio"] = out.eta_x / out.eta_y
    out["is_centre"] = (out.eta_x == ex) & (out.eta_y == ey) & (out["mu"] == mu)
    return out


def _fig4_rates(pairs: pd.DataFrame) -> list[tuple[float, float, float]]:
    # the centre is in both sweeps and trained once
    return [(p.eta_x, p.eta_y, p.mu) for p in pairs.drop_duplicates(PAIR_KEYS).itertuples()]


def fig4_runs(config: Mapping) -> list[RunDescription]:
    """The runs ``run_fig4`` trains (``Experiment.runs``)."""
    validate_fig4(config)
    return hybrid_specs(config, config_problem(config), _fig4_rates(fig4_pairs(config)))


def run_fig4(config: Mapping, out_dir: Path) -> None:
    validate_fig4(config)
    problem = config_problem(config)
    pairs = fig4_pairs(config)
    runs = train_hybrid_runs(config, problem, _fig4_rates(pairs), out_dir)
    for name, table in fig4_tables(runs, pairs, int(config["window"])).items():
        write_table(out_dir, name, table)
    write_config(out_dir, config)


def fig4_tables(runs, pairs: pd.DataFrame, window: int) -> dict[str, pd.DataFrame]:
    """The stored tables of Figure 4: per step and per run, each row tagged with its sweep (the centre run
    appears once in each sweep)."""
    return {
        FIG4_TABLE: steps_with_smoothing(runs, window).merge(pairs, on=PAIR_KEYS),
        FIG4_RUNS: run_summary(runs, window).merge(pairs, on=PAIR_KEYS),
    }


def plot_fig4(tables_dir: Path, png_path: Path) -> None:
    steps = read_table(tables_dir, FIG4_TABLE)
    runs = read_table(tables_dir, FIG4_RUNS)
    fig, axes = style.new_figure(ncols=2, width=13.5, height=5.2)
    centre = runs[runs.is_centre].iloc[0]
    panels = (
        (
            "mu",
            axes[0],
            "plasma",
            lambda v: f"$\\mu$={v:.0e}",
            f"ZO smoothing $\\mu$ at $\\eta_x$={centre.eta_x:.3g}, $\\eta_y$={centre.eta_y:.3g}",
        ),
        (
            "ratio",
            axes[1],
            "viridis",
            lambda v: f"$\\eta_x/\\eta_y$ = {v * centre.ratio:.3g} ({v:g}x centre)",
            f"step-size ratio $\\eta_x/\\eta_y$ ($\\eta_x$ varied) at $\\eta_y$={centre.eta_y:.3g}, "
            f"$\\mu$={centre.mu:.0e}",
        ),
    )
    for sweep, ax, cmap_name, label, title in panels:
        _fig4_panel(ax, steps, runs, sweep, cmap_name, label, title)
    window = int(config_value(tables_dir, "window", 1))
    axes[0].set_ylabel(running_loss_label(window))
    fig.suptitle(
        f"{style.METHOD_LABELS[METHOD]}, soft-prompt adapter: one-at-a-time sweeps sharing the centre "
        f"run; {runs_caption(runs)}",
        y=1.02,
    )
    style.save_figure(fig, png_path)


def _fig4_panel(ax, steps: pd.DataFrame, runs: pd.DataFrame, sweep: str, cmap_name: str, label, title: str) -> None:
    """One sweep: a loss curve per swept value, the shared centre run drawn thick."""
    s = steps[steps.sweep == sweep]
    values = sorted(s.value.unique())
    cmap = colormaps[cmap_name]
    limits = loss_limits(s)
    for i, v in enumerate(values):
        sv = s[s.value == v]
        summary = runs[(runs.sweep == sweep) & (runs.value == v)]
        tail = final_loss_text(pair_means(summary).final_loss.iloc[0])
        is_centre = bool(summary.is_centre.iloc[0])
        # the centre is drawn thick and underneath, so a run that matches it stays visible on top
        loss_curve(
            ax,
            sv,
            top=limits[1],
            color=cmap(i / max(1, len(values) - 1) * 0.85),
            lw=3.0 if is_centre else 1.4,
            zorder=1 if is_centre else 3,
            label=f"{label(v)}: {tail}" + (" (centre)" if is_centre else ""),
        )
    ax.set_ylim(*limits)
    ax.set_xlabel("training step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper right", fontsize=8, framealpha=0.9)


FIG4_QUICK = {
    "mode": "quick",
    **QUICK_MINILM,
    "adapter": "prompt",
    "eta_x": 1e-3,
    "eta_y": 0.3,
    "mu": 1e-3,
    "mus": [1e-4, 1e-3, 1e-2],
    "ratio_factors": [0.1, 1.0, 10.0],
    "steps": 20,
    "seeds": [0],
    "window": 8,
    "eval_limit": 8,
}
# full: 5 runs x 3 seeds x 500 steps of SmolLM2 prompt tuning, about 10-15 minutes on one GPU (an estimate)
FIG4_FULL = {
    "mode": "full",
    **FULL_SMOLLM2,
    "adapter": "prompt",
    "eta_x": 1e-6,
    "eta_y": 1e-2,
    "mu": 1e-3,
    "mus": [1e-4, 1e-3, 1e-2],
    "ratio_factors": [0.1, 1.0, 10.0],
    "steps": 500,
    "seeds": [0, 1, 2],
    "window": 63,
    "eval_limit": 64,
}

FIG4_KEYS = (
    "model",
    "adapter",
    "task",
    "data",
    "eta_x",
    "eta_y",
    "mu",
    "mus",
    "ratio_factors",
    "steps",
    "seeds",
    "window",
)
