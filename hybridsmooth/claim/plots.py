"""The claim test's figures, drawn from its CSVs: test accuracy per method with intervals, dev-loss curves
with bands, the paired differences against their detectable size, and the first-order decrease owed to
each block of the hybrid (claim.png); the eta_x = 0 control against FO-PEFT, seed by seed (control.png)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..experiments.style import METHOD_COLORS, SPREAD_ALPHA, THEORY_COLOR, THEORY_LINESTYLE, new_figure, save_figure
from .cells import CONTROL
from .stats import bootstrap_interval
from .tables import CONTROL_TOLERANCE

LABELS = {
    "hybrid": "Hybrid",
    "fo_peft": "FO-PEFT",
    "fo_full": "FO-Full",
    "zo_full": "ZO-Full",
    "zo_peft": "ZO-PEFT",
    CONTROL: "Hybrid, eta_x=0",
}
COLORS = {**METHOD_COLORS, CONTROL: "#7f7f7f"}


def _accuracy_panel(ax, summary: pd.DataFrame, per_seed: pd.DataFrame) -> None:
    for i, row in enumerate(summary.itertuples()):
        color = COLORS.get(row.method, "black")
        lo, hi = row.test_accuracy_low, row.test_accuracy_high
        err = [[row.test_accuracy - lo], [hi - row.test_accuracy]] if np.isfinite(lo) else None
        ax.errorbar(i, row.test_accuracy, yerr=err, fmt="o", color=color, capsize=4, ms=7)
        seeds = per_seed[(per_seed["method"] == row.method) & ~per_seed["diverged"]]["test_accuracy"]
        ax.scatter(np.full(len(seeds), i + 0.18), seeds, s=10, color=color, alpha=0.6)
    ax.set_xticks(range(len(summary)), [LABELS.get(m, m) for m in summary["method"]], rotation=30, ha="right")
    ax.set_ylabel("test accuracy (mean, 95% bootstrap interval; dots: seeds)")
    ax.set_title("accuracy at the selected step sizes")


def _curves_panel(ax, curves: pd.DataFrame) -> None:
    for method, df in curves.groupby("method", sort=False):
        stats = [(step, *bootstrap_interval(g["dev_loss"])) for step, g in df.groupby("step")]
        steps, mean, lo, hi = (np.array(v, dtype=float) for v in zip(*stats))
        color = COLORS.get(method, "black")
        style = ":" if method == CONTROL else "-"
        ax.plot(steps, mean, style, color=color, label=LABELS.get(method, method))
        if np.isfinite(lo).any():
            ax.fill_between(steps, lo, hi, color=color, alpha=SPREAD_ALPHA, lw=0)
    ax.set_xlabel("step")
    ax.set_ylabel("dev loss (mean over seeds, 95% band)")
    ax.set_title("learning curves")
    ax.legend()


def _paired_panel(ax, paired: pd.DataFrame) -> None:
    acc = paired[paired["metric"] == "test_accuracy"].reset_index(drop=True)
    for i, row in acc.iterrows():
        ax.errorbar(
            row["mean_difference"],
            i,
            xerr=[[row["mean_difference"] - row["low"]], [row["high"] - row["mean_difference"]]],
            fmt="o",
            color=COLORS.get(row["comparison"].split(" - ")[0], "black"),
            capsize=4,
        )
        typical = row.get("hodges_lehmann", np.nan)  # absent from tables analysed before it existed
        if np.isfinite(typical) and np.isfinite(row.get("hodges_lehmann_low", np.nan)):
            low, high = row["hodges_lehmann_low"], row["hodges_lehmann_high"]
            ax.errorbar(
                typical,
                i - 0.15,
                xerr=[[typical - low], [high - typical]],
                fmt="D",
                mfc="none",
                ms=5,
                color=COLORS.get(row["comparison"].split(" - ")[0], "black"),
                capsize=3,
                lw=1,
                alpha=0.8,
            )
        mde = row["detectable_difference"]
        if np.isfinite(mde):
            ax.plot([-mde, mde], [i + 0.25, i + 0.25], "|--", color=THEORY_COLOR, lw=1)
        # named inside the panel: tick labels this long run into the panel on the left
        label = " - ".join(LABELS.get(m, m) for m in row["comparison"].split(" - "))
        ax.annotate(f"{label}: {row['verdict']}", (row["mean_difference"], i - 0.4), ha="center", fontsize=8)
    ax.axvline(0, color=THEORY_COLOR, lw=1)
    ax.set_yticks([])
    ax.set_ylim(-0.8, len(acc) - 0.2)
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))  # narrow intervals otherwise give ticks that run together
    ax.set_xlabel(
        "paired test-accuracy difference (dot: mean, 95% interval; diamond: typical seed,\n"
        "Hodges-Lehmann with the signed-rank interval; dashed: detectable at 80% power)"
    )
    rounding = (acc["comparison"] == f"{CONTROL} - fo_peft").any()
    ax.set_title("Hybrid against the baselines" + (" (grey: at eta_x = 0, rounding alone)" if rounding else ""))


def _probe_panel(ax, probes: pd.DataFrame, every: int) -> None:
    hybrid = probes[probes["method"] == "hybrid"]
    if hybrid.empty:
        ax.set_visible(False)
        return
    for column, label, color in (
        ("x_change", "ZO step on x (measured)", COLORS["zo_full"]),
        ("x_expected", "ZO step on x (expected)", COLORS["zo_full"]),
        ("y_change", "FO step on y (measured)", COLORS["fo_peft"]),
    ):
        cum = hybrid.sort_values("step").groupby("seed")[column].cumsum() * every
        mean = cum.groupby(hybrid.sort_values("step")["step"]).mean()
        style = THEORY_LINESTYLE if column.endswith("expected") else "-"
        ax.plot(mean.index, -mean.to_numpy(), style, color=color, label=label)
    ax.set_yscale("symlog", linthresh=1e-6)
    ax.set_xlabel("step")
    ax.set_ylabel("cumulative first-order decrease of the probe loss")
    ax.set_title("what each block of the hybrid contributes")
    ax.legend()


def plot_claim(out_dir: Path, png_path: Path, *, title: str = "", probe_every: int = 1) -> None:
    out_dir = Path(out_dir)
    summary = pd.read_csv(out_dir / "methods.csv")
    per_seed = pd.read_csv(out_dir / "per_seed.csv")
    curves = pd.read_csv(out_dir / "curves.csv")
    paired = pd.read_csv(out_dir / "paired.csv")
    control_path = out_dir / "control_paired.csv"  # absent from folders analysed before it existed
    control = pd.read_csv(control_path) if control_path.is_file() else pd.DataFrame()
    if len(control):  # rounding alone, below the claim's pairs
        paired = pd.concat([paired, control], ignore_index=True)
    probes_path = out_dir / "probes.csv"
    probes = pd.read_csv(probes_path) if probes_path.is_file() else pd.DataFrame(columns=["method"])
    fig, axes = new_figure(ncols=4, width=24, height=5.2)
    _accuracy_panel(axes[0], summary, per_seed)
    _curves_panel(axes[1], curves)
    _paired_panel(axes[2], paired)
    _probe_panel(axes[3], probes, probe_every)
    if title:
        fig.suptitle(title)
    save_figure(fig, png_path)


CONTROL_FLOOR = 1e-9  # where an exact match (a relative difference of 0) is drawn on the log scale


def plot_control(out_dir: Path, png_path: Path, *, title: str = "") -> None:
    """Where the eta_x = 0 control and FO-PEFT come apart: the relative dev-loss difference at every evaluation,
    seed by seed, against the rounding tolerance (seeds past it drawn thick and named), and each seed's test
    accuracy of the two runs against each other."""
    out_dir = Path(out_dir)
    steps = pd.read_csv(out_dir / "control_steps.csv")
    table = pd.read_csv(out_dir / "control.csv").set_index("seed")
    per_seed = pd.read_csv(out_dir / "per_seed.csv")
    fig, axes = new_figure(ncols=2, width=13, height=4.8)
    # a seed past the tolerance gets a colour of its own in both panels; the seeds that match stay grey
    palette = iter(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4)
    color = {s: (COLORS[CONTROL] if bool(ok) else next(palette)) for s, ok in table["matches_to_rounding"].items()}
    ax = axes[0]
    for seed, df in steps.groupby("seed"):
        apart = not bool(table.loc[seed, "matches_to_rounding"])
        rel = np.maximum(df["relative_difference"].to_numpy(dtype=float), CONTROL_FLOOR)
        ax.plot(
            df["step"], rel, "o-", lw=2.2 if apart else 0.9, ms=4 if apart else 3, alpha=1.0 if apart else 0.5,
            color=color[seed], label=f"seed {seed}" if apart else None,
        )  # fmt: skip
    ax.axhline(CONTROL_TOLERANCE, color=THEORY_COLOR, ls=THEORY_LINESTYLE, lw=1, label="rounding tolerance")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(f"|control - FO-PEFT| / FO-PEFT, dev loss (0 drawn at {CONTROL_FLOOR:g})")
    matched = int(table["matches_to_rounding"].sum())
    ax.set_title(f"the control matches FO-PEFT on {matched} of {len(table)} seeds")
    ax.legend(fontsize=8)
    ax = axes[1]
    acc = per_seed[per_seed["method"].isin([CONTROL, "fo_peft"])]
    acc = acc.pivot(index="seed", columns="method", values="test_accuracy")
    acc = acc.loc[acc.index.isin(table.index)].dropna()
    for seed, row in acc.iterrows():
        apart = not bool(table.loc[seed, "matches_to_rounding"])
        ax.scatter(row["fo_peft"], row[CONTROL], s=40 if apart else 18, color=color[seed])
        if apart:
            ax.annotate(
                f"seed {seed}", (row["fo_peft"], row[CONTROL]), xytext=(4, -10), textcoords="offset points", fontsize=8
            )
    if len(acc):
        lo, hi = float(acc.min().min()), float(acc.max().max())
        pad = 0.02 + 0.05 * (hi - lo)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=THEORY_COLOR, lw=1)
    ax.set_xlabel("FO-PEFT test accuracy (best dev checkpoint)")
    ax.set_ylabel("control (hybrid at eta_x = 0) test accuracy")
    ax.set_title("seed by seed (diverged runs left out)")
    if title:
        fig.suptitle(title)
    save_figure(fig, png_path)


def plot_tuning(tuning: pd.DataFrame, curves: pd.DataFrame, png_path: Path, *, title: str = "") -> None:
    """The tuning phase as it stands (``claim report --partial``): one panel per method, dev accuracy against
    step for every finished grid point; the selected point thick, a diverged one dashed and crossed at its end,
    grid points not yet run listed in the panel's title."""
    methods = list(dict.fromkeys(tuning["method"]))
    fig, axes = new_figure(ncols=len(methods), width=4.6 * len(methods), height=4.4)
    for ax, method in zip(axes, methods):
        rows = tuning[tuning["method"] == method]
        color = COLORS.get(method, "black")
        for marker, row in zip("osD^vP<>*h", rows[rows["finished"]].itertuples()):
            mine = curves[(curves["method"] == method) & np.isclose(curves["eta_x"], row.eta_x)]
            mine = mine[np.isclose(mine["eta_y"], row.eta_y)].sort_values("step")
            if mine.empty:
                continue
            label = ", ".join(f"{k}={v:g}" for k, v in (("eta_x", row.eta_x), ("eta_y", row.eta_y)) if v)
            chosen, diverged = bool(row.selected), bool(row.diverged)
            ax.plot(
                mine["step"],
                mine["dev_accuracy"],
                "--" if diverged else "-",
                color=color,
                lw=2.6 if chosen else 1.0,
                alpha=1.0 if chosen else 0.55,
                marker=marker,
                ms=4,
                label=label + (" (selected)" if chosen else "") + (" (diverged)" if diverged else ""),
            )
            if diverged:
                ax.plot(mine["step"].iloc[-1], mine["dev_accuracy"].iloc[-1], "x", color=color, ms=8)
        waiting = int((~rows["finished"]).sum())
        ax.set_title(LABELS.get(method, method) + (f" ({waiting} of {len(rows)} points not run)" if waiting else ""))
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("dev accuracy (tuning seed)")
    if title:
        fig.suptitle(title)
    save_figure(fig, png_path)


