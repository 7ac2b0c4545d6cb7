"""Fig 1 of the paper: block smoothness along one short hybrid run (THEORY 8, 3.1).

The run is ``curvature.secant_run``: ``optim.hybrid_sgd.hybrid_step`` (THEORY 2.1: Jacobi, FO gradient at the
clean point, central ZO on x, random reshuffling over minibatches) along the steps of ``optim.schedule``,
with an out-of-place ZO step, rather than ``engine.model_run.train_model``: the secant of every step needs
both ends of each one-block move, (x_t, y_t) -> (x_{t+1}, y_t) and (x_t, y_t) -> (x_t, y_{t+1}), while the
in-place trainer overwrites x_t; stopping it at every step through checkpoints would write the weights to
disk once per step. At a few steps the Lanczos block norms of one fixed minibatch loss are measured too.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.lines import Line2D

from ..curvature import SecantStep, secant_run
from ..errors import UsageError
from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig
from ..optim.schedule import step_schedule
from . import curvature_setup as cs
from . import paper_setup, style
from .figure_runs import objective_at_start
from .registry import config_int, config_positive, read_config, read_table, write_config, write_table


def fig1_curvature_run(
    objective: Objective,
    config: HybridSGDConfig,
    *,
    steps: int,
    measure_every: int,
    curvature_batch: int,
    lanczos_iter: int,
    lanczos_rtol: float = cs.LANCZOS_TOL,
    say=print,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The Fig 1 run: ``steps`` hybrid steps from the objective's live point (left unchanged).

    Returns (points, secants). ``points``: ``figure_block_constants`` on minibatch ``curvature_batch`` at
    steps 0, ``measure_every``, ... and at the last point. ``secants``: one row per step of
    ``curvature.secant_run`` on the step's own minibatch, with ratio = secant_x / secant_y. The x move
    follows one random direction, so secant_x sits far below L_x by construction.
    """
    if config.method != "hybrid" or config.update != "jacobi" or config.fo_point != "clean":
        raise UsageError("the Fig 1 run is the hybrid method, Jacobi update, FO gradient at the clean point")
    if config.form != "central":
        raise UsageError(f"the Fig 1 run uses the central ZO form, got {config.form!r}")
    n = objective.n
    if not 0 <= curvature_batch < n:
        raise UsageError(f"curvature_batch must lie in [0, {n}) for this problem, got {curvature_batch}")
    measure_at = {*range(0, steps + 1, measure_every), steps}
    points: list[dict] = []

    def at_point(s: int, x, y) -> None:
        if s in measure_at:
            points.extend(_measure(objective, x, y, s, curvature_batch, lanczos_iter, lanczos_rtol, say))

    def stop_if_diverged(st: SecantStep) -> None:
        if not math.isfinite(st.loss):
            raise UsageError(f"the Fig 1 run diverged at step {st.step} (loss {st.loss}); lower eta_x or eta_y")

    x, y = objective.initial_point()
    run = secant_run(
        objective,
        x,
        y,
        step_schedule(config.order, n=n, run_seed=config.seed, stop=steps, device=x.device),
        config,
        at_point=at_point,
        on_step=stop_if_diverged,
    )
    sec = pd.DataFrame([_secant_row(st) for st in run.steps])
    if not sec.empty:
        sec["ratio"] = sec.secant_x / sec.secant_y
    return pd.DataFrame(points), sec


def _measure(objective: Objective, x, y, step: int, batch: int, iters: int, rtol: float, say) -> list[dict]:
    t0 = time.perf_counter()
    with torch.no_grad():
        loss = float(objective.loss(x, y, batch))
    rows = cs.figure_block_constants(objective, x, y, idx=batch, iterations=iters, seed=1000 + step, rtol=rtol)
    say(
        f"    step {step}: "
        + ", ".join(f"L_{r['block']}={r['L']:.4g} ({_residual_said(r)})" for r in rows)
        + f" in {time.perf_counter() - t0:.1f} s"
    )
    return [{"step": step, "batch": batch, "loss": loss, **r} for r in rows]


def _residual_said(row: dict) -> str:
    """The solve's residual as the tolerance reads it: relative to the value (the absolute one where L is 0)."""
    scale = abs(row["L"])
    said = f"rel res {row['residual'] / scale:.2g}" if scale > 0 else f"res {row['residual']:.2g}"
    return said if row["converged"] else said + ", not converged"


def _secant_row(st: SecantStep) -> dict:
    return {
        "step": st.step,
        "epoch": st.epoch,
        "sample": st.sample,
        "loss": st.loss,
        "grad_x_norm": st.grad_x_norm,
        "grad_y_norm": st.grad_y_norm,
        "zo_phi": st.phi,
        "step_x": st.step_x,
        "step_y": st.step_y,
        "secant_x": st.secant_x,
        "secant_y": st.secant_y,
        "seconds": st.seconds,
    }


