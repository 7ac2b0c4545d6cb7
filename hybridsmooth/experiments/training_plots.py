"""Plots of the method-comparison figures (Fig 3, 6, 7): per panel, train loss, dev loss and dev accuracy
against step (or measured wall-clock) with a band over seeds, drawn from the stored tables only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import style
from .registry import read_config, read_table
from .training_runs import FO_POINT_STYLES, base_method, ordered_variants, with_variant


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
    steps = with_variant(read_table(tables_dir, f"{name}.csv"))
    evals = with_variant(read_table(tables_dir, f"{name}_evals.csv"))
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
        for method in ordered_variants(sp["variant"].unique()):
            _band(ax_loss, sp[sp["variant"] == method], x_step, "smoothed", method)
            em = ev[ev["variant"] == method]
            if len(em):
                _band(ax_dev, em, x_eval, "dev_loss", method)
                _band(ax_acc, em, x_eval, "dev_accuracy", method)
            if sp[sp["variant"] == method]["diverged"].any():
                ax_loss.plot(
                    [], [], "x", color=style.METHOD_COLORS[base_method(method)], label=f"{method} diverged (stopped)"
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
