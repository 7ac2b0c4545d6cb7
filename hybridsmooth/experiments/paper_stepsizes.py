"""The paper's two step-size figures (THEORY 8): Figure 2 (loss over a grid of (eta_x, eta_y), the one-rate
diagonal, the theory pair and a heat map of final loss) and Figure 4 (the soft-prompt ablation over mu and
eta_x/eta_y).

Both train the hybrid method (ZO on all base weights x, FO on the adapter y) through ``figure_runs.train_all``,
so runs are stored once under ``<runs>/model_runs`` and shared; the run functions write tidy CSV tables and
the plot functions read only those tables.

Figure 2's theory pair comes from constants measured in the run: L_x = ||H_xx|| and L_y = ||H_yy|| by a few
Lanczos iterations on minibatch 0 at the start point (``theory.real_model.point_curvature``), turned into the
stability limits of ``optim.limits.step_limits`` -- the ZO mean-square limit 2/(L_x (d_x + 2)) for x and the
FO limit 2/L_y for y -- and scaled by ``theory_factor`` (0.5: eta_x = 1/(L_x (d_x + 2)), eta_y = 1/L_y).

Why one file for Figures 2 and 4: its block-constant and training-loop code is a copy of what the curvature
and optim packages also compute; once those copies give way to one shared routine each, the file splits by
figure or check. Splitting it now would spread the copies over more files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import LogNorm, Normalize
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

from ..errors import UsageError
from ..objectives.base import Constants
from ..objectives.llm import ADAPTERS
from ..objectives.llm_models import MODELS
from ..optim.limits import step_limits
from . import figure_runs, paper_setup, style
from .registry import (
    Experiment,
    config_int,
    config_positive,
    config_rates,
    read_config,
    read_table,
    write_config,
    write_table,
)

FIG2_TABLE, FIG2_RUNS, FIG2_CONSTANTS = "fig2.csv", "fig2_runs.csv", "fig2_constants.csv"
FIG4_TABLE, FIG4_RUNS = "fig4.csv", "fig4_runs.csv"
METHOD = "hybrid"
RUN_KEYS = ["eta_x", "eta_y", "mu", "seed"]
PAIR_KEYS = ["eta_x", "eta_y", "mu"]


# --- config checks -----------------------------------------------------------------------------------------


def _seeds(config: Mapping) -> list[int]:
    v = config.get("seeds")
    if (
        not isinstance(v, (list, tuple))
        or not v
        or not all(not isinstance(s, bool) and isinstance(s, int) and s >= 0 for s in v)
    ):
        raise UsageError(f"config 'seeds' must be a non-empty list of integers >= 0, got {v!r}")
    return sorted(set(v))


def _validate_problem(config: Mapping) -> None:
    if config.get("adapter") not in ADAPTERS:
        raise UsageError(f"unknown adapter {config.get('adapter')!r}; accepted: {', '.join(ADAPTERS)}")
    model = config.get("model")
    # a path names the user's own checkpoint (full mode on a GPU)
    if not isinstance(model, str) or not (model in MODELS or "/" in model):
        raise UsageError(f"config 'model' must be one of {', '.join(MODELS)} or a checkpoint path, got {model!r}")
    if not isinstance(config.get("task"), str):
        raise UsageError(f"config 'task' must be a task name, got {config.get('task')!r}")
    if not isinstance(config.get("data"), Mapping) or not config["data"]:
        raise UsageError(f"config 'data' must be a non-empty mapping of data keys, got {config.get('data')!r}")
    if config.get("eval_limit") is not None:
        config_int(config, "eval_limit", minimum=1)


def _problem(config: Mapping) -> str:
    return paper_setup.llm_problem(config["model"], config["adapter"], config["task"], **dict(config["data"]))


def _cache(out_dir: Path) -> Path:
    return Path(out_dir).parent / figure_runs.MODEL_RUNS_DIR


def _three_digits(v: float) -> float:
    """A measured step size rounded so that a re-measurement at the same point names the same stored run."""
    return float(f"{v:.3g}")


# --- tables shared by both figures -------------------------------------------------------------------------


def _steps_with_smoothing(runs, window: int) -> pd.DataFrame:
    t = figure_runs.steps_table(runs)
    t["loss_smoothed"] = t.groupby(RUN_KEYS, sort=False)["loss"].transform(lambda s: figure_runs.smoothed(s, window))
    return t


def _run_summary(runs, window: int) -> pd.DataFrame:
    """One row per run: start and final running-mean loss (nan when diverged), steps done, diagnosis."""
    rows = []
    for r in runs:
        loss = figure_runs.smoothed(r.steps.sort_values("step")["loss"].reset_index(drop=True), window)
        rows.append(
            {
                **{k: getattr(r.spec, k) for k in RUN_KEYS},
                "steps": r.spec.steps,
                "completed_steps": len(r.steps),
                "initial_loss": float(r.steps["loss"].iloc[0]),
                "final_loss": math.nan if r.diverged or not len(loss) else float(loss.iloc[-1]),
                "diverged": r.diverged,
                "diagnosis": r.diagnosis,
                "seconds": r.seconds,
            }
        )
    return pd.DataFrame(rows)


def _pair_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Per step-size pair: mean final loss over seeds and how many seeds diverged (a pair with a diverged seed
    has no mean: it is shown as diverged, not averaged over its surviving seeds)."""
    g = summary.groupby(PAIR_KEYS, sort=False)
    out = g.agg(final_loss=("final_loss", "mean"), n_seeds=("seed", "size"), n_diverged=("diverged", "sum"))
    out.loc[out.n_diverged > 0, "final_loss"] = math.nan
    return out.reset_index()


