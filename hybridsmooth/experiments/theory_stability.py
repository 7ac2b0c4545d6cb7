"""Theory figure ``stability_region`` (check 8): exact spectral radius of the hybrid second-moment map on a
log-log grid of (eta_x, eta_y), its rho = 1 boundary, and the Theorem R box (C1)-(C2) with n = 1 inside it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..errors import UsageError
from ..theory import step_sizes
from ..theory.assumptions import joint_lambda_on_ray
from ..theory.claims.check08_region_inclusion import random_psd_hessian, stability_grid
from . import style
from .registry import config_int, config_positive_list, read_table, write_config, write_table


def validate_stability(config: Mapping) -> None:
    config_int(config, "d_x")
    config_int(config, "d_y")
    config_int(config, "grid", minimum=4)
    lo, hi = config_positive_list(config, "span")
    if not lo < 1 < hi:
        raise UsageError(
            f"config 'span' must be [low, high] multiples of the caps with low < 1 < high, got {config['span']!r}"
        )


def run_stability(config: Mapping, out_dir: Path) -> None:
    """rho(eta_x, eta_y) on a log grid spanning ``span`` times the Theorem R caps (n = 1, central ZO), for the
    random PD instance of check 8 (``random_psd_hessian``), with Lambda from ``joint_lambda_on_ray``."""
    validate_stability(config)
    d_x, d_y, grid = int(config["d_x"]), int(config["d_y"]), int(config["grid"])
    lo, hi = (float(s) for s in config["span"])
    H = random_psd_hessian(d_x, d_y, seed=int(config["seed"]))
    L_x, L_y = joint_lambda_on_ray(H, d_x)
    caps = step_sizes.admissible_step_sizes(L_x, L_y, 1, d_x)
    ex = caps.eta_x * np.geomspace(lo, hi, grid)
    ey = caps.eta_y * np.geomspace(lo, hi, grid)
    rho = stability_grid(H, d_x, ex, ey)
    gx, gy = np.meshgrid(ex, ey, indexing="ij")
    write_table(
        out_dir, "stability_region.csv", pd.DataFrame({"eta_x": gx.ravel(), "eta_y": gy.ravel(), "rho": rho.ravel()})
    )
    box = stability_grid(H, d_x, caps.eta_x * np.linspace(0.05, 1, 8), caps.eta_y * np.linspace(0.05, 1, 8))
    write_table(
        out_dir,
        "box.csv",
        pd.DataFrame(
            [
                {
                    "L_x": L_x,
                    "L_y": L_y,
                    "cap_x": caps.eta_x,
                    "cap_y": caps.eta_y,
                    "binding_x": caps.binding_x,
                    "max_rho_in_box": float(box.max()),
                    "d_x": d_x,
                    "d_y": d_y,
                    "seed": int(config["seed"]),
                }
            ]
        ),
    )
    write_config(out_dir, config)


def plot_stability(tables_dir: Path, png_path: Path) -> None:
    t = read_table(tables_dir, "stability_region.csv")
    box = read_table(tables_dir, "box.csv").iloc[0]
    ex, ey = np.sort(t.eta_x.unique()), np.sort(t.eta_y.unique())
    rho = t.pivot(index="eta_y", columns="eta_x", values="rho").loc[ey, ex].to_numpy()
    fig, (ax,) = style.new_figure(width=6.8, height=5.2)
    # rho is ~0.9..1 inside the region and grows to 1e6+ outside: a colour scale centred at 1 (white) and
    # clipped at 10 shows both the contraction inside and the edge
    finite = np.where(np.isfinite(rho), rho, np.nan)
    vmin = min(max(float(np.nanmin(finite)), 1e-3), 0.999)
    mesh = ax.pcolormesh(
        ex,
        ey,
        np.clip(finite, vmin, 10.0),
        norm=TwoSlopeNorm(vmin=vmin, vcenter=1.0, vmax=10.0),
        cmap="RdBu_r",
        shading="nearest",
    )
    bar = fig.colorbar(mesh, ax=ax, label=r"spectral radius $\rho$ of the second-moment map (white = 1, clipped at 10)")
    ticks = [vmin, 0.5 * (vmin + 1), 1.0, 2.0, 5.0, 10.0]
    bar.set_ticks(ticks, labels=[f"{t:.4g}" for t in ticks])
    ax.contour(ex, ey, finite, levels=[1.0], colors="black", linewidths=2.0)
    ax.add_patch(
        Rectangle(
            (ex[0], ey[0]),
            box.cap_x - ex[0],
            box.cap_y - ey[0],
            fill=False,
            hatch="//",
            edgecolor="gold",
            linewidth=2.0,
        )
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(r"ZO step size $\eta_x$ (full-model block)")
    ax.set_ylabel(r"FO step size $\eta_y$ (adapter block)")
    ax.set_title(f"Exact stability region, random PD H (d_x={int(box.d_x)}, d_y={int(box.d_y)}, n=1)")
    handles = [
        Line2D([], [], color="black", lw=2, label=r"$\rho = 1$ (exact stability edge)"),
        Rectangle(
            (0, 0),
            1,
            1,
            fill=False,
            hatch="//",
            edgecolor="gold",
            lw=2,
            label=f"Theorem R box (C1)-(C2), from 0\nmax rho inside = {box.max_rho_in_box:.5f}",
        ),
    ]
    ax.legend(handles=handles, loc="upper right", framealpha=0.9)
    style.save_figure(fig, png_path)
