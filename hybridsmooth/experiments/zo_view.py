"""Figure ``zo_view``: what a ZO step sees on a real model (THEORY 4.3).

Per model x adapter, at the start point and after a short hybrid run on the same minibatch f_0:

* the cosine between the central ZO estimate with q directions and the backprop gradient of the base weights
  x, and the relative error ||g_q - grad||^2 / ||grad||^2 against (d_x + 1)/q (``zo.alignment``; the
  directions are shared across q);
* tr(H_xx) from the second differences of the same forward values against Hutchinson's trace from HVPs,
  and the effective dimension tr(H_xx) / L_x (its ratio to d_x sets how far the ZO step-size limit
  2 / (L_x (d_x + 2)) is from what a run tolerates). L_x comes from a few Lanczos steps: a lower bound, so
  the ratio tr / (d_x L_x) is an upper estimate;
* the HiZOO-style diagonal against the Hutchinson (HVP) diagonal, summed per weight tensor.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from matplotlib.ticker import SymmetricalLogLocator

from ..curvature.block_constants import block_constants
from ..curvature.forward_only import DiagonalAccumulator, forward_probes, hutchinson_hvp, trace_row, x_groups
from ..curvature.hvp import HessianAtPoint
from ..errors import UsageError
from ..zo.alignment import AlignmentAccumulator
from . import style
from .registry import config_int, config_positive, read_table, write_config, write_table

ZO_VIEW_QUICK = {
    "mode": "quick",
    "models": ["tiny-bert"],
    "adapters": ["lora"],
    "task": "sentiment",
    "n_train": 4,
    "batch_size": 4,
    "max_length": 16,
    "qs": [1, 4, 16],
    "reps": 2,
    "probes": 4,
    "lanczos_iter": 4,
    "steps": 0,
    "eta_x": 1e-4,
    "eta_y": 1e-2,
    "mu": 1e-3,
    "seed": 0,
}
ZO_VIEW_FULL = {
    **ZO_VIEW_QUICK,
    "mode": "full",
    "models": ["minilm", "smollm2"],
    "adapters": ["lora", "prompt"],
    "n_train": 8,
    "batch_size": 8,
    "max_length": 32,
    "qs": [1, 4, 16, 64],
    "probes": 16,
    "lanczos_iter": 10,
    "steps": 20,
}
KEYS = tuple(k for k in ZO_VIEW_QUICK if k != "mode")


def validate_zo_view(config: Mapping) -> None:
    for key in ("models", "adapters", "qs"):
        if not isinstance(config.get(key), (list, tuple)) or not config[key]:
            raise UsageError(f"config {key!r} must be a non-empty list, got {config.get(key)!r}")
    if not all(isinstance(q, int) and q >= 1 for q in config["qs"]):
        raise UsageError(f"config 'qs' must list integers >= 1, got {config['qs']!r}")
    for key in ("n_train", "batch_size", "max_length", "reps", "probes", "lanczos_iter"):
        config_int(config, key)
    config_int(config, "steps", minimum=0)
    for key in ("eta_x", "eta_y", "mu"):
        config_positive(config, key)


def _objective(config: Mapping, model: str, adapter: str):
    from ..problems import make_problem

    keys = ("task", "n_train", "batch_size", "max_length", "seed")
    return make_problem(f"llm:model={model},adapter={adapter}," + ",".join(f"{k}={config[k]}" for k in keys))


def measure_point(obj, config: Mapping, idx: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(alignment, traces, per-tensor diagonals) of f_idx at the objective's live point: one forward-only pass
    feeds the alignment, the second-difference trace and the HiZOO diagonal; then HVPs give the references."""
    x, y, seed = obj.x, obj.y, int(config["seed"])
    _, gx, _ = obj.value_and_grad(x, y, idx, blocks="x")
    align = AlignmentAccumulator([gx], config["qs"])
    diag = DiagonalAccumulator([x], x_groups(obj))
    n = int(config["reps"]) * max(align.qs)
    run = forward_probes(
        [x], lambda: obj.loss(x, y, idx), mu=config["mu"], n_dirs=n, seed=seed, hooks=[align.hook, diag.hook]
    )
    del gx  # one block-sized buffer less before the HVP graph is built
    engine = HessianAtPoint(obj, x.detach().clone(), y.detach().clone(), idx=idx)
    try:
        hut_row, hut = hutchinson_hvp(
            engine.operator("xx").matvec, x, n_probes=config["probes"], seed=seed, groups=diag.groups
        )
    finally:
        engine.release()
    lx = block_constants(
        obj, x.detach().clone(), y.detach().clone(), blocks=("xx",), idx=idx, max_iter=config["lanczos_iter"], seed=seed
    )["xx"]
    traces = pd.DataFrame([trace_row(run), hut_row])
    traces = traces.assign(d_x=obj.d_x, L_x=lx.estimate, L_x_converged=lx.converged)
    traces["d_eff"] = traces.estimate / traces.L_x
    traces["eff_ratio"] = traces.d_eff / traces.d_x
    # tr(H^2)/L_x^2 (stable rank): the effective dimension of an indefinite H_xx, whose trace can cancel
    traces["stable_rank"] = traces.tr_H2 / traces.L_x**2
    diag_table = diag.result("hizoo").groups.merge(hut.groups, on=["group", "size"], suffixes=("_hizoo", "_hvp"))
    return align.table().assign(d_x=obj.d_x), traces, diag_table