# --- Figure 2: loss over a grid of step sizes ----------------------------------------------------------------


def validate_fig2(config: Mapping) -> None:
    _validate_problem(config)
    config_rates(config, "eta_x_grid")
    config_rates(config, "eta_y_grid")
    config_rates(config, "shared_rates")
    _seeds(config)
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
        "eta_x_theory": _three_digits(factor * stability["x"].value),
        "eta_y_theory": _three_digits(factor * stability["y"].value),
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


def run_fig2(config: Mapping, out_dir: Path) -> None:
    """Measure L_x, L_y, train every pair of the grid, the diagonal and the theory pair for every seed, and
    write the per-step table, the per-run table (roles, final loss, diagnosis) and the constants."""
    validate_fig2(config)
    problem = _problem(config)
    constants = measure_constants(
        problem, lanczos_iter=int(config["lanczos_iter"]), factor=float(config["theory_factor"])
    )
    pairs = fig2_pairs(config, (constants["eta_x_theory"], constants["eta_y_theory"]))
    specs = [
        figure_runs.TrainSpec(
            problem=problem,
            method=METHOD,
            eta_x=p.eta_x,
            eta_y=p.eta_y,
            steps=int(config["steps"]),
            seed=seed,
            mu=float(config["mu"]),
            eval_limit=config.get("eval_limit"),
        )
        for p in pairs.itertuples()
        for seed in _seeds(config)
    ]
    runs = figure_runs.train_all(_cache(out_dir), specs)
    for name, table in fig2_tables(runs, pairs, {**constants, "problem": problem}, int(config["window"])).items():
        write_table(out_dir, name, table)
    write_config(out_dir, config)


def fig2_tables(runs, pairs: pd.DataFrame, constants: Mapping, window: int) -> dict[str, pd.DataFrame]:
    """The stored tables of Figure 2 from its runs: per step, per run (roles, final loss, best marks), constants."""
    summary = _run_summary(runs, window).merge(pairs, on=["eta_x", "eta_y"])
    marks = _mark_best(pairs.merge(_pair_means(summary), on=["eta_x", "eta_y"]))
    summary = summary.merge(marks[["eta_x", "eta_y", "best_single", "best_pair"]], on=["eta_x", "eta_y"])
    return {
        FIG2_TABLE: _steps_with_smoothing(runs, window).merge(pairs, on=["eta_x", "eta_y"]),
        FIG2_RUNS: summary,
        FIG2_CONSTANTS: pd.DataFrame([dict(constants)]),
    }


