"""The four figures the theory makes checkable (THEORY 8, last list): run functions write CSV tables, plot
functions read only those tables.

* ``stability_region`` -- check 8: exact spectral radius of the hybrid second-moment map on a log-log grid of
  (eta_x, eta_y), its rho = 1 boundary, and the Theorem R box (C1)-(C2) with n = 1 inside it.
* ``bound_vs_measured`` -- check 11: Theorem R's LHS per seed against B_R (THEORY 6.1) over step-size
  fractions, ZO forms, mu and instances.
* ``rate_slopes`` -- check 12a/12b: Phi(T) against T with fitted log-log slopes, their bootstrap intervals and
  the predicted slopes -1/2 and -2/3 (THEORY 6.5).
* ``speedup_vs_rho`` -- check 13: epochs one step / two steps against rho = L_x/L_y with s_exact and s_theory
  (THEORY 6.4).

The problem instances, step-size rules and statistics are those of ``hybridsmooth.theory`` (no copies); this
module only sweeps them wider and stores per-seed values so that the plots can show spread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.patches import Rectangle

from ..errors import UsageError
from ..objectives.base import Objective
from ..optim.hybrid_sgd import HybridSGDConfig, run_hybrid_sgd
from ..theory import bounds, predictions
from ..theory.assumptions import joint_lambda_on_ray
from ..theory.claims.check08_region_inclusion import random_psd_hessian, stability_grid
from ..theory.claims.check11_reference_bound import check11_instances
from ..theory.claims.check13_two_step_speedup import exact_gradient_curves, first_below, separable_quadratic
from ..theory.run_statistics import fit_loglog_slope, step_weighted_average
from ..theory.slope_cases import SLOPE_CASES, practical_caps, slope_runs
from . import style
from .registry import config_int, read_config, read_table, write_config, write_table


def _positive_list(config: Mapping, key: str) -> list[float]:
    v = config.get(key)
    if not isinstance(v, (list, tuple)) or not v or not all(isinstance(t, (int, float)) and t > 0 for t in v):
        raise UsageError(f"config {key!r} must be a non-empty list of positive numbers, got {v!r}")
    return [float(t) for t in v]


def _spread(values: np.ndarray, lo: float = 10, hi: float = 90) -> tuple[float, float]:
    return float(np.percentile(values, lo)), float(np.percentile(values, hi))


# --- check 8: stability region -----------------------------------------------------------------------------


def validate_stability(config: Mapping) -> None:
    config_int(config, "d_x")
    config_int(config, "d_y")
    config_int(config, "grid", minimum=4)
    lo, hi = _positive_list(config, "span")
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
    caps = bounds.admissible_step_sizes(L_x, L_y, 1, d_x)
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
    from matplotlib.lines import Line2D

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


# --- check 11: bound vs measured ---------------------------------------------------------------------------

_FORMS = ("central", "forward")


def validate_bound(config: Mapping) -> None:
    if config.get("size") not in ("fast", "full"):
        raise UsageError(f"config 'size' (the check-11 instance set) must be fast or full, got {config.get('size')!r}")
    config_int(config, "seeds", minimum=2)
    config_int(config, "T")
    _positive_list(config, "fractions")
    _positive_list(config, "mus")
    forms = config.get("forms")
    if not isinstance(forms, (list, tuple)) or not forms or any(f not in _FORMS for f in forms):
        raise UsageError(f"config 'forms' must be a non-empty list from {', '.join(_FORMS)}, got {forms!r}")


def run_bound(config: Mapping, out_dir: Path) -> None:
    """Theorem R's LHS per seed and B_R (``bounds.B_ref_terms``) on the check-11 instances, over the grid
    fractions x forms x mus (THEORY check 11)."""
    validate_bound(config)
    S, T = int(config["seeds"]), int(config["T"])
    rows = []
    for inst, obj, L_x, L_y, gap0 in check11_instances(config["size"]):
        c = obj.constants
        caps = bounds.admissible_step_sizes(L_x, L_y, obj.n, obj.d_x)
        for frac in config["fractions"]:
            for form in config["forms"]:
                for mu in config["mus"]:
                    ex, ey = frac * caps.eta_x, frac * caps.eta_y
                    res = run_hybrid_sgd(
                        obj,
                        HybridSGDConfig(
                            eta_x=ex, eta_y=ey, epochs=T, form=form, mu=mu, seed=int(config.get("run_seed", 11))
                        ),
                        seeds=S,
                    )
                    B = bounds.B_ref(
                        ex, ey, mu, T, n=obj.n, d_x=obj.d_x, L_x=L_x, L_y=L_y, sx2=c.sigma2_x, sy2=c.sigma2_y, gap0=gap0
                    )
                    for seed, lhs in enumerate(step_weighted_average(res.metrics, T, ex, ey)):
                        rows.append(
                            {
                                "instance": inst,
                                "fraction": frac,
                                "form": form,
                                "mu": mu,
                                "T": T,
                                "eta_x": ex,
                                "eta_y": ey,
                                "seed": seed,
                                "lhs": float(lhs),
                                "B_R": B,
                                "diverged": res.diverged,
                            }
                        )
    write_table(out_dir, "bound_vs_measured.csv", pd.DataFrame(rows))
    write_config(out_dir, config)


def plot_bound(tables_dir: Path, png_path: Path) -> None:
    t = read_table(tables_dir, "bound_vs_measured.csv")
    fig, (ax,) = style.new_figure(width=7.2, height=5.4)
    colours = dict(zip(t.instance.unique(), [style.MEASURED_COLOR, style.SECOND_COLOR, "#2ca02c", "#9467bd"]))
    markers = {("central", m): mk for m, mk in zip(sorted(t.mu.unique()), "os^")}
    markers.update({("forward", m): mk for m, mk in zip(sorted(t.mu.unique()), "DvP")})
    for (inst, _frac, form, mu), g in t.groupby(["instance", "fraction", "form", "mu"], sort=False):
        mean = g.lhs.mean()
        lo, hi = g.lhs.min(), g.lhs.max()
        # forward-form markers are hollow: B_R does not depend on the form, so the two often overlap
        ax.errorbar(
            g.B_R.iloc[0],
            mean,
            yerr=[[mean - lo], [hi - mean]],
            fmt=markers[(form, mu)],
            color=colours[inst],
            mfc="none" if form == "forward" else colours[inst],
            ms=9 if form == "forward" else 6,
            capsize=3,
            alpha=0.85,
        )
    lim = [min(t.lhs.min(), t.B_R.min()) / 2, max(t.lhs.max(), t.B_R.max()) * 2]
    ax.plot(lim, lim, style.THEORY_LINESTYLE, color=style.THEORY_COLOR, label=r"LHS = $B_R$ (bound is tight)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.set_xlabel(r"Theorem R bound $B_R$ (THEORY 6.1)")
    ax.set_ylabel(r"measured LHS $\frac{1}{T}\sum_t \eta_x\|\nabla_x f\|^2 + \eta_y\|\nabla_y f\|^2$")
    ratio = (
        t.groupby(["instance", "fraction", "form", "mu"]).lhs.mean()
        / t.groupby(["instance", "fraction", "form", "mu"]).B_R.first()
    )
    ax.set_title(
        f"Theorem R bound vs measured, T={int(t['T'].iloc[0])}, {t.seed.nunique()} seeds "
        f"(LHS/B_R in [{ratio.min():.3g}, {ratio.max():.3g}])"
    )
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, marker="o", ls="", label=i) for i, c in colours.items()]
    handles += [
        Line2D(
            [],
            [],
            color="grey",
            marker=mk,
            ls="",
            mfc="none" if form == "forward" else "grey",
            label=f"{form} ZO, mu={mu:g}",
        )
        for (form, mu), mk in markers.items()
        if ((t.form == form) & (t.mu == mu)).any()
    ]
    handles.append(Line2D([], [], color=style.THEORY_COLOR, ls=style.THEORY_LINESTYLE, label="LHS = B_R"))
    ax.legend(
        handles=handles,
        loc="upper left",
        fontsize=7.5,
        framealpha=0.9,
        title="seed mean, bars = min..max over seeds; larger B_R = larger step fraction",
        title_fontsize=7.5,
    )
    style.save_figure(fig, png_path)


# --- check 12: rate slopes ---------------------------------------------------------------------------------

SLOPE_LABELS = {
    "12a": r"12a Cauchy sum ($\sigma_x>0$), $\eta \propto T^{-1/2}$",
    "12b": r"12b interpolating x ($\sigma_x=0$), $\eta \propto T^{-1/3}$",
}


def validate_slopes(config: Mapping) -> None:
    config_int(config, "seeds", minimum=2)
    config_int(config, "T_ref")
    Ts = config.get("Ts")
    if (
        not isinstance(Ts, (list, tuple))
        or len(Ts) < 3
        or any(isinstance(t, bool) or not isinstance(t, int) or t < 1 for t in Ts)
    ):
        raise UsageError(f"config 'Ts' must list at least 3 positive integers (a slope needs points), got {Ts!r}")
    cases = config.get("cases")
    if not isinstance(cases, (list, tuple)) or not cases or any(c not in SLOPE_CASES for c in cases):
        raise UsageError(f"config 'cases' must be a non-empty list from {', '.join(SLOPE_CASES)}, got {cases!r}")


def run_slopes(config: Mapping, out_dir: Path) -> None:
    """Phi(T) per seed for checks 12a/12b with the schedules of ``simulated_checks`` (``slope_runs``,
    ``practical_caps``), plus the predicted slopes."""
    validate_slopes(config)
    rows = []
    for case in config["cases"]:
        sc, label = SLOPE_CASES[case], SLOPE_LABELS[case]
        predicted = sc.predicted
        obj = sc.build()
        cap_x, cap_y = practical_caps(obj)
        per_seed = slope_runs(
            obj,
            Ts=config["Ts"],
            cap_x=cap_x,
            cap_y=cap_y,
            power=sc.power,
            T_ref=int(config["T_ref"]),
            mu=sc.mu,
            S=int(config["seeds"]),
            seed=sc.seed,
        )
        for T, phis in zip(config["Ts"], per_seed):
            rows += [
                {"case": case, "label": label, "T": T, "seed": s, "phi": float(p), "predicted_slope": predicted}
                for s, p in enumerate(phis)
            ]
    write_table(out_dir, "rate_slopes.csv", pd.DataFrame(rows))
    write_config(out_dir, config)


def plot_slopes(tables_dir: Path, png_path: Path) -> None:
    t = read_table(tables_dir, "rate_slopes.csv")
    cases = list(t.case.unique())
    fig, axes = style.new_figure(ncols=len(cases), width=6.0 * len(cases), height=4.8)
    for ax, case in zip(axes, cases):
        g = t[t.case == case]
        Ts = np.sort(g["T"].unique())
        per_seed = [g[g["T"] == T].phi.to_numpy() for T in Ts]
        means = np.array([v.mean() for v in per_seed])
        lo, hi = np.array([_spread(v) for v in per_seed]).T
        fit = fit_loglog_slope(Ts, per_seed, n_boot=1000, seed=0)
        ax.fill_between(
            Ts, lo, hi, color=style.METHOD_COLORS["hybrid"], alpha=style.SPREAD_ALPHA, label="10-90% over seeds"
        )
        ax.plot(
            Ts,
            means,
            "o-",
            color=style.METHOD_COLORS["hybrid"],
            label=f"{style.METHOD_LABELS['hybrid']}: mean over {len(per_seed[0])} seeds",
        )
        intercept = np.mean(np.log(means) - fit.slope * np.log(Ts))
        ax.plot(
            Ts,
            np.exp(intercept) * Ts**fit.slope,
            "-",
            color="grey",
            lw=1.5,
            label=f"fit: slope {fit.slope:.2f} (95% CI [{fit.low:.2f}, {fit.high:.2f}])",
        )
        pred = float(g.predicted_slope.iloc[0])
        ax.plot(
            Ts,
            means[0] * (Ts / Ts[0]) ** pred,
            style.THEORY_LINESTYLE,
            color=style.THEORY_COLOR,
            label=f"Theorem R predicted slope {pred:.2f}",
        )
        if case == "12b":
            ax.plot(
                Ts,
                means[0] * (Ts / Ts[0]) ** (-1 / 3),
                ":",
                color=style.THEORY_COLOR,
                label="bounded-gradient analysis: slope -0.33",
            )
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("epochs T (log scale)")
        if ax is axes[0]:
            ax.set_ylabel(r"$\Phi(T) = \frac{1}{T}\sum_{t<T}\|\nabla f(z_t)\|^2$ (log scale)")
        ax.set_title(g.label.iloc[0])
        ax.legend(loc="lower left", framealpha=0.9)
    style.save_figure(fig, png_path)


# --- check 13: two-step speed-up vs rho --------------------------------------------------------------------


def validate_speedup(config: Mapping) -> None:
    config_int(config, "d_x")
    config_int(config, "d_y")
    config_int(config, "seeds", minimum=2)
    config_int(config, "n_boot", minimum=10)
    _positive_list(config, "rhos_simulated")
    _positive_list(config, "rhos_exact")
    if not (isinstance(config.get("kappa_y"), (int, float)) and config["kappa_y"] > 1):
        raise UsageError(f"config 'kappa_y' must be a number > 1, got {config.get('kappa_y')!r}")
    if not (isinstance(config.get("target"), float) and 0 < config["target"] < 1):
        raise UsageError(f"config 'target' must be a float in (0, 1), got {config.get('target')!r}")


def _exact_epochs(obj: Objective, lam, rho: float, ex: float, ey: float, target: float) -> tuple[int, int]:
    """Exact (y-target, full-target) epochs, doubling the horizon until both are reached (as check 13)."""
    horizon = 64
    while True:
        gx, gy = exact_gradient_curves(obj, lam, rho, ex, ey, horizon)
        ky, kf = first_below(gy, target), first_below(gx + gy, target)
        if ky is not None and kf is not None:
            return ky, kf
        horizon *= 2


def _steps(rho: float, d_x: int, kappa_y: float) -> dict[str, tuple[float, float]]:
    eta_x0, eta_y0 = 1.0 / (rho * (d_x + 2)), 2.0 / (1.0 + 1.0 / kappa_y)  # THEORY 6.4's steps
    return {"two": (eta_x0, eta_y0), "one": (min(eta_x0, eta_y0),) * 2}


def run_speedup(config: Mapping, out_dir: Path) -> None:
    """Epoch ratio one step / two steps to reach ``target`` x initial (y-target and full target) on the
    separable quadratic of check 13: exact on a dense rho grid, simulated at ``rhos_simulated`` with a
    bootstrap over seeds of the seed-mean curves (the prediction is about E||grad f||^2, so the ratio is taken
    on seed means, as in check 13), and s_exact, s_theory (n = 1)."""
    validate_speedup(config)
    d_x, d_y, kappa_y, target = int(config["d_x"]), int(config["d_y"]), float(config["kappa_y"]), config["target"]
    S, n_boot = int(config["seeds"]), int(config["n_boot"])
    rng = np.random.default_rng(int(config.get("boot_seed", 0)))
    rows, theory = [], []
    for rho in config["rhos_exact"]:
        obj, lam = separable_quadratic(rho, d_x, d_y, kappa_y, seed=13)
        ep = {k: _exact_epochs(obj, lam, rho, *v, target) for k, v in _steps(rho, d_x, kappa_y).items()}
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
    for rho in config["rhos_simulated"]:
        obj, lam = separable_quadratic(rho, d_x, d_y, kappa_y, seed=13)
        curves = {}
        for name, (ex, ey) in _steps(rho, d_x, kappa_y).items():
            T = int(1.1 * max(_exact_epochs(obj, lam, rho, ex, ey, target))) + 2
            res = run_hybrid_sgd(
                obj, HybridSGDConfig(eta_x=ex, eta_y=ey, epochs=T, form="central", mu=1e-3, seed=13), seeds=S
            )
            m = res.metrics.assign(y2=res.metrics.grad_y_norm**2, z2=res.metrics.grad_norm**2)
            curves[name] = {
                tgt: m.pivot(index="seed", columns="epoch", values=col).to_numpy()
                for tgt, col in (("y", "y2"), ("full", "z2"))
            }

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
    write_table(out_dir, "speedup_vs_rho.csv", pd.DataFrame(rows))
    write_table(out_dir, "speedup_theory.csv", pd.DataFrame(theory))
    write_config(out_dir, config)


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
