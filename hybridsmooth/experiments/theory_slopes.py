"""Theory figure ``rate_slopes`` (check 12a/12b): Phi(T) against T with fitted log-log slopes, their bootstrap
intervals and the predicted slopes -1/2 and -2/3 (THEORY 6.5)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.run_description import RunDescription
from ..errors import UsageError
from ..theory.run_statistics import fit_loglog_slope
from ..theory.slope_cases import SLOPE_CASES, practical_caps, slope_descriptions, slope_runs
from . import style
from .figure_runs import MODEL_RUNS_DIR, synthetic_runner
from .registry import config_int, read_table, write_config, write_table


def _spread(values: np.ndarray, lo: float = 10, hi: float = 90) -> tuple[float, float]:
    return float(np.percentile(values, lo)), float(np.percentile(values, hi))


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


def _slope_plan(config: Mapping):
    """(case, objective, descriptions of its runs, one per T) of every case of the figure."""
    validate_slopes(config)
    for case in config["cases"]:
        sc = SLOPE_CASES[case]
        obj = sc.build()
        cap_x, cap_y = practical_caps(obj)
        runs = slope_descriptions(
            sc.spec,
            Ts=config["Ts"],
            cap_x=cap_x,
            cap_y=cap_y,
            power=sc.power,
            T_ref=int(config["T_ref"]),
            mu=sc.mu,
            S=int(config["seeds"]),
            seed=sc.seed,
        )
        yield case, obj, runs


def slopes_runs(config: Mapping) -> list[RunDescription]:
    """The runs ``run_slopes`` trains, as descriptions (``figures --write-grid``)."""
    return [d for _, _, runs in _slope_plan(config) for d in runs]


def run_slopes(config: Mapping, out_dir: Path) -> None:
    """Phi(T) per seed for checks 12a/12b with the schedules of ``simulated_checks`` (``slope_runs``,
    ``practical_caps``), plus the predicted slopes."""
    run = synthetic_runner(Path(out_dir).parent / MODEL_RUNS_DIR)
    rows = []
    for case, obj, runs in _slope_plan(config):
        label, predicted = SLOPE_LABELS[case], SLOPE_CASES[case].predicted
        for T, phis in zip(config["Ts"], slope_runs(obj, runs, run=run)):
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