def _curve(ax, steps: pd.DataFrame, *, top: float, color, label, lw=1.6, ls="-", zorder=2) -> None:
    """Mean running-mean loss over seeds with a min..max band; the steps every seed reached (a diverged seed
    ends the curve) and an x where a run diverged, held at the top edge ``top`` when off the scale."""
    by_step = steps.groupby("step").loss_smoothed
    n_seeds = steps.seed.nunique()
    common = by_step.count() == n_seeds
    mean, lo, hi = by_step.mean()[common], by_step.min()[common], by_step.max()[common]
    x = mean.index.to_numpy() + 1
    ax.plot(x, mean.to_numpy(), ls, color=color, lw=lw, label=label, zorder=zorder)
    if n_seeds > 1:
        ax.fill_between(x, lo.to_numpy(), hi.to_numpy(), color=color, alpha=style.SPREAD_ALPHA, lw=0, zorder=zorder)
    if steps.diverged.any() and len(x):
        last = float(mean.iloc[-1])
        ax.plot(
            x[-1],
            last if np.isfinite(last) and last < top else top,
            "x",
            color=color,
            ms=10,
            mew=2.5,
            zorder=zorder + 1,
            clip_on=False,
        )


def _loss_limits(steps: pd.DataFrame) -> tuple[float, float]:
    """A linear loss axis around the curves that stay below 1.5x the start: the differences that matter are
    small; curves that leave the top are the unstable ones (their size is in the legend or heat map)."""
    start = float(steps[steps.step == steps.step.min()].loss.mean())
    kept = steps.loss_smoothed[np.isfinite(steps.loss_smoothed) & (steps.loss_smoothed <= 1.5 * start)]
    lo, hi = (float(kept.min()), float(kept.max())) if len(kept) else (0.0, start)
    pad = 0.08 * max(hi - lo, 1e-3 * start)
    return lo - pad, hi + 2 * pad


def _pair_label(ex: float, ey: float, what: str = "") -> str:
    return f"{what}$\\eta_x$={ex:.3g}, $\\eta_y$={ey:.3g}"


def _final_text(runs: pd.DataFrame, ex: float, ey: float) -> str:
    """'final 0.634' (seed mean) or 'diverged' for the legend of one pair."""
    final = _pair_means(runs[(runs.eta_x == ex) & (runs.eta_y == ey)]).final_loss.iloc[0]
    return "diverged" if not np.isfinite(final) else f"final {final:.3g}"