def validate_fig1(config: Mapping) -> None:
    cs.model_names(config, "model")
    cs.choices(config, "adapters", cs.ADAPTERS)
    if config.get("task") not in cs.TASKS:
        raise UsageError(f"config 'task' must be one of {', '.join(cs.TASKS)}, got {config.get('task')!r}")
    cs.data_keys(config)
    steps = config_int(config, "steps", minimum=1)
    every = config_int(config, "measure_every", minimum=1)
    if every > steps:
        raise UsageError(
            f"config 'measure_every' ({every}) must not exceed 'steps' ({steps}): the run would be "
            "measured at its two ends only; lower it or set it equal to steps"
        )
    config_int(config, "lanczos_iter", minimum=2)
    cs.lanczos_rtol(config)
    config_int(config, "curvature_batch", minimum=0)
    config_int(config, "seed", minimum=0)
    config_int(config, "q", minimum=1)
    for key in ("eta_x", "eta_y", "mu"):
        config_positive(config, key)


def run_fig1(config: Mapping, out_dir: Path) -> None:
    """For each adapter: the hybrid run of ``fig1_curvature_run`` with Lanczos block norms at a few points and secants
    at every step; tables fig1.csv (points, one row per block) and fig1_secants.csv (one row per step)."""
    validate_fig1(config)
    opt = HybridSGDConfig(
        method="hybrid",
        eta_x=float(config["eta_x"]),
        eta_y=float(config["eta_y"]),
        epochs=0,
        mu=float(config["mu"]),
        q=int(config["q"]),
        seed=int(config["seed"]),
    )
    points, secants = [], []
    for adapter in config["adapters"]:
        problem = cs.figure_problem(config["model"], adapter, config["task"], cs.data_keys(config))
        print(f"  Fig 1 run, {adapter}: {config['steps']} hybrid steps on {problem}", flush=True)
        obj = objective_at_start(problem)
        p, s = fig1_curvature_run(
            obj,
            opt,
            steps=int(config["steps"]),
            measure_every=int(config["measure_every"]),
            curvature_batch=int(config["curvature_batch"]),
            lanczos_iter=int(config["lanczos_iter"]),
            lanczos_rtol=cs.lanczos_rtol(config),
        )
        tags = {"model": config["model"], "adapter": adapter, "task": config["task"], "d_x": obj.d_x, "d_y": obj.d_y}
        points.append(p.assign(**tags))
        secants.append(s.assign(**tags))
    write_table(out_dir, "fig1.csv", pd.concat(points, ignore_index=True))
    write_table(out_dir, "fig1_secants.csv", pd.concat(secants, ignore_index=True))
    write_config(out_dir, config)


def _fig1_panel(ax, pts: pd.DataFrame, sec: pd.DataFrame) -> None:
    for block in ("x", "y"):
        col = f"secant_{block}"
        ok = sec[np.isfinite(sec[col]) & (sec[col] > 0)]
        ax.plot(
            ok.step + 0.5,
            ok[col],
            "-",
            color=cs.BLOCK_COLORS[block],
            lw=1.0,
            alpha=0.8,
            label=f"secant$_{block}$ per step (step's minibatch)",
        )
    for block in ("x", "y", "xy"):
        g = pts[pts.block == block].sort_values("step")
        if g.empty:
            continue
        conv = g.converged.astype(bool)
        ax.errorbar(
            g.step,
            g.L,
            yerr=[np.zeros(len(g)), g.residual],
            fmt="none",
            ecolor=cs.BLOCK_COLORS[block],
            capsize=3,
            lw=1.0,
        )
        ax.plot(g.step, g.L, "--", color=cs.BLOCK_COLORS[block], lw=0.8)
        ax.plot(g.step[conv], g.L[conv], "o", color=cs.BLOCK_COLORS[block], ms=7)
        ax.plot(
            g.step[~conv],
            g.L[~conv],
            "o",
            color=cs.BLOCK_COLORS[block],
            mfc="white",
            ms=7,
            label=f"{cs.BLOCK_LABELS[block]}, Lanczos",
        )
    ax.set_yscale("log")
    ax.set_xlabel("training step t (hybrid run)")


