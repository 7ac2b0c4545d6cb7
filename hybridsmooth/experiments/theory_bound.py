"""Theory figure ``bound_vs_measured`` (check 11): Theorem R's LHS per seed against B_R (THEORY 6.1) over
step-size fractions, ZO forms, mu and instances."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.lines import Line2D

from ..engine.run_description import RunDescription
from ..errors import UsageError
from ..optim.hybrid_sgd import HybridSGDConfig
from ..theory import bounds, step_sizes
from ..theory.claims.check11_reference_bound import check11_instances
from ..theory.run_statistics import step_weighted_average
from . import style
from .figure_runs import MODEL_RUNS_DIR, synthetic_runner
from .registry import config_int, config_positive_list, read_table, write_config, write_table

_FORMS = ("central", "forward")


def validate_bound(config: Mapping) -> None:
    if config.get("size") not in ("fast", "full"):
        raise UsageError(f"config 'size' (the check-11 instance set) must be fast or full, got {config.get('size')!r}")
    config_int(config, "seeds", minimum=2)
    config_int(config, "T")
    config_positive_list(config, "fractions")
    config_positive_list(config, "mus")
    forms = config.get("forms")
    if not isinstance(forms, (list, tuple)) or not forms or any(f not in _FORMS for f in forms):
        raise UsageError(f"config 'forms' must be a non-empty list from {', '.join(_FORMS)}, got {forms!r}")


def _bound_plan(config: Mapping):
    """(instance, objective, B_R, description) of every run of the figure, in order."""
    validate_bound(config)
    S, T = int(config["seeds"]), int(config["T"])
    for inst, obj, Lambda_x, Lambda_y, gap0 in check11_instances(config["size"]):
        c = obj.constants
        caps = step_sizes.admissible_step_sizes(Lambda_x, Lambda_y, obj.n, obj.d_x)
        for frac in config["fractions"]:
            for form in config["forms"]:
                for mu in config["mus"]:
                    ex, ey = frac * caps.eta_x, frac * caps.eta_y
                    opt = HybridSGDConfig(
                        eta_x=ex, eta_y=ey, epochs=T, form=form, mu=mu, seed=int(config.get("run_seed", 11))
                    )
                    B = bounds.B_ref(
                        ex,
                        ey,
                        mu,
                        T,
                        n=obj.n,
                        d_x=obj.d_x,
                        Lambda_x=Lambda_x,
                        Lambda_y=Lambda_y,
                        sx2=c.sigma2_x,
                        sy2=c.sigma2_y,
                        gap0=gap0,
                    )
                    yield inst, obj, frac, B, RunDescription(obj.spec, opt, seeds=S)


def bound_runs(config: Mapping) -> list[RunDescription]:
    """The runs ``run_bound`` trains, as descriptions (``figures --write-grid``)."""
    return [plan[-1] for plan in _bound_plan(config)]


def run_bound(config: Mapping, out_dir: Path) -> None:
    """Theorem R's LHS per seed and B_R (``bounds.B_ref_terms``) on the check-11 instances, over the grid
    fractions x forms x mus (THEORY check 11)."""
    run = synthetic_runner(Path(out_dir).parent / MODEL_RUNS_DIR)
    rows = []
    for inst, obj, frac, B, d in _bound_plan(config):
        metrics, diverged = run(d, obj)
        opt, T = d.optimizer, d.optimizer.epochs
        for seed, lhs in enumerate(step_weighted_average(metrics, T, opt.eta_x, opt.eta_y)):
            rows.append(
                {
                    "instance": inst,
                    "fraction": frac,
                    "form": opt.form,
                    "mu": opt.mu,
                    "T": T,
                    "eta_x": opt.eta_x,
                    "eta_y": opt.eta_y,
                    "seed": seed,
                    "lhs": float(lhs),
                    "B_R": B,
                    "diverged": diverged,
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
    _bound_points(ax, t, colours, markers)
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
    _bound_legend(ax, t, colours, markers)
    style.save_figure(fig, png_path)


def _bound_points(ax, t: pd.DataFrame, colours: dict, markers: dict) -> None:
    """One point per (instance, fraction, form, mu): seed mean of the LHS at its B_R, bars min..max."""
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


def _bound_legend(ax, t: pd.DataFrame, colours: dict, markers: dict) -> None:
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