ZO_BLOCK_COLOR = "#6a51a3"  # apart from the verdicts' green, red and grey


def _plot_zo_block(ax, zo_block: pd.DataFrame, rows: list[str]) -> None:
    """Per row, the ZO block's share of the hybrid's first-order decrease of the probe loss, in percent: bar the
    expected share (the step's mean direction), dot the measured one (the drawn directions); the number the
    expected one."""
    percent = 100.0
    block = zo_block.set_index("row")
    for label in rows:
        y = len(rows) - 1 - rows.index(label)
        if label not in block.index or not np.isfinite(block.loc[label, "zo_share_expected"]):
            ax.annotate(
                "not probed", (0.5, y), xycoords=("axes fraction", "data"), ha="center", va="center", fontsize=8,
                color=THEORY_COLOR,
            )  # fmt: skip
            continue
        expected = block.loc[label, "zo_share_expected"] * percent
        measured = block.loc[label, "zo_share_measured"] * percent
        ax.barh(y, expected, height=0.35, color=ZO_BLOCK_COLOR, alpha=0.55)
        ax.plot([measured], [y], "o", color=ZO_BLOCK_COLOR, ms=5)
        ax.annotate(
            f"{expected:.2g}%", (max(expected, measured, 0.0), y), xytext=(4, 0), textcoords="offset points",
            va="center", fontsize=8,
        )  # fmt: skip
    ax.axvline(0, color=THEORY_COLOR, lw=1)
    ax.set_yticks(range(len(rows)), [""] * len(rows))
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlim(min(0.0, ax.get_xlim()[0]), ax.get_xlim()[1] * 1.25)  # room for the numbers
    ax.set_title("ZO block's share")
    ax.set_xlabel("% of the hybrid's first-order\ndecrease (bar expected, dot measured)")