def plot_fig1(tables_dir: Path, png_path: Path) -> None:
    pts = read_table(tables_dir, "fig1.csv")
    sec = read_table(tables_dir, "fig1_secants.csv")
    cfg = read_config(tables_dir)
    adapters = list(dict.fromkeys(pts.adapter))
    fig, axes = style.new_figure(ncols=len(adapters) + 1, width=5.6 * (len(adapters) + 1), height=5.0)
    for ax, adapter in zip(axes, adapters):
        p, s = pts[pts.adapter == adapter], sec[sec.adapter == adapter]
        _fig1_panel(ax, p, s)
        ax.set_title(
            f"{p.model.iloc[0]}, {cs.ADAPTER_LABELS.get(adapter, adapter)}, {p.task.iloc[0]}\n"
            f"d_x={int(p.d_x.iloc[0]):,}, d_y={int(p.d_y.iloc[0]):,}"
        )
        if ax is axes[0]:
            ax.set_ylabel("block smoothness estimate (log scale)")
    _fig1_legend(axes[0], cfg)
    _fig1_ratio_panel(axes[-1], pts, sec, adapters)
    fig.suptitle(
        f"Smoothness structures along a hybrid run (eta_x={cfg['eta_x']:g}, eta_y={cfg['eta_y']:g}, "
        f"mu={cfg['mu']:g}, {cfg['steps']} steps)",
        y=1.01,
    )
    style.save_figure(fig, png_path)


def _fig1_legend(ax, cfg: Mapping) -> None:
    """The legend of the block panels, under the first one, with what the Lanczos markers mean."""
    handles, _ = ax.get_legend_handles_labels()
    handles.append(
        Line2D(
            [],
            [],
            color="grey",
            marker="o",
            ls="",
            ms=7,
            label=f"filled marker: Lanczos converged (rel. residual <= {cs.lanczos_rtol(cfg):g})",
        )
    )
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.0, -0.13),
        ncol=2,
        fontsize=7.5,
        framealpha=0.9,
        title_fontsize=7.5,
        title=f"Lanczos (at most {cfg['lanczos_iter']} steps, minibatch {cfg['curvature_batch']}): open marker = "
        "unconverged Ritz value (a lower bound), bar = +residual",
    )


def _fig1_ratio_panel(ax, pts: pd.DataFrame, sec: pd.DataFrame, adapters: list) -> None:
    """Histogram of the per-step secant ratio per adapter, with the Lanczos L_x/L_y of the measured points."""
    ratios = sec.ratio[np.isfinite(sec.ratio) & (sec.ratio > 0)]
    if len(ratios):
        bins = np.geomspace(ratios.min() / 1.5, ratios.max() * 1.5, 16)
        for adapter, hatch in zip(adapters, ("", "//")):
            r = sec.ratio[(sec.adapter == adapter) & np.isfinite(sec.ratio) & (sec.ratio > 0)]
            ax.hist(
                r,
                bins=bins,
                histtype="stepfilled" if not hatch else "step",
                hatch=hatch or None,
                color=style.METHOD_COLORS["hybrid"],
                alpha=0.35 if not hatch else 1.0,
                lw=1.5,
                label=f"secant$_x$/secant$_y$, {adapter} (median {r.median():.3g})",
            )
    for adapter, ls in zip(adapters, ("-", ":")):
        g = pts[pts.adapter == adapter].pivot_table(index="step", columns="block", values="L")
        for k, (_step, row) in enumerate(g.iterrows()):
            ax.axvline(
                row.x / row.y,
                color=style.THEORY_COLOR,
                ls=ls,
                lw=1.0,
                label=f"Lanczos $L_x/L_y$, {adapter} (steps {', '.join(str(i) for i in g.index)})" if k == 0 else None,
            )
    ax.set_xscale("log")
    ax.set_xlabel(r"local ratio $L_x / L_y$ (log scale)")
    ax.set_ylabel("number of steps")
    ax.set_title("Local ratio L_x/L_y: secants (per step) vs Lanczos (points)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7.5, framealpha=0.9)


FIG1_QUICK = {
    "mode": "quick",
    "model": "minilm",
    "adapters": ["lora", "prompt"],
    "task": "sentiment",
    "data": None,
    # converged solves cost 14-21 s a point on one core (4 products cost 9 s): the start and the end only, and
    # 12 steps (16 before), keep the figure within the quick-mode budget of the demo
    "steps": 12,
    "measure_every": 12,
    "lanczos_iter": 60,
    "lanczos_rtol": 1e-2,
    "curvature_batch": 0,
    "eta_x": 1e-4,
    "eta_y": 1.0,
    "mu": 1e-3,
    "q": 1,
    "seed": 0,
}
# full: SmolLM2-135M at the paper's data scale on a GPU; 200 steps with Lanczos (30 steps, ~120 products) at 9
# points per adapter -- about 20-40 minutes on one large GPU (CPU: many hours). A checkpoint path may replace
# "smollm2".
FIG1_FULL = {
    "mode": "full",
    "model": "smollm2",
    "adapters": ["lora", "prompt"],
    "task": "sentiment",
    "data": dict(paper_setup.FULL_DATA),
    "steps": 200,
    "measure_every": 25,
    "lanczos_iter": 30,
    "lanczos_rtol": 1e-3,
    "curvature_batch": 0,
    "eta_x": 1e-6,
    "eta_y": 1e-2,
    "mu": 1e-3,
    "q": 1,
    "seed": 0,
}