def _fig2_panel_diagonal(ax, steps: pd.DataFrame, runs: pd.DataFrame, top: float) -> None:
    diag = sorted(runs[runs.on_diagonal].eta_x.unique())
    cmap = colormaps["viridis"]
    for i, eta in enumerate(diag):
        s = steps[(steps.eta_x == eta) & (steps.eta_y == eta)]
        _curve(
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
    picks = [("best_pair", "best pair: ", colour, "-", 3.0)]
    if singles:
        picks.append(("best_single", "best single rate: ", colour, ":", 3.0))
    for flag, what, c, ls, lw in picks:
        r = runs[runs[flag]]
        if len(r):
            ex, ey = r.eta_x.iloc[0], r.eta_y.iloc[0]
            _curve(
                ax,
                steps[(steps.eta_x == ex) & (steps.eta_y == ey)],
                top=top,
                color=c,
                ls=ls,
                lw=lw,
                zorder=4,
                label=f"{_pair_label(ex, ey, what)}: {_final_text(runs, ex, ey)}",
            )
    th = runs[runs.is_theory]
    if len(th):
        ex, ey = th.eta_x.iloc[0], th.eta_y.iloc[0]
        _curve(
            ax,
            steps[(steps.eta_x == ex) & (steps.eta_y == ey)],
            top=top,
            color=style.THEORY_COLOR,
            ls=style.THEORY_LINESTYLE,
            lw=2.0,
            zorder=5,
            label=f"{_pair_label(ex, ey, 'theory pair: ')}: {_final_text(runs, ex, ey)}",
        )


def _best_eta_y_per_eta_x(runs: pd.DataFrame) -> pd.DataFrame:
    """For each grid eta_x, the eta_y with the lowest mean final loss (a column that diverged everywhere
    shows its longest-lived pair): one curve per ZO rate keeps a 7 x 7 grid readable; the heat map has all."""
    grid = _pair_means(runs[runs.in_grid]).merge(
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
        _curve(
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
    grid = _pair_means(runs[runs.in_grid]).merge(
        runs.drop_duplicates(["eta_x", "eta_y"])[["eta_x", "eta_y", "on_diagonal", "best_single", "best_pair"]],
        on=["eta_x", "eta_y"],
    )
    ex, ey = sorted(grid.eta_x.unique()), sorted(grid.eta_y.unique())
    Z = np.full((len(ey), len(ex)), np.nan)
    for p in grid.itertuples():
        Z[ey.index(p.eta_y), ex.index(p.eta_x)] = p.final_loss
    finite = Z[np.isfinite(Z)]
    norm, scale = None, "linear"
    if len(finite):
        lo, hi = float(finite.min()), float(max(finite.max(), finite.min() * 1.001))
        # a log colour only where the final losses span a wide range (unstable cells blow up by decades)
        norm, scale = (LogNorm(lo, hi), "log") if 0 < 3 * lo < hi else (Normalize(lo, hi), "linear")
    img = ax.imshow(np.ma.masked_invalid(Z), origin="lower", cmap="magma_r", norm=norm, aspect="auto")
    fig.colorbar(img, ax=ax, label=f"final training loss (running mean, {scale} colour)")
    small = max(len(ex), len(ey)) > 4  # the full 7 x 7 grid needs shorter cell texts
    for p in grid.itertuples():
        i, j = ey.index(p.eta_y), ex.index(p.eta_x)
        if p.n_diverged > 0:
            ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="grey", lw=0))
            ax.text(
                j,
                i,
                f"{'div.' if small else 'diverged'}\n{int(p.n_diverged)}/{int(p.n_seeds)}"
                + ("" if small else " seeds"),
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


def plot_fig2(tables_dir: Path, png_path: Path) -> None:
    steps = read_table(tables_dir, FIG2_TABLE)
    runs = read_table(tables_dir, FIG2_RUNS)
    c = read_table(tables_dir, FIG2_CONSTANTS).iloc[0]
    fig, (a_diag, a_grid, a_heat) = style.new_figure(ncols=3, width=20.0, height=6.2)
    limits = _loss_limits(steps)
    _fig2_panel_diagonal(a_diag, steps, runs, limits[1])
    _fig2_panel_grid(a_grid, steps, runs, limits[1])
    for ax in (a_diag, a_grid):
        ax.set_ylim(*limits)
        ax.set_xlabel("training step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(loc="best", fontsize=7.5, framealpha=0.9)
    window = int(_config_value(tables_dir, "window", 1))
    a_diag.set_ylabel(f"training loss (cross-entropy, running mean over {window} steps)")
    th = runs[runs.is_theory].iloc[0] if runs.is_theory.any() else None
    theory_text = ""
    if th is not None:
        final = _pair_means(runs[runs.is_theory]).final_loss.iloc[0]
        theory_text = (
            f"theory pair {c.theory_factor:g}x limits: $\\eta_x$={th.eta_x:.3g} = "
            f"{c.theory_factor:g}*{c.limit_x_formula}, $\\eta_y$={th.eta_y:.3g} = "
            f"{c.theory_factor:g}*{c.limit_y_formula}\n(L_x={c.L_x:.3g}, L_y={c.L_y:.3g} by "
            f"{int(c.lanczos_iter)} Lanczos its, d_x={int(c.d_x)}); final loss "
            + ("diverged" if not np.isfinite(final) else f"{final:.3g}")
        )
    _fig2_heatmap(fig, a_heat, runs)
    a_heat.set_title("Final loss over the grid\n" + theory_text, fontsize=8.5)
    n_seeds = runs.seed.nunique()
    fig.suptitle(
        f"{style.METHOD_LABELS[METHOD]} under step-size configurations: "
        f"{int(runs.steps.max())} steps, {n_seeds} seed{'s' if n_seeds > 1 else ''}"
        + (" (mean, band = min..max)" if n_seeds > 1 else "")
        + "; x = diverged run",
        y=1.02,
    )
    style.save_figure(fig, png_path)


def _config_value(tables_dir: Path, key: str, default):
    try:
        return read_config(tables_dir).get(key, default)
    except (OSError, ValueError):
        return default


# --- Figure 4: prompt-tuning ablation over mu and the step-size ratio ------------------------------------------


def validate_fig4(config: Mapping) -> None:
    _validate_problem(config)
    config_positive(config, "eta_x")
    config_positive(config, "eta_y")
    config_positive(config, "mu")
    config_rates(config, "mus")
    config_rates(config, "ratio_factors")
    _seeds(config)
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
        {"sweep": "ratio", "value": f, "eta_x": ex if f == 1.0 else _three_digits(f * ex), "eta_y": ey, "mu": mu}
        for f in sorted(set(config_rates(config, "ratio_factors")) | {1.0})
    ]
    out = pd.DataFrame(rows)
    out["ratio"] = out.eta_x / out.eta_y
    out["is_centre"] = (out.eta_x == ex) & (out.eta_y == ey) & (out["mu"] == mu)
    return out


def run_fig4(config: Mapping, out_dir: Path) -> None:
    validate_fig4(config)
    problem = _problem(config)
    pairs = fig4_pairs(config)
    unique = pairs.drop_duplicates(PAIR_KEYS)
    specs = [
        figure_runs.TrainSpec(
            problem=problem,
            method=METHOD,
            eta_x=p.eta_x,
            eta_y=p.eta_y,
            mu=p.mu,
            steps=int(config["steps"]),
            seed=seed,
            eval_limit=config.get("eval_limit"),
        )
        for p in unique.itertuples()
        for seed in _seeds(config)
    ]
    runs = figure_runs.train_all(_cache(out_dir), specs)
    for name, table in fig4_tables(runs, pairs, int(config["window"])).items():
        write_table(out_dir, name, table)
    write_config(out_dir, config)


def fig4_tables(runs, pairs: pd.DataFrame, window: int) -> dict[str, pd.DataFrame]:
    """The stored tables of Figure 4: per step and per run, each row tagged with its sweep (the centre run
    appears once in each sweep)."""
    return {
        FIG4_TABLE: _steps_with_smoothing(runs, window).merge(pairs, on=PAIR_KEYS),
        FIG4_RUNS: _run_summary(runs, window).merge(pairs, on=PAIR_KEYS),
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
        s = steps[steps.sweep == sweep]
        values = sorted(s.value.unique())
        cmap = colormaps[cmap_name]
        limits = _loss_limits(s)
        for i, v in enumerate(values):
            sv = s[s.value == v]
            summary = runs[(runs.sweep == sweep) & (runs.value == v)]
            final = _pair_means(summary).final_loss.iloc[0]
            tail = "diverged" if not np.isfinite(final) else f"final {final:.3g}"
            is_centre = bool(summary.is_centre.iloc[0])
            # the centre is drawn thick and underneath, so a run that matches it stays visible on top
            _curve(
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
    window = int(_config_value(tables_dir, "window", 1))
    axes[0].set_ylabel(f"training loss (cross-entropy, running mean over {window} steps)")
    n_seeds = runs.seed.nunique()
    fig.suptitle(
        f"{style.METHOD_LABELS[METHOD]}, soft-prompt adapter: one-at-a-time sweeps sharing the centre "
        f"run; {int(runs.steps.max())} steps, {n_seeds} seed{'s' if n_seeds > 1 else ''}"
        + (" (mean, band = min..max)" if n_seeds > 1 else "")
        + "; x = diverged run",
        y=1.02,
    )
    style.save_figure(fig, png_path)


# --- the two experiments -------------------------------------------------------------------------------------

# quick: MiniLM (22.7M) on 64 tweets, batch 8 x 32 tokens, CPU. Measured on an idle 2-core machine: a hybrid
# step ~0.3 s, the 8 Lanczos products ~4 s, so Figure 2 (10 runs x 20 steps) took 67 s and Figure 4 (5 runs x
# 20 steps) 33 s (3-10x that under load). Only one dev batch is evaluated at the start and end (these figures
# plot training loss). ``window`` = one epoch of minibatches (64/8 quick, 1000/16 full): the running mean then
# counts every minibatch once, so the minibatch order does not decide which run looks best.
_QUICK_MINILM = {"model": "minilm", "task": "sentiment", "data": dict(paper_setup.QUICK_DATA)}
# full: SmolLM2-135M (or model=PATH) at the paper's data sizes on one GPU
_FULL_SMOLLM2 = {"model": "smollm2", "task": "sentiment", "data": dict(paper_setup.FULL_DATA)}
_FULL_RATES = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]

FIG2_QUICK = {
    "mode": "quick",
    **_QUICK_MINILM,
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
    **_FULL_SMOLLM2,
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

FIG4_QUICK = {
    "mode": "quick",
    **_QUICK_MINILM,
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
    **_FULL_SMOLLM2,
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

EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="fig2",
        kind="paper",
        title="Loss under learning-rate configurations (Fig 2)",
        caption=(
            "Training loss (running mean of the minibatch loss) vs step of the hybrid method (ZO on all base "
            "weights, FO on LoRA) over a grid of (eta_x, eta_y) that contains the one-rate diagonal "
            "eta_x = eta_y, with the best single rate, the best pair and the theory pair (0.5 x the ZO "
            "mean-square limit 2/(L_x(d_x+2)) and 0.5 x the FO limit 2/L_y, L_x and L_y measured in the run by "
            "a few Lanczos iterations on one minibatch at the start point), and a heat map of final loss. "
            "Runs the training core stops (loss not finite or above 10 x the first step's, TrainSpec) are "
            "shown hatched / with an x; runs that blow up less keep their final loss. Reconstruction: "
            "quick mode is MiniLM-L6 (22.7M) on 64 sentiment tweets, 20 steps, 3 x 3 grid, 1 seed, not the "
            "paper's OPT-1.3B; full mode is SmolLM2-135M, 7 x 7 grid, 300 steps, 3 seeds on a GPU."
        ),
        quick=FIG2_QUICK,
        full=FIG2_FULL,
        run=run_fig2,
        plot=plot_fig2,
        main_table=FIG2_TABLE,
        tables=(FIG2_RUNS, FIG2_CONSTANTS),
        required_keys=FIG2_KEYS,
        validate=validate_fig2,
    ),
    Experiment(
        name="fig4",
        kind="paper",
        title="Prompt-tuning ablation (Fig 4)",
        caption=(
            "Training loss (running mean) vs step of the hybrid method with a soft prompt (10 virtual tokens "
            "+ the classification head as y, ZO on all base weights), in two one-at-a-time sweeps sharing "
            "the centre run: mu in {1e-4, 1e-3, 1e-2} at a fixed (eta_x, eta_y), and eta_x/eta_y over "
            "0.1x-10x a reference ratio (eta_x varied, eta_y fixed) at mu = 1e-3. The reference pair is "
            "a hand-picked stable pair (the panel titles give it), not one from measured constants (the "
            "theory ratio L_y/(L_x(d_x+2)) is of order 1/d_x and would leave x frozen over these steps). "
            "Reconstruction: quick mode is MiniLM-L6 on 64 sentiment tweets, 20 steps, 1 seed, not OPT-1.3B "
            "on SST-2; full mode is SmolLM2-135M, 500 steps, 3 seeds on a GPU."
        ),
        quick=FIG4_QUICK,
        full=FIG4_FULL,
        run=run_fig4,
        plot=plot_fig4,
        main_table=FIG4_TABLE,
        tables=(FIG4_RUNS,),
        required_keys=FIG4_KEYS,
        validate=validate_fig4,
    ),
]
