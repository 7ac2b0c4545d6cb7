"""Figure ``low_precision`` (the low-precision issue): what rounding does to the in-place ZO step.

Left: the drift ||x_t - x_0|| / ||x_0|| of perturb / restore alone (step size 0, so nothing should move) against
steps, for bfloat16, float16 and float32 in the plain mode and for bfloat16 with a float32 master copy
(``zo.precision.restore_drift``). Middle and right: a short hybrid run of a model in each mode, its per-step
fraction of the ZO update lost to rounding (``zo_lost``) and its training loss.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch

from ..errors import UsageError
from . import style
from .registry import config_int, config_positive, read_table, write_config, write_table

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
# (dtype, mode) of the drift panel and of the runs
DRIFT_CASES = (("bfloat16", "plain"), ("float16", "plain"), ("float32", "plain"), ("bfloat16", "master"))
RUN_CASES = (("float32", "plain"), ("bfloat16", "plain"), ("bfloat16", "master"), ("bfloat16", "stochastic"))
COLORS = {
    "float32 plain": style.THEORY_COLOR,
    "bfloat16 plain": style.MEASURED_COLOR,
    "float16 plain": "#ff7f0e",
    "bfloat16 master": style.SECOND_COLOR,
    "bfloat16 stochastic": "#2ca02c",
}


def validate_low_precision(config: Mapping) -> None:
    config_int(config, "weights")
    config_int(config, "run_steps")
    for key in ("mu", "eta_x", "eta_y"):
        config_positive(config, key)
    steps = config.get("drift_steps")
    if not isinstance(steps, (list, tuple)) or not steps or any(not isinstance(s, int) or s < 1 for s in steps):
        raise UsageError(f"config 'drift_steps' must be a non-empty list of positive integers, got {steps!r}")
    if not isinstance(config.get("problem"), str) or not config["problem"].startswith("llm:"):
        raise UsageError(f"config 'problem' must be an llm:... spec without dtype, got {config.get('problem')!r}")


def drift_rows(config: Mapping) -> pd.DataFrame:
    from ..zo.precision import restore_drift

    rows = []
    for dtype, mode in DRIFT_CASES:
        for r in restore_drift(
            int(config["weights"]), dtype=DTYPES[dtype], precision=mode, steps=config["drift_steps"], mu=config["mu"]
        ):
            rows.append({"case": f"{dtype} {mode}", "steps": r.steps, "drift": r.drift, "changed": r.changed})
    return pd.DataFrame(rows)


def run_rows(config: Mapping) -> pd.DataFrame:
    """One short hybrid run per (dtype, mode) of ``RUN_CASES``, from the same start and seed."""
    from ..engine.execute import execute
    from ..engine.run_description import RunDescription
    from ..optim.hybrid_sgd import HybridSGDConfig
    from ..zo.precision import LostUpdateWarning

    parts = []
    for dtype, mode in RUN_CASES:
        opt = HybridSGDConfig(
            eta_x=config["eta_x"], eta_y=config["eta_y"], mu=config["mu"], epochs=0, seed=0, zo_precision=mode
        )
        with warnings.catch_warnings():
            # the figure runs bf16 plain on purpose, to show the loss the warning announces
            warnings.simplefilter("ignore", LostUpdateWarning)
            res = execute(RunDescription(f"{config['problem']},dtype={dtype}", opt, steps=int(config["run_steps"])))
        steps = res.steps[["step", "loss", "zo_residue", "zo_lost"]].copy()
        parts.append(steps.assign(case=f"{dtype} {mode}"))
    return pd.concat(parts, ignore_index=True)


def run_low_precision(config: Mapping, out_dir: Path) -> None:
    validate_low_precision(config)
    write_table(out_dir, "low_precision_drift.csv", drift_rows(config))
    write_table(out_dir, "low_precision_runs.csv", run_rows(config))
    write_config(out_dir, config)


def plot_low_precision(tables_dir: Path, png_path: Path) -> None:
    drift = read_table(tables_dir, "low_precision_drift.csv")
    runs = read_table(tables_dir, "low_precision_runs.csv")
    fig, (a, b, c) = style.new_figure(ncols=3, width=14.0, height=4.2)
    for case, g in drift.groupby("case", sort=False):
        exact = (g.drift == 0).all()  # an exact restore has no point on a log axis: say so in the legend
        a.plot(
            g.steps, g.drift.where(g.drift > 0), "-o", color=COLORS[case], label=case + (" (0: exact)" if exact else "")
        )
    a.set(xscale="log", yscale="log", xlabel="ZO steps at step size 0", ylabel="||x_t - x_0|| / ||x_0||")
    a.set_title("perturb / restore drift")
    for case, g in runs.groupby("case", sort=False):
        b.plot(g.step, g.zo_lost, "-", color=COLORS[case], label=case)
        c.plot(g.step, g.loss, "-", color=COLORS[case], label=case)
    b.set(xlabel="step", ylabel="fraction of the ZO update lost", ylim=(-0.02, 1.02))
    b.set_title("update lost to rounding")
    c.set(xlabel="step", ylabel="minibatch loss")
    c.set_title("short hybrid run")
    for ax in (a, b, c):
        ax.legend(fontsize=7.5)
    style.save_figure(fig, png_path)
