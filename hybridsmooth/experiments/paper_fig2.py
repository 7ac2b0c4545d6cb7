"""Fig 2 of the paper: training loss over a grid of (eta_x, eta_y), the one-rate diagonal, the theory pair and a
heat map of final loss (THEORY 8).

The theory pair comes from constants measured in the run: L_x = ||H_xx|| and L_y = ||H_yy|| by a few Lanczos
iterations on minibatch 0 at the start point (``theory.real_model.point_curvature``), turned into the
stability limits of ``optim.limits.step_limits`` -- the ZO mean-square limit 2/(L_x (d_x + 2)) for x and the
FO limit 2/L_y for y -- and scaled by ``theory_factor`` (0.5: eta_x = 1/(L_x (d_x + 2)), eta_y = 1/L_y).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..engine.run_description import RunDescription
from ..errors import UsageError
from ..objectives.base import Constants
from ..optim.limits import step_limits
from . import figure_runs, style
from .registry import config_int, config_positive, config_rates, read_table, write_config, write_table
from .stepsize_curves import final_loss_text, loss_curve, loss_limits, running_loss_label, runs_caption
from .stepsize_setup import (
    FULL_SMOLLM2,
    METHOD,
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

FIG2_TABLE, FIG2_RUNS, FIG2_CONSTANTS = "fig2.csv", "fig2_runs.csv", "fig2_constants.csv"


def validate_fig2(config: Mapping) -> None:
    validate_problem(config)
    config_rates(config, "eta_x_grid")
    config_rates(config, "eta_y_grid")
    config_rates(config, "shared_rates")
    config_seeds(config)
    config_int(config, "steps", minimum=1)
    config_int(config, "window", minimum=1)
    config_int(config, "lanczos_iter", minimum=1)
    config_positive(config, "mu")
    f = config_positive(config, "theory_factor")
    if f > 1:
        raise UsageError(
            f"config 'theory_factor' is the fraction of the stability limits taken by the theory pair "
            f"and must lie in (0, 1], got {f!r}"
        )


def measure_constants(problem: str, *, lanczos_iter: int, factor: float) -> dict:
    """L_x, L_y at the start point (minibatch 0, Lanczos) and the theory pair ``factor`` x the stability limits
    of ``step_limits``. A few Lanczos iterations give Ritz values BELOW ||H_bb||, so the pair errs large."""
    from ..theory.real_model_measure import point_curvature

    obj = figure_runs.objective_at_start(problem)
    pc = point_curvature(obj, obj.x.detach(), obj.y.detach(), idx=0, max_iter=lanczos_iter, tol=1e-3, cross=False)
    limits = step_limits(
        Constants(L_x=pc.L_x, L_y=pc.L_y), modes=("zo", "fo"), eta_x=0.0, eta_y=0.0, d_x=obj.d_x, d_y=obj.d_y, n=obj.n
    )
    stability = {lim.block: lim for lim in limits if lim.kind == "stability"}
    caps = {f"cap_{lim.name[-3:-1]}_{lim.block}": lim.value for lim in limits if lim.kind == "theorem cap"}
    return {
        "L_x": pc.L_x,
        "L_y": pc.L_y,
        "residual_x": pc.residual_x,
        "residual_y": pc.residual_y,
        "lanczos_iter": lanczos_iter,
        "hvps": pc.hvps,
        "converged": pc.converged,
        "seconds": pc.seconds,
        "d_x": obj.d_x,
        "d_y": obj.d_y,
        "n": obj.n,
        "sample": 0,
        "limit_x": stability["x"].value,
        "limit_x_formula": stability["x"].formula,
        "limit_y": stability["y"].value,
        "limit_y_formula": stability["y"].formula,
        **caps,
        "theory_factor": factor,
        "eta_x_theory": three_digits(factor * stability["x"].value),
        "eta_y_theory": three_digits(factor * stability["y"].value),
    }


def fig2_pairs(config: Mapping, theory: tuple[float, float]) -> pd.DataFrame:
    """Every (eta_x, eta_y) pair Figure 2 trains, with its roles; a pair in several roles is trained once."""
    roles: dict[tuple[float, float], dict] = {}

    def add(pair, role):
        roles.setdefault(pair, {"in_grid": False, "on_diagonal": False, "is_theory": False})[role] = True

    for ex in config_rates(config, "eta_x_grid"):
        for ey in config_rates(config, "eta_y_grid"):
            add((ex, ey), "in_grid")
    for eta in config_rates(config, "shared_rates"):
        add((eta, eta), "on_diagonal")
    add(theory, "is_theory")
    return pd.DataFrame([{"eta_x": ex, "eta_y": ey, **r} for (ex, ey), r in roles.items()])


def _mark_best(pairs: pd.DataFrame) -> pd.DataFrame:
    """Best single rate = lowest mean final loss on the diagonal; best pair = lowest over the whole grid
    (diverged pairs never win)."""
    out = pairs.assign(best_single=False, best_pair=False)
    for role, mark in (("on_diagonal", "best_single"), ("in_grid", "best_pair")):
        cand = out[out[role] & out.final_loss.notna()]
        if len(cand):
            out.loc[cand.final_loss.idxmin(), mark] = True
    return out


def fig2_plan(config: Mapping) -> tuple[str, dict, pd.DataFrame, list[tuple[float, float, float]]]:
    """(problem, measured constants, pairs with their roles, the (eta_x, eta_y, mu) to train). The theory pair
    comes from the measured constants, so listing the runs measures them (Lanczos at the start point, no
    training)."""
    validate_fig2(config)
    problem = config_problem(config)
    constants = measure_constants(
        problem, lanczos_iter=int(config["lanczos_iter"]), factor=float(config["theory_factor"])
    )
    pairs = fig2_pairs(config, (constants["eta_x_theory"], constants["eta_y_theory"]))
    mu = float(config["mu"])
    return problem, constants, pairs, [(p.eta_x, p.eta_y, mu) for p in pairs.itertuples()]


def fig2_runs(config: Mapping) -> list[RunDescription]:
    """The runs ``run_fig2`` trains (``Experiment.runs``)."""
    problem, _, _, rates = fig2_plan(config)
    return hybrid_specs(config, problem, rates)


def run_fig2(config: Mapping, out_dir: Path) -> None:
    """Measure L_x, L_y, train every pair of the grid, the diagonal and the theory pair for every seed, and
    write the per-step table, the per-run table (roles, final loss, diagnosis) and the constants."""
    problem, constants, pairs, rates = fig2_plan(config)
    runs = train_hybrid_runs(config, problem, rates, out_dir)
    for name, table in fig2_tables(runs, pairs, {**constants, "problem": problem}, int(config["window"])).items():
        write_table(out_dir, name, table)
    write_config(out_dir, config)


def fig2_tables(runs, pairs: pd.DataFrame, constants: Mapping, window: int) -> dict[str, pd.DataFrame]:
    """The stored tables of Figure 2 from its runs: per step, per run (roles, final loss, best marks), constants."""
    summary = run_summary(runs, window).merge(pairs, on=["eta_x", "eta_y"])
    marks = _mark_best(pairs.merge(pair_means(summary), on=["eta_x", "eta_y"]))
    summary = summary.merge(marks[["eta_x", "eta_y", "best_single", "best_pair"]], on=["eta_x", "eta_y"])
    return {
        FIG2_TABLE: steps_with_smoothing(runs, window).merge(pairs, on=["eta_x", "eta_y"]),
        FIG2_RUNS: summary,
        FIG2_CONSTANTS: pd.DataFrame([dict(constants)]),
    }


def _pair_label(ex: float, ey: float, what: str = "") -> str:
    return f"{what}$\\eta_x$={ex:.3g}, $\\eta_y$={ey:.3g}"


def _final_text(runs: pd.DataFrame, ex: float, ey: float) -> str:
    """'final 0.634' (seed mean) or 'diverged' for the legend of one pair."""
    return final_loss_text(pair_means(runs[(runs.eta_x == ex) & (runs.eta_y == ey)]).final_loss.iloc[0])


def _fig2_panel_diagonal(ax, steps: pd.DataFrame, runs: pd.DataFrame, top: float) -> None:
    diag = sorted(runs[runs.on_diagonal].eta_x.unique())
    cmap = colormaps["viridis"]
    for i, eta in enumerate(diag):
        s = steps[(steps.eta_x == eta) & (steps.eta_y == eta)]
        loss_curve(
            ax,
            s,
            top=top,
            color=cmap(i / max(1, len(diag) - 1) * 0.9),
            label=f"$\\eta_x=\\eta_y$={eta:.3g}: {_final_text(runs, eta, eta)}",
        )
    _highlights(ax, steps, runs, top, singles=False)
    ax.set_title("One shared step size ($\\eta_x = \\eta_y$) vs the best pair")


def _highlights(ax, steps: pd.DataFrame, runs: pd.DataFrame, top: float, *, singles: bool) -> None:
    colour = style.METHOD_COLORS[METHOD]
    picks = [("best_pair", "best pair: ", colour, "-", 3.0, 4)]
    if singles:
        picks.append(("best_single", "best single rate: ", colour, ":", 3.0, 4))
    # the theory pair last and on top
    picks.append(("is_theory", "theory pair: ", style.THEORY_COLOR, style.THEORY_LINESTYLE, 2.0, 5))
    for flag, what, c, ls, lw, zorder in picks:
        r = runs[runs[flag]]
        if len(r):
            ex, ey = r.eta_x.iloc[0], r.eta_y.iloc[0]
            loss_curve(
                ax,
                steps[(steps.eta_x == ex) & (steps.eta_y == ey)],
                top=top,
                color=c,
                ls=ls,
                lw=lw,
                zorder=zorder,
                label=f"{_pair_label(ex, ey, what)}: {_final_text(runs, ex, ey)}",
            )


def _best_eta_y_per_eta_x(runs: pd.DataFrame) -> pd.DataFrame:
    """For each grid eta_x, the eta_y with the lowest mean final loss (a column that diverged everywhere
    shows its longest-lived pair): one curve per ZO rate keeps a 7 x 7 grid readable; the heat map has all."""
    grid = pair_means(runs[runs.in_grid]).merge(
        runs.groupby(["eta_x", "eta_y"]).completed_steps.min().rename("lived").reset_index(), on=["eta_x", "eta_y"]
    )
    grid = grid.assign(rank=grid.final_loss.fillna(np.inf)).sort_values(
        ["eta_x", "rank", "lived"], ascending=[True, True, False]
    )
    return grid.drop_duplicates("eta_x")


def _fig2_panel_grid(ax, steps: pd.DataFrame, runs: pd.DataFrame, top: float) -> None:
    best = _best_eta_y_per_eta_x(runs)
    cmap = colormaps["viridis"]
    for i, p in enumerate(best.itertuples()):
        s = steps[(steps.eta_x == p.eta_x) & (steps.eta_y == p.eta_y)]
        loss_curve(
            ax,
            s,
            top=top,
            color=cmap(i / max(1, len(best) - 1) * 0.9),
            lw=1.2,
            label=f"{_pair_label(p.eta_x, p.eta_y)}: {_final_text(runs, p.eta_x, p.eta_y)}",
        )
    _highlights(ax, steps, runs, top, singles=True)
    ax.set_title("Two step sizes: the best $\\eta_y$ for each $\\eta_x$ of the grid")


def _fig2_heatmap(fig, ax, runs: pd.DataFrame) -> None:
    """Mean final running-mean loss per grid cell (log colour); diverged cells hatched with an x; diagonal
    cells outlined; the best single rate and best pair starred."""
    grid = pair_means(runs[runs.in_grid]).merge(
        runs.drop_duplicates(["eta_x", "eta_y"])[["eta_x", "eta_y", "on_diagonal", "best_single", "best_pair"]],
        on=["eta_x", "eta_y"],
    )
    ex, ey = sorted(grid.eta_x.unique()), sorted(grid.eta_y.unique())
    Z = np.full((len(ey), len(ex)), np.nan)
    for p in grid.itertuples():
        Z[ey.index(p.eta_y), ex.index(p.eta_x)] = p.final_loss
    img, norm = _heatmap_image(fig, ax, Z)
    small = max(len(ex), len(ey)) > 4  # the full 7 x 7 grid needs shorter cell texts
    for p in grid.itertuples():
        _heatmap_cell(ax, img, norm, p, ey.index(p.eta_y), ex.index(p.eta_x), small=small)
    ax.set_xticks(range(len(ex)), [f"{v:.3g}" for v in ex])
    ax.set_yticks(range(len(ey)), [f"{v:.3g}" for v in ey])
    ax.set_xlabel(r"ZO step size $\eta_x$ (all base weights; log-spaced)")
    ax.set_ylabel(r"FO step size $\eta_y$ (adapter; log-spaced)")
    ax.grid(False)
    handles = [
        Rectangle((0, 0), 1, 1, fill=False, edgecolor="deepskyblue", lw=2.5, label=r"$\eta_x = \eta_y$"),
        Rectangle((0, 0), 1, 1, fill=False, hatch="xx", edgecolor="grey", label="diverged (stopped)"),
        Line2D([], [], marker="*", ls="", ms=12, mec="black", mfc=style.METHOD_COLORS[METHOD], label="best pair"),
        Line2D([], [], marker="*", ls="", ms=12, mec="black", mfc="white", label="best single rate"),
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, fontsize=8)


def _heatmap_image(fig, ax, Z: np.ndarray):
    """The final-loss image with its colour bar, and its colour norm (None when no cell is finite)."""
    finite = Z[np.isfinite(Z)]
    norm, scale = None, "linear"
    if len(finite):
        lo, hi = float(finite.min()), float(max(finite.max(), finite.min() * 1.001))
        # a log colour only where the final losses span a wide range (unstable cells blow up by decades)
        norm, scale = (LogNorm(lo, hi), "log") if 0 < 3 * lo < hi else (Normalize(lo, hi), "linear")
    img = ax.imshow(np.ma.masked_invalid(Z), origin="lower", cmap="magma_r", norm=norm, aspect="auto")
    fig.colorbar(img, ax=ax, label=f"final training loss (running mean, {scale} colour)")
    return img, norm


def _heatmap_cell(ax, img, norm, p, i: int, j: int, *, small: bool) -> None:
    """Cell (row i, column j) of grid pair ``p``: its final loss or how many seeds diverged, the diagonal
    outline and the best-rate stars."""
    if p.n_diverged > 0:
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="grey", lw=0))
        ax.text(
            j,
            i,
            f"{'div.' if small else 'diverged'}\n{int(p.n_diverged)}/{int(p.n_seeds)}" + ("" if small else " seeds"),
            ha="center",
            va="center",
            fontsize=7 if small else 8,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1},
        )
    else:
        shade = img.cmap(img.norm(p.final_loss)) if norm is not None else (1, 1, 1, 1)
        ink = "white" if sum(shade[:3]) < 1.5 else "black"
        ax.text(j, i, f"{p.final_loss:.3g}", ha="center", va="center", fontsize=7 if small else 9, color=ink)
    if p.on_diagonal:
        ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="deepskyblue", lw=2.5))
    for flag, marker, where in (("best_single", "*", -0.3), ("best_pair", "*", 0.3)):
        if getattr(p, flag):
            ax.plot(
                j + where,
                i + 0.3,
                marker,
                ms=14,
                mec="black",
                mfc=style.METHOD_COLORS[METHOD] if flag == "best_pair" else "white",
            )


def plot_fig2(tables_dir: Path, png_path: Path) -> None:
    steps = read_table(tables_dir, FIG2_TABLE)
    runs = read_table(tables_dir, FIG2_RUNS)
    c = read_table(tables_dir, FIG2_CONSTANTS).iloc[0]
    fig, (a_diag, a_grid, a_heat) = style.new_figure(ncols=3, width=20.0, height=6.2)
    limits = loss_limits(steps)
    _fig2_panel_diagonal(a_diag, steps, runs, limits[1])
    _fig2_panel_grid(a_grid, steps, runs, limits[1])
    for ax in (a_diag, a_grid):
        ax.set_ylim(*limits)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best", fontsize=7.5, framealpha=0.9)
    window = int(config_value(tables_dir, "window", 1))
    a_diag.set_ylabel(running_loss_label(window))
    th = runs[runs.is_theory].iloc[0] if runs.is_theory.any() else None
    theory_text = ""
    if th is not None:
        final = pair_means(runs[runs.is_theory]).final_loss.iloc[0]
        theory_text = (
            f"theory pair {c.theory_factor:g}x limits: $\\eta_x$={th.eta_x:.3g} = "
            f"{c.theory_factor:g}*{c.limit_x_formula}, $\\eta_y$={th.eta_y:.3g} = "
            f"{c.theory_factor:g}*{c.limit_y_formula}\n(L_x={c.L_x:.3g}, L_y={c.L_y:.3g} by "
            f"{int(c.lanczos_iter)} Lanczos its, d_x={int(c.d_x)}); final loss "
            + ("diverged" if not np.isfinite(final) else f"{final:.3g}")
        )
    _fig2_heatmap(fig, a_heat, runs)
    a_heat.set_title("Final loss over the grid\n" + theory_text, fontsize=8.5)
    fig.suptitle(f"{style.METHOD_LABELS[METHOD]} under step-size configurations: {runs_caption(runs)}", y=1.02)
    style.save_figure(fig, png_path)


_FULL_RATES = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]

FIG2_QUICK = {
    "mode": "quick",
    **QUICK_MINILM,
    "adapter": "lora",
    "eta_x_grid": [1e-4, 1e-2, 1.0],
    "eta_y_grid": [1e-4, 1e-2, 1.0],
    "shared_rates": [1e-4, 1e-2, 1.0],
    "steps": 20,
    "seeds": [0],
    "mu": 1e-3,
    "window": 8,
    "lanczos_iter": 3,
    "theory_factor": 0.5,
    "eval_limit": 8,
}
# full: 7 x 7 pairs (the diagonal inside) + the theory pair, 3 seeds x 300 steps = 45k steps of SmolLM2; at
# ~0.05 s a step on an H200-class GPU about 40-60 minutes (an estimate: full mode has not been run here)
FIG2_FULL = {
    "mode": "full",
    **FULL_SMOLLM2,
    "adapter": "lora",
    "eta_x_grid": _FULL_RATES,
    "eta_y_grid": _FULL_RATES,
    "shared_rates": _FULL_RATES,
    "steps": 300,
    "seeds": [0, 1, 2],
    "mu": 1e-3,
    "window": 63,
    "lanczos_iter": 30,
    "theory_factor": 0.5,
    "eval_limit": 64,
}

FIG2_KEYS = (
    "model",
    "adapter",
    "task",
    "data",
    "eta_x_grid",
    "eta_y_grid",
    "shared_rates",
    "steps",
    "seeds",
    "mu",
    "window",
    "lanczos_iter",
    "theory_factor",
)
