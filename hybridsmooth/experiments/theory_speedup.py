"""Theory figure ``speedup_vs_rho`` (check 13): epochs with one step / with two steps against rho = L_x/L_y,
with s_exact and s_theory (THEORY 6.4)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..objectives.base import Objective
from ..optim.batched_run import run_hybrid_sgd
from ..optim.hybrid_sgd import HybridSGDConfig
from ..theory import predictions
from ..theory.claims.check13_two_step_speedup import exact_epochs, first_below, separable_quadratic
from . import style
from .registry import config_int, config_positive_list, read_config, read_table, write_config, write_table


def validate_speedup(config: Mapping) -> None:
    config_int(config, "d_x")
    config_int(config, "d_y")
    config_int(config, "seeds", minimum=2)
    config_int(config, "n_boot", minimum=10)
    config_positive_list(config, "rhos_simulated")
    config_positive_list(config, "rhos_exact")
    if not (isinstance(config.get("kappa_y"), (int, float)) and config["kappa_y"] > 1):
        raise UsageError(f"config 'kappa_y' must be a number > 1, got {config.get('kappa_y')!r}")
    if not (isinstance(config.get("target"), float) and 0 < config["target"] < 1):
        raise UsageError(f"config 'target' must be a float in (0, 1), got {config.get('target')!r}")


def _steps(rho: float, d_x: int, kappa_y: float) -> dict[str, tuple[float, float]]:
    eta_x0, eta_y0 = 1.0 / (rho * (d_x + 2)), 2.0 / (1.0 + 1.0 / kappa_y)  # THEORY 6.4's steps
    return {"two": (eta_x0, eta_y0), "one": (min(eta_x0, eta_y0),) * 2}


def run_speedup(config: Mapping, out_dir: Path) -> None:
    """Epoch ratio one step / two steps to reach ``target`` x initial (y-target and full target) on the
    separable quadratic of check 13: exact on a dense rho grid, simulated at ``rhos_simulated`` with a
    bootstrap over seeds of the seed-mean curves (the prediction is about E||grad f||^2, so the ratio is taken
    on seed means, as in check 13), and s_exact, s_theory (n = 1)."""
    validate_speedup(config)
    rows, theory = _exact_rows(config)
    rows += _simulated_rows(config)
    write_table(out_dir, "speedup_vs_rho.csv", pd.DataFrame(rows))
    write_table(out_dir, "speedup_theory.csv", pd.DataFrame(theory))
    write_config(out_dir, config)


def _exact_rows(config: Mapping) -> tuple[list[dict], list[dict]]:
    """Exact-recursion epoch ratios on the ``rhos_exact`` grid, and s_exact, s_theory at the same rhos."""
    d_x, d_y, kappa_y, target = int(config["d_x"]), int(config["d_y"]), float(config["kappa_y"]), config["target"]
    rows, theory = [], []
    for rho in config["rhos_exact"]:
        obj, lam = separable_quadratic(rho, d_x, d_y, kappa_y, seed=13)
        ep = {k: exact_epochs(obj, lam, rho, *v, target) for k, v in _steps(rho, d_x, kappa_y).items()}
        for j, tgt in enumerate(("y", "full")):
            rows.append(
                {
                    "rho": rho,
                    "source": "exact",
                    "target": tgt,
                    "ratio": ep["one"][j] / ep["two"][j],
                    "low": math.nan,
                    "high": math.nan,
                    "epochs_one": ep["one"][j],
                    "epochs_two": ep["two"][j],
                }
            )
        theory.append(
            {
                "rho": rho,
                "s_exact": predictions.s_exact(rho, d_x=d_x, kappa_y=kappa_y),
                "s_theory": predictions.s_theory(rho, n=1, d_x=d_x),
            }
        )
    return rows, theory


def _simulated_curves(obj: Objective, lam, rho: float, config: Mapping) -> dict[str, dict[str, np.ndarray]]:
    """Per step rule (one, two) and target (y, full): the squared gradient norms, seeds x epochs, of hybrid
    SGD run a little past the exact recursion's epochs."""
    d_x, kappa_y, target = int(config["d_x"]), float(config["kappa_y"]), config["target"]
    curves = {}
    for name, (ex, ey) in _steps(rho, d_x, kappa_y).items():
        T = int(1.1 * max(exact_epochs(obj, lam, rho, ex, ey, target))) + 2
        res = run_hybrid_sgd(
            obj,
            HybridSGDConfig(eta_x=ex, eta_y=ey, epochs=T, form="central", mu=1e-3, seed=13),
            seeds=int(config["seeds"]),
        )
        m = res.metrics.assign(y2=res.metrics.grad_y_norm**2, z2=res.metrics.grad_norm**2)
        curves[name] = {
            tgt: m.pivot(index="seed", columns="epoch", values=col).to_numpy()
            for tgt, col in (("y", "y2"), ("full", "z2"))
        }
    return curves


