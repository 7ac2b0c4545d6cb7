"""Fig 5 of the paper: Lanczos L_x, L_y at the start point across models, adapters and tasks, with THEORY
6.4's predicted two-step speed-up at the measured rho = L_x / L_y."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.lines import Line2D

from ..errors import UsageError
from ..theory import predictions
from . import curvature_setup as cs
from . import paper_setup, style
from .figure_runs import objective_at_start
from .registry import config_int, config_positive, read_config, read_table, write_config, write_table


def validate_fig5(config: Mapping) -> None:
    cs.model_names(config, "models")
    cs.choices(config, "adapters", cs.ADAPTERS)
    cs.choices(config, "tasks", cs.TASKS)
    cs.data_keys(config)
    config_int(config, "n_batches", minimum=2)
    config_int(config, "lanczos_iter", minimum=2)
    cs.lanczos_rtol(config)
    config_int(config, "seed", minimum=0)
    if config_positive(config, "kappa_y") <= 1:
        raise UsageError(
            f"config 'kappa_y' (the assumed L_y / m_y of THEORY 6.4) must exceed 1, got {config['kappa_y']!r}"
        )


def _rho_grid(rho: pd.Series) -> np.ndarray:
    lo, hi = float(rho.min()), float(rho.max())
    return np.geomspace(min(lo, 1.0) / 3, max(hi, 1.0) * 3, 40)


def run_fig5(config: Mapping, out_dir: Path) -> None:
    """L_x, L_y by Lanczos at the start point on minibatches 0..n_batches-1 of every model x adapter x task;
    tables fig5_batches.csv (one row per minibatch), fig5.csv (per configuration: mean and min..max over the
    minibatches, rho = L_x/L_y per minibatch, s_exact and s_theory at the mean rho) and fig5_speedup.csv (the
    s(rho) curves of THEORY 6.4 for each model's d_x and n)."""
    validate_fig5(config)
    kappa_y = float(config["kappa_y"])
    rows = []
    for model in config["models"]:
        for task in config["tasks"]:
            for adapter in config["adapters"]:
                rows += _fig5_batch_rows(config, model, adapter, task)
    per_batch = pd.DataFrame(rows)
    per_batch["rho"] = per_batch.L_x / per_batch.L_y
    summary = summarize_fig5(per_batch, kappa_y=kappa_y)
    curves = _speedup_curves(summary, kappa_y=kappa_y)
    write_table(out_dir, "fig5_batches.csv", per_batch)
    write_table(out_dir, "fig5.csv", summary)
    write_table(out_dir, "fig5_speedup.csv", curves)
    write_config(out_dir, config)


def _fig5_batch_rows(config: Mapping, model: str, adapter: str, task: str) -> list[dict]:
    """One row per minibatch 0..n_batches-1 of one configuration: its loss and Lanczos L_x, L_y at the start."""
    nb, iters, seed = int(config["n_batches"]), int(config["lanczos_iter"]), int(config["seed"])
    rtol = cs.lanczos_rtol(config)
    problem = cs.figure_problem(model, adapter, task, cs.data_keys(config))
    obj = objective_at_start(problem)
    if obj.n < nb:
        raise UsageError(f"{problem} has {obj.n} minibatches, fewer than n_batches = {nb}")
    x, y = obj.initial_point()
    t0 = time.perf_counter()
    rows = []
    for b in range(nb):
        with torch.no_grad():
            loss = float(obj.loss(x, y, b))
        est = {
            r["block"]: r
            for r in cs.figure_block_constants(
                obj, x, y, idx=b, iterations=iters, seed=seed + 10 * b, cross=False, rtol=rtol
            )
        }
        rows.append(
            {
                "model": model,
                "adapter": adapter,
                "task": task,
                "batch": b,
                "loss": loss,
                "L_x": est["x"]["L"],
                "L_y": est["y"]["L"],
                "residual_x": est["x"]["residual"],
                "residual_y": est["y"]["residual"],
                "iterations_x": est["x"]["iterations"],
                "iterations_y": est["y"]["iterations"],
                "converged": bool(est["x"]["converged"] and est["y"]["converged"]),
                "converged_x": bool(est["x"]["converged"]),
                "converged_y": bool(est["y"]["converged"]),
                "d_x": obj.d_x,
                "d_y": obj.d_y,
                "n": obj.n,
                "random_init": model in cs.RANDOM_INIT_MODELS,
            }
        )
    print(
        f"  Fig 5: {model} {adapter} {task}: L_x={np.mean([r['L_x'] for r in rows]):.4g} "
        f"L_y={np.mean([r['L_y'] for r in rows]):.4g} over {nb} minibatches in "
        f"{time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    return rows


def _speedup_curves(summary: pd.DataFrame, *, kappa_y: float) -> pd.DataFrame:
    """s_exact and s_theory over a rho grid around the measured rhos, for each model's d_x and n."""
    curves = []
    for (model, d_x, n), _ in summary.groupby(["model", "d_x", "n"], sort=False):
        for rho in _rho_grid(summary.rho_mean):
            curves.append(
                {
                    "model": model,
                    "d_x": d_x,
                    "n": n,
                    "rho": rho,
                    "s_exact": predictions.s_exact(rho, d_x=int(d_x), kappa_y=kappa_y),
                    "s_theory": predictions.s_theory(rho, n=int(n), d_x=int(d_x)),
                }
            )
    return pd.DataFrame(curves)


def summarize_fig5(per_batch: pd.DataFrame, *, kappa_y: float) -> pd.DataFrame:
    """Per model x adapter x task: mean and min..max over minibatches of L_x, L_y and rho (rho per minibatch),
    the largest relative residuals, and THEORY 6.4's s_exact at rho_mean and its ends (n = 1, as in 6.4;
    kappa_y assumed) and s_theory with the problem's own n (minibatches per epoch)."""
    keys = ["model", "adapter", "task"]
    rows = []
    for (model, adapter, task), g in per_batch.groupby(keys, sort=False):
        row = {
            "model": model,
            "adapter": adapter,
            "task": task,
            "n_batches": len(g),
            "d_x": int(g.d_x.iloc[0]),
            "d_y": int(g.d_y.iloc[0]),
            "n": int(g.n.iloc[0]),
            "random_init": bool(g.random_init.iloc[0]),
            "converged_all": bool(g.converged.all()),
            # tables written before the per-block flags carry only the joint one
            "converged_x_all": bool(g.get("converged_x", g.converged).all()),
            "converged_y_all": bool(g.get("converged_y", g.converged).all()),
            "max_rel_residual_x": float((g.residual_x / g.L_x).max()),
            "max_rel_residual_y": float((g.residual_y / g.L_y).max()),
        }
        for q in ("L_x", "L_y", "rho"):
            row |= {f"{q}_mean": float(g[q].mean()), f"{q}_min": float(g[q].min()), f"{q}_max": float(g[q].max())}
        d_x = row["d_x"]
        for end in ("mean", "min", "max"):
            row[f"s_exact_{end}"] = predictions.s_exact(row[f"rho_{end}"], d_x=d_x, kappa_y=kappa_y)
        row["s_theory"] = predictions.s_theory(row["rho_mean"], n=row["n"], d_x=d_x)
        row["kappa_y_assumed"] = kappa_y
        rows.append(row)
    return pd.DataFrame(rows)


ADAPTER_MARKERS = {"lora": "o", "prompt": "s"}


def _config_label(row) -> str:
    return f"{row.model}{'*' if row.random_init else ''}\n{row.adapter}\n{row.task}"


def plot_fig5(tables_dir: Path, png_path: Path) -> None:
    t = read_table(tables_dir, "fig5.csv")
    curves = read_table(tables_dir, "fig5_speedup.csv")
    cfg = read_config(tables_dir)
    fig, (ax, ax2) = style.new_figure(ncols=2, width=max(13.0, 1.0 * len(t) + 7.0), height=5.6)
    _fig5_constants_panel(ax, t, cfg)
    _fig5_speedup_panel(ax2, t, curves, cfg)
    style.save_figure(fig, png_path)


def _fig5_constants_panel(ax, t: pd.DataFrame, cfg: Mapping) -> None:
    """Bars of L_x and L_y per configuration (mean, min..max over minibatches) with the mean rho above."""
    pos = np.arange(len(t))
    w = 0.38
    for _k, (block, off) in enumerate((("x", -w / 2), ("y", w / 2))):
        mean, lo, hi = t[f"L_{block}_mean"], t[f"L_{block}_min"], t[f"L_{block}_max"]
        ax.bar(pos + off, mean, width=w, color=cs.BLOCK_COLORS[block], alpha=0.75, label=cs.BLOCK_LABELS[block])
        ax.errorbar(pos + off, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="black", capsize=3, lw=1.0)
        conv = t.get(f"converged_{block}_all", t.converged_all).astype(bool).to_numpy()
        for filled in (True, False):
            sel = conv == filled
            ax.plot((pos + off)[sel], mean[sel], "o", color="black", mfc="black" if filled else "white", ms=5, ls="")
    top = t[["L_x_max", "L_y_max"]].max(axis=1)
    for p, r, h in zip(pos, t.itertuples(), top):
        ax.annotate(rf"$\rho$={r.rho_mean:.3g}", (p, h * 1.15), ha="center", fontsize=7.5)
    ax.set_yscale("log")
    ax.set_ylim(top=float(top.max()) * 3)
    ax.set_xticks(pos, [_config_label(r) for r in t.itertuples()], fontsize=7.5)
    if t.random_init.any():
        ax.set_xlabel("model (* = random initialisation, no pretrained weights) / adapter / task")
    ax.set_ylabel("block smoothness estimate at the start point (log scale)")
    ax.set_title(
        f"Lanczos L_x, L_y (at most {cfg['lanczos_iter']} steps, stop at rel. residual "
        f"{cs.lanczos_rtol(cfg):g}): mean over {int(t.n_batches.iloc[0])} minibatches, bars = min..max\n"
        f"filled dot: every minibatch converged; open: a Ritz value unconverged (a lower bound); worst "
        f"relative residual x {t.max_rel_residual_x.max():.2g}, y {t.max_rel_residual_y.max():.2g}",
        fontsize=9,
    )
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)


def _fig5_speedup_panel(ax2, t: pd.DataFrame, curves: pd.DataFrame, cfg: Mapping) -> None:
    """THEORY 6.4's s_exact and s_theory curves per model, with the measured rho of each configuration on them."""
    styles = dict(zip(dict.fromkeys(curves.model), ("-", "--", "-.", ":")))
    for model, c in curves.groupby("model", sort=False):
        c = c.sort_values("rho")
        ax2.plot(
            c.rho,
            c.s_exact,
            styles[model],
            color=style.THEORY_COLOR,
            lw=1.3,
            label=f"$s_{{exact}}$, {model} (d_x={int(c.d_x.iloc[0]):,})",
        )
        ax2.plot(
            c.rho,
            c.s_theory,
            styles[model],
            color="grey",
            lw=1.0,
            alpha=0.7,
            label=f"$s_{{theory}}$, {model} (n={int(c.n.iloc[0])})",
        )
    for r in t.itertuples():
        ax2.errorbar(
            r.rho_mean,
            r.s_exact_mean,
            xerr=[[r.rho_mean - r.rho_min], [r.rho_max - r.rho_mean]],
            yerr=[[r.s_exact_mean - r.s_exact_min], [r.s_exact_max - r.s_exact_mean]],
            fmt=ADAPTER_MARKERS.get(r.adapter, "D"),
            color=style.MEASURED_COLOR,
            mfc=style.MEASURED_COLOR if r.task == cs.TASKS[0] else "white",
            ms=7,
            capsize=2,
            lw=0.8,
        )
    _fig5_speedup_legend(ax2, t)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"$\rho = L_x / L_y$ (per-minibatch mean; bars min..max; log scale)")
    ax2.set_ylabel("predicted speed-up of two step sizes over one (log scale)")
    ax2.set_title(
        f"THEORY 6.4 speed-up at the measured rho ($\\kappa_y$={cfg['kappa_y']:g} assumed;\n"
        r"$s_{exact} \approx 2\rho(d_x+2)$, so the model size dominates)",
        fontsize=9,
    )


