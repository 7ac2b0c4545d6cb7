"""Theory figure ``pep_worst_case`` (check 16): B_R, the PEP worst case of Theorem R's LHS and the measured LHS
against T, for the deterministic case and RR with n = 2; and the paper's stated renderings A/B/B' (as a bound
eps^2(T) on min_t ||grad f||^2) against the PEP worst case of that minimum. Rescaled units (Lambda = I)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from matplotlib.ticker import NullFormatter

from ..theory.pep.cases import case_table
from ..theory.pep.problems import PEPCase, min_grad_pep
from ..theory.stated_theorem import RENDERINGS, T_required_stated_value
from . import style
from .registry import config_int, read_table, write_config, write_table

DET = PEPCase(n=1, T=1, c_x=1 / 8, c_y=1 / 8, s2_x=0.0, s2_y=0.0)
RR = PEPCase(n=2, T=1, c_x=1 / 16, c_y=1 / 16, s2_x=0.5, s2_y=0.5)


def validate_pep(config: Mapping) -> None:
    config_int(config, "seeds")
    for key in ("Ts_deterministic", "Ts_rr"):
        Ts = config.get(key)
        if not isinstance(Ts, (list, tuple)) or not Ts or any(int(t) != t or t < 1 for t in Ts):
            raise ValueError(f"config {key!r} must be a non-empty list of positive integers, got {Ts!r}")


def rendering_eps2(T: int, rendering: str, *, delta: float, G: float, gap0: float, eta: float) -> float:
    """The smallest eps^2 a rendering guarantees at T epochs (bisection on the stated T(eps); inf if none)."""
    need = lambda e: T_required_stated_value(  # noqa: E731
        e, delta, G=G, gap0=gap0, eta_x=eta, eta_y=eta, n=1, rendering=rendering
    )
    lo, hi = 1e-8, 1e8
    if need(hi) > T:
        return math.inf
    for _ in range(200):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if need(mid) > T else (lo, mid)
    return hi**2


def _renderings(config: Mapping) -> pd.DataFrame:
    # G^2 = 2 L Delta0 bounds ||grad f||^2 on the sublevel set of every 1-smooth f with f(z_0) - inf f <= Delta0
    G, delta = math.sqrt(2 * DET.gap0), float(config.get("delta", 0.9))
    rows = []
    for T in config["Ts_deterministic"]:
        res = min_grad_pep(PEPCase(**{**DET.__dict__, "T": int(T)}))
        row = {"T": T, "pep_min_grad2": res.value if res.converged else math.nan, "status": res.status}
        for r in RENDERINGS:
            row[r] = rendering_eps2(int(T), r, delta=delta, G=G, gap0=DET.gap0, eta=DET.c_x)
        rows.append(row)
    return pd.DataFrame(rows)


def run_pep(config: Mapping, out_dir: Path) -> None:
    validate_pep(config)
    cases = [
        ("deterministic", PEPCase(**{**DET.__dict__, "T": int(T)}), "expectation") for T in config["Ts_deterministic"]
    ]
    cases += [("RR n=2", PEPCase(**{**RR.__dict__, "T": int(T)}), "expectation") for T in config["Ts_rr"]]
    write_table(out_dir, "pep_worst_case.csv", case_table(cases=cases))
    write_table(out_dir, "pep_renderings.csv", _renderings(config))
    write_config(out_dir, config)


def plot_pep(tables_dir: Path, png_path: Path) -> None:
    t = read_table(tables_dir, "pep_worst_case.csv")
    r = read_table(tables_dir, "pep_renderings.csv")
    fig, axes = style.new_figure(ncols=3, width=13.5, height=4.2)
    for ax, name in zip(axes[:2], ("deterministic", "RR n=2")):
        g = t[t.case == name].sort_values("T")
        ax.plot(g["T"], g.B_R, style.THEORY_LINESTYLE, color=style.THEORY_COLOR, marker="s", label="$B_R$")
        ax.plot(g["T"], g.pep, "-o", color=style.SECOND_COLOR, label="PEP worst case")
        ax.errorbar(g["T"], g.measured, yerr=g.measured_se, fmt="^", color=style.MEASURED_COLOR, label="measured")
        ax.set_title(f"{name}: Theorem R's LHS")
    ax = axes[2]
    for ren, mk in zip(RENDERINGS, "xdv"):
        ax.plot(r["T"], r[ren], ":", marker=mk, label=f"stated rendering {ren}")
    ax.plot(r["T"], r.pep_min_grad2, "-o", color=style.SECOND_COLOR, label="PEP worst min_t ||grad f||^2")
    ax.set_title("deterministic: stated eps^2(T) vs PEP")
    for ax, Ts in zip(axes, (t[t.case == "deterministic"]["T"], t[t.case == "RR n=2"]["T"], r["T"])):
        ax.set_xscale("log")
        ax.set_yscale("log")
        # T takes a few integer values: label exactly those, not mantissas x 10^0
        ticks = sorted({int(v) for v in Ts})
        ax.set_xticks(ticks, [str(v) for v in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("epochs T")
        ax.legend(fontsize=7.5)
    style.save_figure(fig, png_path)
