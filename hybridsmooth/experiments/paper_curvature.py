"""The paper's two curvature figures (THEORY 8): block smoothness along a hybrid run (Fig 1) and the estimated
Lipschitz constants across models, adapters and tasks with the predicted two-step speed-up (Fig 5).

Both measure block norms of the Hessian of ONE minibatch loss f_idx at a point by Lanczos on Hessian-vector
products (THEORY 3.1): L_x = ||H_xx||, L_y = ||H_yy|| and, for Fig 1, L_xy = sigma_max(H_xy) (largest-magnitude
Lanczos on the dilation [[0, H_xy], [H_yx, 0]]). A budget of a few products leaves the Ritz values unconverged:
each one is a LOWER bound on the block norm (a Ritz value of a symmetric operator lies inside its spectrum),
and its residual ||A v - theta v|| is stored beside it (some eigenvalue lies within the residual of theta).

Fig 1's run is a small loop over ``optim.hybrid_sgd.hybrid_step`` (THEORY 2.1: Jacobi, FO gradient at the clean
point, central ZO on x, random reshuffling over minibatches, noise from ``zo_generator(seed, epoch, step)``) with
an out-of-place ZO step, rather than ``engine.model_run.train_model``: the secant of every step needs both ends
of each one-block move, (x_t, y_t) -> (x_{t+1}, y_t) and (x_t, y_t) -> (x_t, y_{t+1}), while the in-place trainer
overwrites x_t; stopping it at every step through checkpoints would write the weights to disk once per step.

Why one file for Figures 1 and 5: its block-constant and training-loop code is a copy of what the curvature
and optim packages also compute; once those copies give way to one shared routine each, the file splits by
figure or check. Splitting it now would spread the copies over more files.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..curvature import HessianAtPoint, cross_norm, lanczos_top_eigs
from ..errors import UsageError
from ..optim.hybrid_sgd import HybridSGDConfig, hybrid_step
from ..optim.orders import sample_orders
from ..theory import bounds
from ..zo.estimators import ZOEstimate, zo_generator
from . import paper_setup, style
from .model_runs import objective_at_start
from .registry import (Experiment, config_int, config_positive, read_config, read_table, write_config,
                       write_table)

ADAPTERS = ("lora", "prompt")
TASKS = ("sentiment", "topic")
ADAPTER_LABELS = {"lora": "LoRA (r=8, q,k,v,o)", "prompt": "soft prompt (10 tokens)"}
BLOCK_LABELS = {"x": r"$L_x = \|H_{xx}\|$ (full model, ZO)", "y": r"$L_y = \|H_{yy}\|$ (adapter, FO)",
                "xy": r"$L_{xy} = \sigma_{max}(H_{xy})$ (cross block)"}
# x and y keep the colours they have in every figure (measured = red, second series = blue); the cross block is
# the third series and takes the neutral colour
BLOCK_COLORS = style.BLOCK_COLORS
RANDOM_INIT_MODELS = ("tiny-llama", "tiny-bert")
LANCZOS_TOL = 1e-3


# --- config checks ------------------------------------------------------------------------------------------

def _choices(config: Mapping, key: str, accepted: tuple[str, ...]) -> list[str]:
    v = config.get(key)
    if not isinstance(v, (list, tuple)) or not v or any(a not in accepted for a in v) or len(set(v)) != len(v):
        raise UsageError(f"config {key!r} must be a non-empty list of distinct names from {', '.join(accepted)}, "
                         f"got {v!r}")
    return list(v)


def _model_names(config: Mapping, key: str) -> list[str]:
    """Model names of ``llm_problem`` (minilm, smollm2, tiny-llama, tiny-bert) or checkpoint paths."""
    v = config.get(key)
    names = [v] if key == "model" else v
    if not isinstance(names, (list, tuple)) or not names or any(
            not isinstance(m, str) or not m or "," in m or "=" in m for m in names):
        raise UsageError(f"config {key!r} must name {'a model' if key == 'model' else 'a non-empty list of models'} "
                         f"(minilm, smollm2, tiny-llama, tiny-bert or a checkpoint path without ',' or '='), got {v!r}")
    return list(names)


def _data(config: Mapping) -> dict:
    """The data keys of the problem strings (``paper_setup`` defaults when absent or null)."""
    d = config.get("data")
    if d is None:
        return {}
    if not isinstance(d, Mapping) or any(not isinstance(k, str) for k in d):
        raise UsageError(f"config 'data' must be a mapping of llm problem keys (n_train, batch_size, ...) or null, "
                         f"got {d!r}")
    return dict(d)


def _problem(model: str, adapter: str, task: str, data: dict) -> str:
    if data:
        return paper_setup.llm_problem(model, adapter, task, **data)
    return paper_setup.llm_problem(model, adapter, task)


# --- shared measurement ------------------------------------------------------------------------------------

def block_constants(objective, x: Tensor, y: Tensor, *, idx: int, iterations: int, seed: int = 0,
                    cross: bool = True) -> list[dict]:
    """One row per block (x, y and, with ``cross``, xy): the Lanczos estimate of the block norm of grad^2 f_idx
    at (x, y) after at most ``iterations`` steps, its residual, steps, products and seconds.

    ``theory.real_model.point_curvature`` measures the same three numbers; this variant keeps the Lanczos
    recurrence residual beta_m |s_m| (exact under the solver's full re-orthogonalisation) instead of one
    more explicit product per operator (a fifth of a quick figure's products), and skips the cross block when
    asked. Ritz values are lower bounds on the norms (module docstring).
    """
    engine = HessianAtPoint(objective, x, y, idx=idx, check=False)
    rows = []
    try:
        for k, (block, d) in enumerate((("x", objective.d_x), ("y", objective.d_y))):
            r = lanczos_top_eigs(engine.operator(block * 2), 1, which="LM", max_iter=min(iterations, d),
                                 tol=LANCZOS_TOL, seed=seed + k, explicit_residuals=False)
            rows.append({"block": block, "L": abs(r.top), "residual": r.residuals[0], "iterations": r.iterations,
                         "hvps": r.n_hvp, "converged": r.converged, "seconds": r.seconds})
        if cross:
            c = cross_norm(engine, tol=LANCZOS_TOL, max_iter=min(iterations, objective.d_x + objective.d_y),
                           seed=seed + 2)
            rows.append({"block": "xy", "L": c.estimate, "residual": c.solver.residuals[0],
                         "iterations": c.solver.iterations, "hvps": c.solver.n_hvp, "converged": c.solver.converged,
                         "seconds": c.solver.seconds})
    finally:
        engine.release()
    return rows


def _norm(v: Tensor) -> float:
    return float(torch.linalg.vector_norm(v.double()))


# --- Fig 1: smoothness along a hybrid run ------------------------------------------------------------------

def _flat_central_zo_step(loss_fn, v: Tensor, *, eta: float, mu: float, form, q: int, generator
                          ) -> tuple[Tensor, ZOEstimate]:
    """v - eta (1/q) sum_j phi_j u_j with central phi_j along flat N(0, I) directions, out of place.

    The batched ``zo_step`` draws (q, d) directions and evaluates them in one call, which a torch-model loss
    (one flat point, no batch dimension) does not accept; one direction at a time keeps one extra copy of x.
    """
    step = torch.zeros_like(v)
    phis = []
    with torch.no_grad():
        for _ in range(q):
            u = torch.randn(v.shape, generator=generator, dtype=v.dtype, device=v.device)
            phi = (float(loss_fn(v + mu * u)) - float(loss_fn(v - mu * u))) / (2 * mu)
            step.add_(u, alpha=phi / q)
            phis.append(phi)
            del u
    return v - eta * step, ZOEstimate(grad=None, phi=torch.tensor(phis, dtype=torch.float64), u=None,
                                      loss_at_x=None)


def secant_run(objective, config: HybridSGDConfig, *, steps: int, measure_every: int, curvature_batch: int,
               lanczos_iter: int, say=print) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A hybrid run of ``steps`` steps from the objective's live point (which it leaves unchanged).

    Returns (points, secants). ``points``: ``block_constants`` on minibatch ``curvature_batch`` at steps 0,
    ``measure_every``, ... and at the last point. ``secants``: per step t on the step's own minibatch i_t,

        secant_x(t) = ||grad_x f_i(x_{t+1}, y_t) - grad_x f_i(x_t, y_t)|| / ||x_{t+1} - x_t||,

    and secant_y likewise with the y move; by the mean value theorem each is <= the sup of ||H_bb|| over the
    segment. The x move follows one random direction u, so secant_x measures ||H_xx u|| / ||u|| (about the
    root-mean-square eigenvalue of H_xx), not the top one: it sits far below L_x by construction.
    """
    if config.method != "hybrid" or config.update != "jacobi" or config.fo_point != "clean":
        raise UsageError("the Fig 1 run is the hybrid method, Jacobi update, FO gradient at the clean point")
    if config.form != "central":
        raise UsageError(f"the Fig 1 run uses the central ZO form, got {config.form!r}")
    n = objective.n
    if not 0 <= curvature_batch < n:
        raise UsageError(f"curvature_batch must lie in [0, {n}) for this problem, got {curvature_batch}")
    x, y = objective.initial_point()
    measure_at = sorted({*range(0, steps + 1, measure_every), steps})
    points, secants = [], []
    for s in range(steps + 1):
        if s in measure_at:
            t0 = time.perf_counter()
            with torch.no_grad():
                loss = float(objective.loss(x, y, curvature_batch))
            rows = block_constants(objective, x, y, idx=curvature_batch, iterations=lanczos_iter, seed=1000 + s)
            points += [{"step": s, "batch": curvature_batch, "loss": loss, **r} for r in rows]
            say(f"    step {s}: " + ", ".join(f"L_{r['block']}={r['L']:.4g} (res {r['residual']:.2g})" for r in rows)
                + f" in {time.perf_counter() - t0:.1f} s")
        if s == steps:
            break
        t0 = time.perf_counter()
        epoch, k = divmod(s, n)
        idx = int(sample_orders(config.order, n=n, epoch=epoch, run_seed=config.seed)[0, k])
        info: dict = {}
        x_new, y_new = hybrid_step(objective, x, y, idx, config, zo_generator(config.seed, epoch, k, x.device),
                                   zo_block_step=_flat_central_zo_step, info=info)
        gy = info["grad_y"]
        loss, gx, _ = objective.value_and_grad(x, y, idx, blocks="x")
        dx, dy = _norm(x_new - x), _norm(y_new - y)
        gx_moved = objective.grad(x_new, y, idx, blocks="x")[0]
        gy_moved = objective.grad(x, y_new, idx, blocks="y")[1]
        secants.append({
            "step": s, "epoch": epoch, "sample": idx, "loss": float(loss), "grad_x_norm": _norm(gx),
            "grad_y_norm": _norm(gy), "zo_phi": float(info["zo_x"].phi.mean()), "step_x": dx, "step_y": dy,
            "secant_x": _norm(gx_moved - gx) / dx if dx > 0 else math.nan,
            "secant_y": _norm(gy_moved - gy) / dy if dy > 0 else math.nan,
            "seconds": time.perf_counter() - t0})
        del gx, gy, gx_moved, gy_moved
        x, y = x_new.detach(), y_new.detach()
        if not math.isfinite(float(loss)):
            raise UsageError(f"the Fig 1 run diverged at step {s} (loss {float(loss)}); lower eta_x or eta_y")
    sec = pd.DataFrame(secants)
    if not sec.empty:
        sec["ratio"] = sec.secant_x / sec.secant_y
    return pd.DataFrame(points), sec


def validate_fig1(config: Mapping) -> None:
    _model_names(config, "model")
    _choices(config, "adapters", ADAPTERS)
    if config.get("task") not in TASKS:
        raise UsageError(f"config 'task' must be one of {', '.join(TASKS)}, got {config.get('task')!r}")
    _data(config)
    steps = config_int(config, "steps", minimum=1)
    every = config_int(config, "measure_every", minimum=1)
    if every > steps:
        raise UsageError(f"config 'measure_every' ({every}) must not exceed 'steps' ({steps}): the run would be "
                         "measured at its two ends only; lower it or set it equal to steps")
    config_int(config, "lanczos_iter", minimum=2)
    config_int(config, "curvature_batch", minimum=0)
    config_int(config, "seed", minimum=0)
    config_int(config, "q", minimum=1)
    for key in ("eta_x", "eta_y", "mu"):
        config_positive(config, key)


def run_fig1(config: Mapping, out_dir: Path) -> None:
    """For each adapter: the hybrid run of ``secant_run`` with Lanczos block norms at a few points and secants
    at every step; tables fig1.csv (points, one row per block) and fig1_secants.csv (one row per step)."""
    validate_fig1(config)
    opt = HybridSGDConfig(method="hybrid", eta_x=float(config["eta_x"]), eta_y=float(config["eta_y"]), epochs=0,
                          mu=float(config["mu"]), q=int(config["q"]), seed=int(config["seed"]))
    points, secants = [], []
    for adapter in config["adapters"]:
        problem = _problem(config["model"], adapter, config["task"], _data(config))
        print(f"  Fig 1 run, {adapter}: {config['steps']} hybrid steps on {problem}", flush=True)
        obj = objective_at_start(problem)
        p, s = secant_run(obj, opt, steps=int(config["steps"]), measure_every=int(config["measure_every"]),
                          curvature_batch=int(config["curvature_batch"]), lanczos_iter=int(config["lanczos_iter"]))
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
        ax.plot(ok.step + 0.5, ok[col], "-", color=BLOCK_COLORS[block], lw=1.0, alpha=0.8,
                label=f"secant$_{block}$ per step (step's minibatch)")
    for block in ("x", "y", "xy"):
        g = pts[pts.block == block].sort_values("step")
        if g.empty:
            continue
        conv = g.converged.astype(bool)
        ax.errorbar(g.step, g.L, yerr=[np.zeros(len(g)), g.residual], fmt="none", ecolor=BLOCK_COLORS[block],
                    capsize=3, lw=1.0)
        ax.plot(g.step, g.L, "--", color=BLOCK_COLORS[block], lw=0.8)
        ax.plot(g.step[conv], g.L[conv], "o", color=BLOCK_COLORS[block], ms=7)
        ax.plot(g.step[~conv], g.L[~conv], "o", color=BLOCK_COLORS[block], mfc="white", ms=7,
                label=f"{BLOCK_LABELS[block]}, Lanczos")
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
        ax.set_title(f"{p.model.iloc[0]}, {ADAPTER_LABELS.get(adapter, adapter)}, {p.task.iloc[0]}\n"
                     f"d_x={int(p.d_x.iloc[0]):,}, d_y={int(p.d_y.iloc[0]):,}")
        if ax is axes[0]:
            ax.set_ylabel("block smoothness estimate (log scale)")
    from matplotlib.lines import Line2D
    handles, _ = axes[0].get_legend_handles_labels()
    handles.append(Line2D([], [], color="grey", marker="o", ls="", ms=7,
                          label=f"filled marker: Lanczos converged (rel. residual <= {LANCZOS_TOL:g})"))
    axes[0].legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.13), ncol=2, fontsize=7.5,
                   framealpha=0.9, title_fontsize=7.5,
                   title=f"Lanczos ({cfg['lanczos_iter']} steps, minibatch {cfg['curvature_batch']}): open marker = "
                         "unconverged Ritz value (a lower bound), bar = +residual")
    ax = axes[-1]
    ratios = sec.ratio[np.isfinite(sec.ratio) & (sec.ratio > 0)]
    if len(ratios):
        bins = np.geomspace(ratios.min() / 1.5, ratios.max() * 1.5, 16)
        for adapter, hatch in zip(adapters, ("", "//")):
            r = sec.ratio[(sec.adapter == adapter) & np.isfinite(sec.ratio) & (sec.ratio > 0)]
            ax.hist(r, bins=bins, histtype="stepfilled" if not hatch else "step", hatch=hatch or None,
                    color=style.METHOD_COLORS["hybrid"], alpha=0.35 if not hatch else 1.0, lw=1.5,
                    label=f"secant$_x$/secant$_y$, {adapter} (median {r.median():.3g})")
    for adapter, ls in zip(adapters, ("-", ":")):
        g = pts[pts.adapter == adapter].pivot_table(index="step", columns="block", values="L")
        for k, (step, row) in enumerate(g.iterrows()):
            ax.axvline(row.x / row.y, color=style.THEORY_COLOR, ls=ls, lw=1.0,
                       label=f"Lanczos $L_x/L_y$, {adapter} (steps {', '.join(str(i) for i in g.index)})"
                       if k == 0 else None)
    ax.set_xscale("log")
    ax.set_xlabel(r"local ratio $L_x / L_y$ (log scale)")
    ax.set_ylabel("number of steps")
    ax.set_title("Local ratio L_x/L_y: secants (per step) vs Lanczos (points)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=7.5, framealpha=0.9)
    fig.suptitle(f"Smoothness structures along a hybrid run (eta_x={cfg['eta_x']:g}, eta_y={cfg['eta_y']:g}, "
                 f"mu={cfg['mu']:g}, {cfg['steps']} steps)", y=1.01)
    style.save_figure(fig, png_path)


# --- Fig 5: constants across models, adapters and tasks ----------------------------------------------------

def validate_fig5(config: Mapping) -> None:
    _model_names(config, "models")
    _choices(config, "adapters", ADAPTERS)
    _choices(config, "tasks", TASKS)
    _data(config)
    config_int(config, "n_batches", minimum=2)
    config_int(config, "lanczos_iter", minimum=2)
    config_int(config, "seed", minimum=0)
    if config_positive(config, "kappa_y") <= 1:
        raise UsageError(f"config 'kappa_y' (the assumed L_y / m_y of THEORY 6.4) must exceed 1, "
                         f"got {config['kappa_y']!r}")


def _rho_grid(rho: pd.Series) -> np.ndarray:
    lo, hi = float(rho.min()), float(rho.max())
    return np.geomspace(min(lo, 1.0) / 3, max(hi, 1.0) * 3, 40)


def run_fig5(config: Mapping, out_dir: Path) -> None:
    """L_x, L_y by Lanczos at the start point on minibatches 0..n_batches-1 of every model x adapter x task;
    tables fig5_batches.csv (one row per minibatch), fig5.csv (per configuration: mean and min..max over the
    minibatches, rho = L_x/L_y per minibatch, s_exact and s_theory at the mean rho) and fig5_speedup.csv (the
    s(rho) curves of THEORY 6.4 for each model's d_x and n)."""
    validate_fig5(config)
    nb, iters, seed = int(config["n_batches"]), int(config["lanczos_iter"]), int(config["seed"])
    kappa_y = float(config["kappa_y"])
    rows = []
    for model in config["models"]:
        for task in config["tasks"]:
            for adapter in config["adapters"]:
                problem = _problem(model, adapter, task, _data(config))
                obj = objective_at_start(problem)
                if obj.n < nb:
                    raise UsageError(f"{problem} has {obj.n} minibatches, fewer than n_batches = {nb}")
                x, y = obj.initial_point()
                t0 = time.perf_counter()
                for b in range(nb):
                    with torch.no_grad():
                        loss = float(obj.loss(x, y, b))
                    est = {r["block"]: r for r in block_constants(obj, x, y, idx=b, iterations=iters,
                                                                   seed=seed + 10 * b, cross=False)}
                    rows.append({"model": model, "adapter": adapter, "task": task, "batch": b, "loss": loss,
                                 "L_x": est["x"]["L"], "L_y": est["y"]["L"], "residual_x": est["x"]["residual"],
                                 "residual_y": est["y"]["residual"], "iterations_x": est["x"]["iterations"],
                                 "iterations_y": est["y"]["iterations"],
                                 "converged": bool(est["x"]["converged"] and est["y"]["converged"]),
                                 "d_x": obj.d_x, "d_y": obj.d_y, "n": obj.n,
                                 "random_init": model in RANDOM_INIT_MODELS})
                print(f"  Fig 5: {model} {adapter} {task}: L_x={np.mean([r['L_x'] for r in rows[-nb:]]):.4g} "
                      f"L_y={np.mean([r['L_y'] for r in rows[-nb:]]):.4g} over {nb} minibatches in "
                      f"{time.perf_counter() - t0:.1f} s", flush=True)
    per_batch = pd.DataFrame(rows)
    per_batch["rho"] = per_batch.L_x / per_batch.L_y
    summary = summarize_fig5(per_batch, kappa_y=kappa_y)
    curves = []
    for (model, d_x, n), _ in summary.groupby(["model", "d_x", "n"], sort=False):
        for rho in _rho_grid(summary.rho_mean):
            curves.append({"model": model, "d_x": d_x, "n": n, "rho": rho,
                           "s_exact": bounds.s_exact(rho, d_x=int(d_x), kappa_y=kappa_y),
                           "s_theory": bounds.s_theory(rho, n=int(n), d_x=int(d_x))})
    write_table(out_dir, "fig5_batches.csv", per_batch)
    write_table(out_dir, "fig5.csv", summary)
    write_table(out_dir, "fig5_speedup.csv", pd.DataFrame(curves))
    write_config(out_dir, config)


def summarize_fig5(per_batch: pd.DataFrame, *, kappa_y: float) -> pd.DataFrame:
    """Per model x adapter x task: mean and min..max over minibatches of L_x, L_y and rho (rho per minibatch),
    the largest relative residuals, and THEORY 6.4's s_exact at rho_mean and its ends (n = 1, as in 6.4;
    kappa_y assumed) and s_theory with the problem's own n (minibatches per epoch)."""
    keys = ["model", "adapter", "task"]
    rows = []
    for (model, adapter, task), g in per_batch.groupby(keys, sort=False):
        row = {"model": model, "adapter": adapter, "task": task, "n_batches": len(g),
               "d_x": int(g.d_x.iloc[0]), "d_y": int(g.d_y.iloc[0]), "n": int(g.n.iloc[0]),
               "random_init": bool(g.random_init.iloc[0]), "converged_all": bool(g.converged.all()),
               "max_rel_residual_x": float((g.residual_x / g.L_x).max()),
               "max_rel_residual_y": float((g.residual_y / g.L_y).max())}
        for q in ("L_x", "L_y", "rho"):
            row |= {f"{q}_mean": float(g[q].mean()), f"{q}_min": float(g[q].min()), f"{q}_max": float(g[q].max())}
        d_x = row["d_x"]
        for end in ("mean", "min", "max"):
            row[f"s_exact_{end}"] = bounds.s_exact(row[f"rho_{end}"], d_x=d_x, kappa_y=kappa_y)
        row["s_theory"] = bounds.s_theory(row["rho_mean"], n=row["n"], d_x=d_x)
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
    pos = np.arange(len(t))
    w = 0.38
    for k, (block, off) in enumerate((("x", -w / 2), ("y", w / 2))):
        mean, lo, hi = t[f"L_{block}_mean"], t[f"L_{block}_min"], t[f"L_{block}_max"]
        ax.bar(pos + off, mean, width=w, color=BLOCK_COLORS[block], alpha=0.75, label=BLOCK_LABELS[block])
        ax.errorbar(pos + off, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="black", capsize=3, lw=1.0)
    top = t[["L_x_max", "L_y_max"]].max(axis=1)
    for p, r, h in zip(pos, t.itertuples(), top):
        ax.annotate(rf"$\rho$={r.rho_mean:.3g}", (p, h * 1.15), ha="center", fontsize=7.5)
    ax.set_yscale("log")
    ax.set_ylim(top=float(top.max()) * 3)
    ax.set_xticks(pos, [_config_label(r) for r in t.itertuples()], fontsize=7.5)
    if t.random_init.any():
        ax.set_xlabel("model (* = random initialisation, no pretrained weights) / adapter / task")
    ax.set_ylabel("block smoothness estimate at the start point (log scale)")
    ax.set_title(f"Lanczos L_x, L_y ({cfg['lanczos_iter']} steps): mean over {int(t.n_batches.iloc[0])} minibatches, "
                 f"bars = min..max\n(unconverged Ritz values: lower bounds; worst relative residual "
                 f"x {t.max_rel_residual_x.max():.2g}, y {t.max_rel_residual_y.max():.2g})", fontsize=9)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)

    styles = dict(zip(dict.fromkeys(curves.model), ("-", "--", "-.", ":")))
    for model, c in curves.groupby("model", sort=False):
        c = c.sort_values("rho")
        ax2.plot(c.rho, c.s_exact, styles[model], color=style.THEORY_COLOR, lw=1.3,
                 label=f"$s_{{exact}}$, {model} (d_x={int(c.d_x.iloc[0]):,})")
        ax2.plot(c.rho, c.s_theory, styles[model], color="grey", lw=1.0, alpha=0.7,
                 label=f"$s_{{theory}}$, {model} (n={int(c.n.iloc[0])})")
    for r in t.itertuples():
        ax2.errorbar(r.rho_mean, r.s_exact_mean, xerr=[[r.rho_mean - r.rho_min], [r.rho_max - r.rho_mean]],
                     yerr=[[r.s_exact_mean - r.s_exact_min], [r.s_exact_max - r.s_exact_mean]],
                     fmt=ADAPTER_MARKERS.get(r.adapter, "D"), color=style.MEASURED_COLOR,
                     mfc=style.MEASURED_COLOR if r.task == TASKS[0] else "white", ms=7, capsize=2, lw=0.8)
    from matplotlib.lines import Line2D
    handles, _ = ax2.get_legend_handles_labels()
    handles += [Line2D([], [], color=style.MEASURED_COLOR, marker=ADAPTER_MARKERS[a], ls="",
                       mfc=style.MEASURED_COLOR if task == TASKS[0] else "white", label=f"measured rho: {a}, {task}")
                for a in ADAPTER_MARKERS if a in set(t.adapter) for task in TASKS if task in set(t.task)]
    ax2.legend(handles=handles, loc="upper left", fontsize=7.5, framealpha=0.9)
    ax2.set_xscale("log")
    ax2.set_yscale("log")
    ax2.set_xlabel(r"$\rho = L_x / L_y$ (per-minibatch mean; bars min..max; log scale)")
    ax2.set_ylabel("predicted speed-up of two step sizes over one (log scale)")
    ax2.set_title(f"THEORY 6.4 speed-up at the measured rho ($\\kappa_y$={cfg['kappa_y']:g} assumed;\n"
                  r"$s_{exact} \approx 2\rho(d_x+2)$, so the model size dominates)", fontsize=9)
    style.save_figure(fig, png_path)