def _fig5_speedup_legend(ax2, t: pd.DataFrame) -> None:
    """The curves' legend plus one marker per adapter x task shown (filled: first task, hollow: second)."""
    handles, _ = ax2.get_legend_handles_labels()
    handles += [
        Line2D(
            [],
            [],
            color=style.MEASURED_COLOR,
            marker=ADAPTER_MARKERS[a],
            ls="",
            mfc=style.MEASURED_COLOR if task == cs.TASKS[0] else "white",
            label=f"measured rho: {a}, {task}",
        )
        for a in ADAPTER_MARKERS
        if a in set(t.adapter)
        for task in cs.TASKS
        if task in set(t.task)
    ]
    ax2.legend(handles=handles, loc="upper left", fontsize=7.5, framealpha=0.9)


FIG5_QUICK = {
    "mode": "quick",
    "models": ["minilm", "tiny-llama"],
    "adapters": ["lora", "prompt"],
    "tasks": ["sentiment", "topic"],
    # converged solves (8-21 products each) are paid for by two minibatches a configuration (three before) and
    # 32 tokens for the news topics too (64 elsewhere in quick mode): the topic solves cost half as much
    "data": dict(paper_setup.QUICK_DATA),
    "n_batches": 2,
    "lanczos_iter": 60,
    "lanczos_rtol": 1e-2,
    "kappa_y": 100.0,
    "seed": 0,
}
# full: adds SmolLM2-135M (and any checkpoint paths the user lists), 8 minibatches, 30 Lanczos steps per block at
# the paper's data scale on a GPU -- about 30-60 minutes on one large GPU.
FIG5_FULL = {
    "mode": "full",
    "models": ["minilm", "tiny-llama", "smollm2"],
    "adapters": ["lora", "prompt"],
    "tasks": ["sentiment", "topic"],
    "data": dict(paper_setup.FULL_DATA),
    "n_batches": 8,
    "lanczos_iter": 30,
    "lanczos_rtol": 1e-3,
    "kappa_y": 100.0,
    "seed": 0,
}