def short_hybrid_run(obj, config: Mapping, idx: int = 0) -> pd.DataFrame:
    """``steps`` hybrid steps on f_idx in place (Jacobi: grad_y at the clean point, then one central in-place ZO
    step on x with q = 1, then the FO step on y), the noise keyed by (seed, epoch 0, step t) as in training.
    Returns one row per step: the ZO step's two losses and its projected gradient (no extra forward)."""
    from ..zo.inplace import zo_step_inplace

    x, y, rows = obj.x, obj.y, []
    for t in range(int(config["steps"])):
        _, gy = obj.grad(x, y, idx, blocks="y")
        zo = zo_step_inplace(
            [x],
            lambda: obj.loss(x, y, idx),
            mu=config["mu"],
            eta=config["eta_x"],
            run_seed=config["seed"],
            epoch=0,
            step=t,
        )
        with torch.no_grad():
            y.add_(gy, alpha=-float(config["eta_y"]))
        rows.append(dict(step=t, loss_plus=zo.loss_plus[0], loss_minus=zo.loss_minus[0], phi=zo.phi[0]))
    return pd.DataFrame(rows, columns=["step", "loss_plus", "loss_minus", "phi"])


def run_zo_view(config: Mapping, out_dir: Path) -> None:
    """Every model x adapter: the start point and, with steps > 0, the point after a short hybrid run on f_0."""
    validate_zo_view(config)
    tables: dict[str, list[pd.DataFrame]] = {"align": [], "trace": [], "diag": []}
    for model in config["models"]:
        for adapter in config["adapters"]:
            obj = _objective(config, model, adapter)
            points = ["start"] + ([f"step {config['steps']}"] if config["steps"] else [])
            for point in points:
                if point != "start":
                    short_hybrid_run(obj, config)
                for key, t in zip(tables, measure_point(obj, config)):
                    tables[key].append(t.assign(model=model, adapter=adapter, point=point))
    write_config(out_dir, config)
    write_table(out_dir, "zo_view.csv", pd.concat(tables["align"], ignore_index=True))
    write_table(out_dir, "zo_view_trace.csv", pd.concat(tables["trace"], ignore_index=True))
    write_table(out_dir, "zo_view_diag.csv", pd.concat(tables["diag"], ignore_index=True))


def _cases(table: pd.DataFrame):
    return table.groupby(["model", "adapter", "point"], sort=False)