VERDICT_COLORS = {"better": "#2ca02c", "worse": "#d62728"}  # anything else: no detectable difference


def plot_summary(table: pd.DataFrame, png_path: Path, *, title: str = "", zo_block: pd.DataFrame | None = None) -> None:
    """The claim across cells (``claim.summary``): per comparison a panel, per cell a row, in points of
    accuracy; dot and thick bar: the mean paired difference and its 95% interval, coloured by the verdict;
    open diamond and thin bar: the typical seed (Hodges-Lehmann, signed-rank interval). Each row is labelled with
    its pairs and, where the table has it, its sign-flip p-value adjusted by Holm over the table; a dot whose
    verdict does not survive that adjustment is drawn hollow. With ``zo_block`` (``summary.zo_block_table``) a
    last, narrower panel gives the ZO block's share of the hybrid's first-order decrease per row: bar expected,
    dot measured."""
    comparisons = [c for c in ("hybrid - fo_peft", "hybrid - fo_full") if (table["comparison"] == c).any()]
    rows = list(dict.fromkeys(table["row"]))
    with_block = int(zo_block is not None and np.isfinite(zo_block["zo_share_expected"].to_numpy(dtype=float)).any())
    panels = len(comparisons) + with_block
    fig, every_axis = new_figure(
        ncols=panels,
        width=6.2 * len(comparisons) + 3.6 * with_block,
        height=1.0 + 0.62 * len(rows),
        width_ratios=[1.0] * len(comparisons) + [0.45] * with_block,
    )
    axes = every_axis[: len(comparisons)]
    points = 100.0
    for ax, comparison in zip(axes, comparisons, strict=True):
        part = table[table["comparison"] == comparison]
        for _, r in part.iterrows():
            y = len(rows) - 1 - rows.index(r["row"])
            color = VERDICT_COLORS.get(r["verdict"], "#555555")
            mean = r["mean_difference"] * points
            # a verdict that does not survive the correction over the whole table keeps its colour, hollow
            lost = "verdict_holm" in r and r["verdict_holm"] != r["verdict"]
            ax.errorbar(
                mean,
                y + 0.1,
                xerr=[[mean - r["low"] * points], [r["high"] * points - mean]],
                fmt="o",
                color=color,
                mfc="white" if lost else color,
                capsize=4,
                lw=2.2,
                ms=6,
            )
            typical, low, high = (
                r[k] * points for k in ("hodges_lehmann", "hodges_lehmann_low", "hodges_lehmann_high")
            )
            if np.isfinite(typical) and np.isfinite(low):
                ax.errorbar(
                    typical, y - 0.15, xerr=[[typical - low], [high - typical]], fmt="D", mfc="none", ms=5,
                    color=color, capsize=3, lw=1, alpha=0.8,
                )  # fmt: skip
            holm = f"\nHolm p {r['holm_p']:.2g}" if np.isfinite(r.get("holm_p", np.nan)) else ""
            ax.annotate(
                f"{int(r['pairs'])} pairs{holm}",
                (1.0, y),
                xycoords=("axes fraction", "data"),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
        for label in sorted(set(rows) - set(part["row"])):  # said, not left blank: the cell lacks this baseline
            ax.annotate(
                "not run", (0.5, len(rows) - 1 - rows.index(label)), xycoords=("axes fraction", "data"),
                ha="center", va="center", fontsize=8, color=THEORY_COLOR,
            )  # fmt: skip
        ax.axvline(0, color=THEORY_COLOR, lw=1)
        ax.set_yticks(range(len(rows)), list(reversed(rows)) if ax is axes[0] else [""] * len(rows))
        ax.set_ylim(-0.7, len(rows) - 0.3)
        names = " - ".join(LABELS.get(m, m) for m in comparison.split(" - "))
        ax.set_title(names)
        ax.set_xlabel("points of test accuracy")
    fig.subplots_adjust(wspace=0.3)  # room for each row's pairs and p-value right of its panel
    fig.text(
        0.5, -0.02, "dot: mean, 95% interval (green better, red worse, grey no detectable difference; hollow: not "
        "after Holm's correction over the table's comparisons); diamond: typical seed, signed-rank interval",
        ha="center", va="top", fontsize=9,
    )  # fmt: skip
    # one scale for every panel, so that equal lengths are equal differences
    low = min(ax.get_xlim()[0] for ax in axes)
    high = max(ax.get_xlim()[1] for ax in axes)
    for ax in axes:
        ax.set_xlim(low, high)
    if with_block:
        _plot_zo_block(every_axis[-1], zo_block, rows)
    if title:
        fig.suptitle(title)
    save_figure(fig, png_path)


def plot_dose(table: pd.DataFrame, png_path: Path, *, title: str = "", metric: str = "test_accuracy") -> None:
    """The hybrid against its ZO step size (``claim.dose``), eta_x on a log axis (0, the still-x code path, one
    decade left of the rest): its accuracy with a 95% interval beside FO-PEFT's mean on the same seeds; the
    paired difference with its interval, coloured by the verdict (hollow: not after Holm's correction over the
    eta_x); the ZO block's share of the first-order decrease, expected (line) and measured (dots)."""
    from .dose import x_positions

    table = table.sort_values("eta_x")
    x = x_positions(table["eta_x"].to_numpy(dtype=float))
    points = 100.0
    fig, (acc, diff, share) = new_figure(ncols=3, width=15.0, height=4.4)
    y, lo, hi = (table[k].to_numpy(dtype=float) * points for k in (metric, f"{metric}_low", f"{metric}_high"))
    acc.errorbar(x, y, yerr=[y - lo, hi - y], fmt="o-", color=METHOD_COLORS["hybrid"], capsize=4, label="Hybrid")
    acc.plot(x, table[f"fo_peft_{metric}"] * points, "s--", color=METHOD_COLORS["fo_peft"], label="FO-PEFT, same seeds")
    for xi, yi, r in zip(x, y, table.itertuples(), strict=True):
        if r.diverged:  # those seeds have no best checkpoint: the point stands on the others
            acc.annotate(
                f"{r.diverged} of {r.seeds} diverged", (xi, yi), xytext=(0, -14), textcoords="offset points",
                ha="center", va="top", fontsize=7, color=METHOD_COLORS["hybrid"],
            )  # fmt: skip
    acc.set_ylabel("test accuracy at the best dev check (%)")
    acc.set_title("accuracy")
    acc.legend(fontsize=8)
    for i, r in enumerate(table.itertuples()):
        color = VERDICT_COLORS.get(r.verdict, "#555555")
        mean = r.mean_difference * points
        hollow = r.verdict_holm != r.verdict
        diff.errorbar(
            x[i], mean, yerr=[[mean - r.low * points], [r.high * points - mean]], fmt="o", color=color,
            mfc="white" if hollow else color, capsize=4, lw=2, ms=6,
        )  # fmt: skip
        diff.annotate(
            f"{int(r.pairs)} pairs\np {r.sign_flip_p:.2g}", (x[i], r.high * points), xytext=(0, 4),
            textcoords="offset points", ha="center", va="bottom", fontsize=7,
        )  # fmt: skip
    diff.axhline(0, color=THEORY_COLOR, lw=1)
    bottom, top = diff.get_ylim()
    diff.set_ylim(bottom, top + 0.15 * (top - bottom))  # room for the labels above the intervals
    diff.set_ylabel("points of test accuracy")
    diff.set_title("Hybrid - FO-PEFT, paired by seed")
    moved = table["x_share_expected"].to_numpy(dtype=float) > 0
    if moved.any():
        share.plot(x[moved], table["x_share_expected"][moved] * points, "-", color=ZO_BLOCK_COLOR, label="expected")
        measured = table["x_share_measured"].to_numpy(dtype=float) * points
        # one draw a step: the measured share can be negative (the drawn steps raised the loss); drawn hollow
        for sign, face, label in ((1, ZO_BLOCK_COLOR, "measured"), (-1, "white", "measured, negative (its size)")):
            keep = moved & (np.sign(measured) == sign)
            if keep.any():
                share.plot(x[keep], np.abs(measured[keep]), "o", color=ZO_BLOCK_COLOR, mfc=face, label=label)
        share.set_yscale("log")
        share.legend(fontsize=8)
    share.set_ylabel("% of the hybrid's first-order decrease")
    share.set_title("ZO block's share")
    for ax in (acc, diff, share):
        ax.set_xscale("log")
        ax.set_xlabel("eta_x (ZO step size of the base weights)")
        # ticks at the step sizes run, so that every point reads off its own value
        ax.set_xticks(x, [f"{v:g}" for v in table["eta_x"]])
        ax.minorticks_off()
        ax.set_xlim(x.min() / 2, x.max() * 2)
    zero = "; eta_x = 0: the hybrid's code path with x still" if (table["eta_x"] == 0).any() else ""
    fig.text(
        0.5, -0.02, "green better, red worse, grey no detectable difference at 95%; hollow: not after Holm's "
        f"correction over the step sizes; a diverged seed has no best checkpoint and is left out of the pairs{zero}",
        ha="center", va="top", fontsize=9,
    )  # fmt: skip
    if title:
        fig.suptitle(title)
    save_figure(fig, png_path)