def _simulated_rows(config: Mapping) -> list[dict]:
    """Simulated epoch ratios at ``rhos_simulated`` with a 5-95% bootstrap interval over seeds; one random
    stream serves every rho in list order, so the intervals are reproducible from ``boot_seed``."""
    d_x, d_y, kappa_y, target = int(config["d_x"]), int(config["d_y"]), float(config["kappa_y"]), config["target"]
    S, n_boot = int(config["seeds"]), int(config["n_boot"])
    rng = np.random.default_rng(int(config.get("boot_seed", 0)))
    rows = []
    for rho in config["rhos_simulated"]:
        obj, lam = separable_quadratic(rho, d_x, d_y, kappa_y, seed=13)
        curves = _simulated_curves(obj, lam, rho, config)

        def ratio(idx_one, idx_two, tgt):
            k1 = first_below(curves["one"][tgt][idx_one].mean(0), target)
            k2 = first_below(curves["two"][tgt][idx_two].mean(0), target)
            return math.nan if k1 is None or k2 is None else k1 / k2

        for tgt in ("y", "full"):
            point = ratio(slice(None), slice(None), tgt)
            boots = [ratio(rng.integers(0, S, S), rng.integers(0, S, S), tgt) for _ in range(n_boot)]
            lo, hi = np.nanpercentile(boots, [5, 95])
            rows.append(
                {
                    "rho": rho,
                    "source": "simulated",
                    "target": tgt,
                    "ratio": point,
                    "low": float(lo),
                    "high": float(hi),
                    "epochs_one": math.nan,
                    "epochs_two": math.nan,
                }
            )
    return rows


def plot_speedup(tables_dir: Path, png_path: Path) -> None:
    t = read_table(tables_dir, "speedup_vs_rho.csv")
    th = read_table(tables_dir, "speedup_theory.csv").sort_values("rho")
    cfg = read_config(tables_dir)
    fig, (ax,) = style.new_figure(width=7.0, height=5.0)
    colours = {"y": style.MEASURED_COLOR, "full": style.SECOND_COLOR}
    names = {"y": r"$\|\nabla_y f\|^2$ target", "full": r"$E\|\nabla f\|^2$ target"}
    for tgt in ("y", "full"):
        e = t[(t.source == "exact") & (t.target == tgt)].sort_values("rho")
        ax.plot(e.rho, e.ratio, "-", color=colours[tgt], lw=1.5, label=f"exact recursion, {names[tgt]}")
        s = t[(t.source == "simulated") & (t.target == tgt)].sort_values("rho")
        ax.errorbar(
            s.rho,
            s.ratio,
            yerr=[s.ratio - s.low, s.high - s.ratio],
            fmt="o",
            color=colours[tgt],
            capsize=3,
            ms=6,
            label=f"simulated ({cfg['seeds']} seeds, 5-95% bootstrap), {names[tgt]}",
        )
    ax.plot(
        th.rho,
        th.s_exact,
        style.THEORY_LINESTYLE,
        color=style.THEORY_COLOR,
        label=r"$s_{exact}$ (THEORY 6.4, y-rate ratio)",
    )
    ax.plot(th.rho, th.s_theory, ":", color="grey", lw=2, label=r"$s_{theory}$ (ratio of the (C1)-(C2) caps)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"smoothness ratio $\rho = L_x / L_y$ (log scale)")
    ax.set_ylabel("speed-up: epochs with one step / with two steps (log scale)")
    ax.set_title(
        f"Two step sizes vs one: separable quadratic\n"
        f"d_x={cfg['d_x']}, d_y={cfg['d_y']}, kappa_y={cfg['kappa_y']:g}, n=1, target {cfg['target']:g} x initial"
    )
    ax.legend(loc="upper left", framealpha=0.9, fontsize=8)
    style.save_figure(fig, png_path)