def plot_zo_view(tables_dir: Path, png_path: Path) -> None:
    align = read_table(tables_dir, "zo_view.csv")
    trace = read_table(tables_dir, "zo_view_trace.csv")
    diag = read_table(tables_dir, "zo_view_diag.csv")
    fig, (a_cos, a_err, a_tr, a_diag) = style.new_figure(ncols=4, width=24, height=5.4)
    for (model, adapter, point), t in _cases(align):
        label = f"{model}+{adapter} ({point})"
        a_cos.errorbar(t.q, t.cos, yerr=t.cos_se, marker="o", capsize=3, label=label)
        line = a_err.errorbar(t.q, t.rel_err, yerr=t.rel_err_se, marker="o", capsize=3, label=label)
        a_err.plot(t.q, t.theory, ls="--", color=line[0].get_color(), alpha=0.7)
    a_cos.set(xscale="log", yscale="log", xlabel="q (directions)", ylabel="cos(g_ZO, grad_x f)", title="Alignment")
    a_err.set(
        xscale="log",
        yscale="log",
        xlabel="q",
        ylabel="||g_ZO - grad||^2 / ||grad||^2",
        title="Relative error (dashed: (d_x+1)/q)",
    )
    _plot_traces(a_tr, trace)
    _plot_diagonals(a_diag, diag)
    a_cos.legend(fontsize=7)  # one legend: every panel colours the cases in the same order
    style.save_figure(fig, png_path)


def _case_label(model: str, adapter: str, point: str) -> str:
    return f"{model}\n{adapter}\n{point}"


def _plot_traces(ax, trace: pd.DataFrame) -> None:
    """tr(H_xx) per case: forward-only (second differences) beside Hutchinson (HVP), with 1-stderr bars; on a
    symlog axis when the cases span more than three decades."""
    cases = list(_cases(trace))
    for k, method in enumerate(("second-difference", "hutchinson-hvp")):
        rows = [t[t.method == method].iloc[0] for _, t in cases]
        xs = np.arange(len(rows)) + (k - 0.5) * 0.3
        ax.errorbar(xs, [r.estimate for r in rows], yerr=[r.stderr for r in rows], fmt="o", capsize=3, label=method)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_xticks(range(len(cases)), [_case_label(*key) for key, _ in cases], fontsize=6)
    spread = _wide_range(trace.estimate)
    if spread:  # MiniLM's traces of tens (some negative) beside SmolLM2's thousands
        ax.set_yscale("symlog", linthresh=spread)
    ax.set(ylabel="tr(H_xx)" + (" (symlog)" if spread else ""), title="Trace: forward-only vs HVP")
    ax.legend(fontsize=7, loc="upper left")


def _plot_diagonals(ax, diag: pd.DataFrame) -> None:
    """Per weight tensor: the HiZOO group trace against the Hutchinson one, with the line y = x; no error bars
    (they would cover the panel), the largest |HiZOO| / stderr in the title instead."""
    for (model, adapter, point), t in _cases(diag):
        ax.scatter(t.estimate_hvp, t.estimate_hizoo, s=6, alpha=0.5, label=f"{model}+{adapter} ({point})")
    lo, hi = (
        np.nanmin(diag[["estimate_hvp", "estimate_hizoo"]].values),
        np.nanmax(diag[["estimate_hvp", "estimate_hizoo"]].values),
    )
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    z = (diag.estimate_hizoo / diag.stderr_hizoo).abs().replace(np.inf, np.nan)
    ax.set(
        xlabel="Hutchinson (HVP) per-tensor trace",
        ylabel="HiZOO per-tensor trace",
        title=f"Diagonal by weight tensor (HiZOO within {np.nanmax(z):.1f} stderr of 0)",
    )
    if _wide_range(diag[["estimate_hvp", "estimate_hizoo"]].to_numpy().ravel()):
        # linear only below the typical HVP per-tensor trace, so that the references stay spread out
        hvp = np.abs(diag.estimate_hvp.to_numpy(dtype=float))
        spread = float(10.0 ** np.floor(np.log10(np.median(hvp[np.isfinite(hvp) & (hvp > 0)]))))
        ax.set_xscale("symlog", linthresh=spread)
        ax.set_yscale("symlog", linthresh=spread)
        for axis in (ax.xaxis, ax.yaxis):  # a label every second decade: symlog over many decades crowds them
            axis.set_major_locator(SymmetricalLogLocator(base=100.0, linthresh=spread))


def _wide_range(values, decades: int = 3) -> float:
    """A symlog threshold (three decades below the largest |value|, at least its smallest nonzero |value|)
    when the |values| span more than ``decades`` decades, else 0 (a linear axis reads better)."""
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v) & (v > 0)]
    if len(v) == 0 or v.max() <= 10.0**decades * v.min():
        return 0.0
    return float(max(10.0 ** (np.floor(np.log10(v.max())) - 3), v.min()))
