"""What the step-size figures (Fig 2, Fig 4) share: config checks, the problem string and model-run folder,
their base configs, and the per-step and per-run tables of their training runs.

Both train the hybrid method (ZO on all base weights x, FO on the adapter y) through ``figure_runs.train_all``,
so runs are stored once under ``<runs>/model_runs`` and shared; the run functions write tidy CSV tables and
the plot functions read only those tables.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ..engine.run_description import RunDescription
from ..errors import UsageError
from ..objectives.llm import ADAPTERS
from ..objectives.llm_models import MODELS
from . import figure_runs, paper_setup
from .registry import config_int, read_config

METHOD = "hybrid"
RUN_KEYS = ["eta_x", "eta_y", "mu", "seed"]
PAIR_KEYS = ["eta_x", "eta_y", "mu"]

# quick: MiniLM (22.7M) on 64 tweets, batch 8 x 32 tokens, CPU. Measured on an idle 2-core machine: a hybrid
# step ~0.3 s, the 8 Lanczos products ~4 s, so Figure 2 (10 runs x 20 steps) took 67 s and Figure 4 (5 runs x
# 20 steps) 33 s (3-10x that under load). Only one dev batch is evaluated at the start and end (these figures
# plot training loss). ``window`` = one epoch of minibatches (64/8 quick, 1000/16 full): the running mean then
# counts every minibatch once, so the minibatch order does not decide which run looks best.
QUICK_MINILM = {"model": "minilm", "task": "sentiment", "data": dict(paper_setup.QUICK_DATA)}
# full: SmolLM2-135M (or model=PATH) at the paper's data sizes on one GPU
FULL_SMOLLM2 = {"model": "smollm2", "task": "sentiment", "data": dict(paper_setup.FULL_DATA)}


def config_seeds(config: Mapping) -> list[int]:
    """``config['seeds']`` sorted and without repeats, else a UsageError."""
    v = config.get("seeds")
    if (
        not isinstance(v, (list, tuple))
        or not v
        or not all(not isinstance(s, bool) and isinstance(s, int) and s >= 0 for s in v)
    ):
        raise UsageError(f"config 'seeds' must be a non-empty list of integers >= 0, got {v!r}")
    return sorted(set(v))


def validate_problem(config: Mapping) -> None:
    """Check the keys that name the trained problem: model, adapter, task, data and eval_limit."""
    if config.get("adapter") not in ADAPTERS:
        raise UsageError(f"unknown adapter {config.get('adapter')!r}; accepted: {', '.join(ADAPTERS)}")
    model = config.get("model")
    # a path names the user's own checkpoint (full mode on a GPU)
    if not isinstance(model, str) or not (model in MODELS or "/" in model):
        raise UsageError(f"config 'model' must be one of {', '.join(MODELS)} or a checkpoint path, got {model!r}")
    if not isinstance(config.get("task"), str):
        raise UsageError(f"config 'task' must be a task name, got {config.get('task')!r}")
    if not isinstance(config.get("data"), Mapping) or not config["data"]:
        raise UsageError(f"config 'data' must be a non-empty mapping of data keys, got {config.get('data')!r}")
    if config.get("eval_limit") is not None:
        config_int(config, "eval_limit", minimum=1)


def config_problem(config: Mapping) -> str:
    """The ``llm:...`` problem string of a step-size figure's config."""
    return paper_setup.llm_problem(config["model"], config["adapter"], config["task"], **dict(config["data"]))


def model_runs_dir(out_dir: Path) -> Path:
    """The shared store of model runs beside a figure's own folder."""
    return Path(out_dir).parent / figure_runs.MODEL_RUNS_DIR


def train_hybrid_runs(config: Mapping, problem: str, rates, out_dir: Path) -> list:
    """Train the hybrid method at every (eta_x, eta_y, mu) of ``rates`` for every seed of ``config`` (stored
    runs are read back, not retrained)."""
    return figure_runs.train_all(model_runs_dir(out_dir), hybrid_specs(config, problem, rates))


def hybrid_specs(config: Mapping, problem: str, rates) -> list[RunDescription]:
    """The runs of ``train_hybrid_runs``: the hybrid method at every (eta_x, eta_y, mu) of ``rates`` for every
    seed of ``config``."""
    return [
        figure_runs.figure_run(
            problem=problem,
            method=METHOD,
            eta_x=eta_x,
            eta_y=eta_y,
            mu=mu,
            steps=int(config["steps"]),
            seed=seed,
            eval_limit=config.get("eval_limit"),
        )
        for eta_x, eta_y, mu in rates
        for seed in config_seeds(config)
    ]


def three_digits(v: float) -> float:
    """A measured step size rounded so that a re-measurement at the same point names the same stored run."""
    return float(f"{v:.3g}")


def config_value(tables_dir: Path, key: str, default):
    """One key of a stored run's config, or ``default`` when the config is missing or unreadable."""
    try:
        return read_config(tables_dir).get(key, default)
    except (OSError, ValueError):
        return default


def steps_with_smoothing(runs, window: int) -> pd.DataFrame:
    """The per-step table of the runs with each run's running-mean loss over ``window`` steps."""
    t = figure_runs.steps_table(runs)
    t["loss_smoothed"] = t.groupby(RUN_KEYS, sort=False)["loss"].transform(lambda s: figure_runs.smoothed(s, window))
    return t


def run_summary(runs, window: int) -> pd.DataFrame:
    """One row per run: start and final running-mean loss (nan when diverged), steps done, diagnosis."""
    rows = []
    for r in runs:
        loss = figure_runs.smoothed(r.steps.sort_values("step")["loss"].reset_index(drop=True), window)
        rows.append(
            {
                **{k: getattr(r.spec, k) for k in RUN_KEYS},
                "steps": r.spec.steps,
                "completed_steps": len(r.steps),
                "initial_loss": float(r.steps["loss"].iloc[0]),
                "final_loss": math.nan if r.diverged or not len(loss) else float(loss.iloc[-1]),
                "diverged": r.diverged,
                "diagnosis": r.diagnosis,
                "seconds": r.seconds,
            }
        )
    return pd.DataFrame(rows)


def pair_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Per step-size pair: mean final loss over seeds and how many seeds diverged (a pair with a diverged seed
    has no mean: it is shown as diverged, not averaged over its surviving seeds)."""
    g = summary.groupby(PAIR_KEYS, sort=False)
    out = g.agg(final_loss=("final_loss", "mean"), n_seeds=("seed", "size"), n_diverged=("diverged", "sum"))
    out.loc[out.n_diverged > 0, "final_loss"] = math.nan
    return out.reset_index()