# --- the experiments ---------------------------------------------------------------------------------------

FIG1_QUICK = {"mode": "quick", "model": "minilm", "adapters": ["lora", "prompt"], "task": "sentiment", "data": None,
              "steps": 16, "measure_every": 8, "lanczos_iter": 4, "curvature_batch": 0,
              "eta_x": 1e-4, "eta_y": 1.0, "mu": 1e-3, "q": 1, "seed": 0}
# full: SmolLM2-135M at the paper's data scale on a GPU; 200 steps with Lanczos (30 steps, ~120 products) at 9
# points per adapter -- about 20-40 minutes on one large GPU (CPU: many hours). A checkpoint path may replace
# "smollm2".
FIG1_FULL = {"mode": "full", "model": "smollm2", "adapters": ["lora", "prompt"], "task": "sentiment",
             "data": dict(paper_setup.FULL_DATA), "steps": 200, "measure_every": 25,
             "lanczos_iter": 30, "curvature_batch": 0, "eta_x": 1e-6, "eta_y": 1e-2, "mu": 1e-3, "q": 1, "seed": 0}
FIG5_QUICK = {"mode": "quick", "models": ["minilm", "tiny-llama"], "adapters": ["lora", "prompt"],
              "tasks": ["sentiment", "topic"], "data": None, "n_batches": 3, "lanczos_iter": 3, "kappa_y": 100.0,
              "seed": 0}
# full: adds SmolLM2-135M (and any checkpoint paths the user lists), 8 minibatches, 30 Lanczos steps per block at
# the paper's data scale on a GPU -- about 30-60 minutes on one large GPU.
FIG5_FULL = {"mode": "full", "models": ["minilm", "tiny-llama", "smollm2"], "adapters": ["lora", "prompt"],
             "tasks": ["sentiment", "topic"], "data": dict(paper_setup.FULL_DATA), "n_batches": 8,
             "lanczos_iter": 30, "kappa_y": 100.0, "seed": 0}

EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="fig1", kind="paper", title="Smoothness structures (Fig 1)",
        caption=("Block smoothness along one short hybrid run (seed 0; ZO on all base weights x, FO on the adapter y): "
                 "Lanczos L_x = ||H_xx||, L_y = ||H_yy|| and L_xy = sigma_max(H_xy) of one minibatch loss at a few "
                 "steps (open markers: unconverged Ritz values, i.e. lower bounds; bars: +residual), and the "
                 "one-block secants ||grad_b f_i(z') - grad_b f_i(z_t)|| / ||z'_b - z_t,b|| of every step, for "
                 "LoRA and prompt tuning; right: histogram of the per-step secant ratio with the Lanczos L_x/L_y. "
                 "The ZO move follows one random direction, so secant_x sees the root-mean-square curvature of "
                 "H_xx, far below L_x: the two ratios differ by construction. Reconstruction: quick mode uses "
                 "MiniLM (22.7M, not SmolLM2/OPT), 16 steps and 4 Lanczos steps; full mode SmolLM2-135M on a GPU "
                 "(20-40 min)."),
        quick=FIG1_QUICK, full=FIG1_FULL, run=run_fig1, plot=plot_fig1, main_table="fig1.csv",
        tables=("fig1_secants.csv",),
        required_keys=("model", "adapters", "task", "steps", "measure_every", "lanczos_iter", "curvature_batch",
                       "eta_x", "eta_y", "mu", "q", "seed"),
        validate=validate_fig1),
    Experiment(
        name="fig5", kind="paper", title="Lipschitz constants across models (Fig 5)",
        caption=("Lanczos estimates of L_x = ||H_xx|| (all base weights) and L_y = ||H_yy|| (adapter) at the "
                 "start point across models x adapters x tasks: mean over minibatches with min..max bars "
                 "(unconverged Ritz values are lower bounds), rho = L_x/L_y per minibatch; right: THEORY 6.4's "
                 "predicted two-step speed-up s_exact(rho; d_x, kappa_y) (n = 1 separable quadratic, kappa_y "
                 "assumed; it is ~2 rho (d_x+2) and nearly independent of kappa_y) and s_theory (the cap ratio, "
                 "information only) at the measured rho. Reconstruction: quick mode uses MiniLM and a "
                 "random-initialised tiny LLaMA (its constants describe no trained model) on small data slices "
                 "with 3 Lanczos steps; full mode adds SmolLM2-135M on a GPU (30-60 min)."),
        quick=FIG5_QUICK, full=FIG5_FULL, run=run_fig5, plot=plot_fig5, main_table="fig5.csv",
        tables=("fig5_batches.csv", "fig5_speedup.csv"),
        required_keys=("models", "adapters", "tasks", "n_batches", "lanczos_iter", "kappa_y", "seed"),
        validate=validate_fig5),
]

__all__ = ["EXPERIMENTS", "block_constants", "plot_fig1", "plot_fig5", "run_fig1", "run_fig5", "secant_run",
           "summarize_fig5", "validate_fig1", "validate_fig5"]
