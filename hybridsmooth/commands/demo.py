"""``hybridsmooth demo``: the toolkit's main job on its embedded defaults, about ten minutes on 2 CPU cores.

1. two step sizes vs one on a coupled block quadratic (20 seeds, seconds; ``--synthetic-only`` stops here);
2. every figure in quick mode (``hybridsmooth figures --quick``) into ``OUT/figures``, runs in ``OUT/figure_runs``;
3. the theorem's check suite (``hybridsmooth check``) with its markdown report ``OUT/check_report.md``,
   linking the figures of step 2;
then the paths of everything written. Stored runs are reused by a second call (``--rerun`` redoes them).

Step 1:

The problem has exact constants (L_x = 10, L_y = 1, d_x = 50). "Two steps" takes each block's step from
its own constant: eta_x = 1/(L_x (d_x + 2)), the optimum of the ZO mean-square rate (THEORY 6.4), and
eta_y = 1/(2 L_y), safely inside the FO limit 2/L_y even with the cross block (H <= (1 + s) Lambda,
THEORY 3.2). "One step" must respect both blocks, so it uses min(eta_x, eta_y) for both.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from .. import validate
from ..engine import run_config_record, write_run
from ..engine.run_description import RunDescription
from ..errors import UsageError
from ..optim.batched_run import run_hybrid_sgd
from ..optim.hybrid_sgd import HybridSGDConfig
from ..optim.run_metrics import summarize_run
from ..paths import ensure_output_dir
from ..problems import make_problem

# one process: on the 2-core reference machine two figure workers were slower, not faster (Fig 1's first
# converged point took 124 s beside a training worker, 21 s alone); --workers 2 is for machines with more cores
DEFAULT_WORKERS = 1
DEMO_PROBLEM = "quadratic:dx=50,dy=10,Lx=10,Ly=1,coupling=0.5,n=16,spread=0.1"
TARGET = 1e-3  # targets: the seed-mean squared gradient norm falls below TARGET x its start value


def add_arguments(parser) -> None:
    parser.add_argument("--out", default="runs/demo", help="folder for everything the demo writes (default runs/demo)")
    parser.add_argument(
        "--synthetic-only",
        dest="synthetic_only",
        action="store_true",
        help="only step 1, the synthetic two-step comparison (seconds)",
    )
    parser.add_argument("--rerun", action="store_true", help="redo the figures' runs even when stored")
    parser.add_argument("--epochs", type=int, default=400, help="epochs per run (default 400)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per run (default 20)")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"processes the figures run in side by side (default {DEFAULT_WORKERS}; see figures --workers)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: these batches are small, and extra threads "
        "only contend on a shared machine)",
    )


def epochs_to_target(metrics: pd.DataFrame, column: str, target: float) -> float:
    """First epoch at which the seed-mean of column^2 is <= target x its epoch-0 value (inf if never)."""
    curve = (metrics[column] ** 2).groupby(metrics["epoch"]).mean()
    hit = np.flatnonzero(curve.to_numpy() <= target * curve.iloc[0])
    return float(curve.index[hit[0]]) if hit.size else math.inf


def _check_options(args) -> None:
    """Refuse bad options before step 1: the later steps run for minutes and would fail only then."""
    seeds = validate.integer("--seeds", args.seeds, minimum=1, error=UsageError)
    epochs = validate.integer("--epochs", args.epochs, minimum=1, error=UsageError)
    workers = validate.integer("--workers", args.workers, minimum=1, error=UsageError)
    if args.synthetic_only and workers != DEFAULT_WORKERS:
        raise UsageError("--workers applies to the figures, which --synthetic-only skips; drop one of them")
    if args.threads is not None:
        validate.threads("--threads", args.threads)
    # the metrics table: one row of about ten float64 columns per seed and epoch, plus the iterates
    validate.check_allocation(seeds * (epochs + 1) * 16, 8, f"--seeds {seeds} --epochs {epochs}")
    ensure_output_dir(args.out, "--out")


def run(args) -> int:
    import argparse
    import time
    from pathlib import Path

    from . import check, figures

    _check_options(args)
    t0 = time.perf_counter()
    print("== 1/3 synthetic: two step sizes vs one ==", flush=True)
    threads = torch.get_num_threads()
    status = synthetic_demo(args)
    # the synthetic step runs best on one thread; the model runs of the figures want every core
    torch.set_num_threads(threads)
    if args.synthetic_only:
        return status
    out = Path(args.out)
    fig_dir, fig_runs, report = out / "figures", out / "figure_runs", out / "check_report.md"
    print("\n== 2/3 figures (quick mode) ==", flush=True)
    status |= figures.run(
        argparse.Namespace(
            mode="quick", only=None, rerun=args.rerun, out=str(fig_dir), runs_dir=str(fig_runs), workers=args.workers
        )
    )
    print("\n== 3/3 theorem checks (standard suite, fast size) ==", flush=True)
    status |= check.run(
        argparse.Namespace(
            problems=[],
            only=None,
            seeds=None,
            size="fast",
            json=False,
            report=str(report),
            figures=str(fig_dir),
            threads=args.threads or 1,
            quiet=False,
        )
    )
    print(f"\ndemo finished in {time.perf_counter() - t0:.0f} s; wrote:")
    print(f"  {out / 'two_steps'}/, {out / 'one_step'}/  synthetic runs (config.json, metrics.csv, summary.json)")
    print(f"  {fig_dir}/  figures: PNG + CSV per figure, index {fig_dir / 'README.md'}")
    print(f"  {fig_runs}/  the figures' stored runs and tables (re-plotting reads these, never retrains)")
    print(f"  {report}  the check report (verdict table, one paragraph per check, figures linked)")
    return status


def synthetic_demo(args) -> int:
    if args.threads is not None:
        torch.set_num_threads(max(1, args.threads))
    objective = make_problem(DEMO_PROBLEM)
    c = objective.constants
    eta_x = 1.0 / (c.L_x * (objective.d_x + 2))
    eta_y = 1.0 / (2.0 * c.L_y)
    eta_1 = min(eta_x, eta_y)
    rows, status = [], 0
    for name, ex, ey in (("two_steps", eta_x, eta_y), ("one_step", eta_1, eta_1)):
        config = HybridSGDConfig(method="hybrid", eta_x=ex, eta_y=ey, epochs=args.epochs, seed=0)
        result = run_hybrid_sgd(objective, config, seeds=args.seeds)
        summary = summarize_run(result)
        out = write_run(
            f"{args.out}/{name}",
            run_config_record(RunDescription(DEMO_PROBLEM, config, seeds=args.seeds), objective),
            result.metrics,
            summary,
        )
        m = result.metrics
        last = m[m["epoch"] == m["epoch"].max()]
        rows.append(
            {
                "config": name,
                "eta_x": ex,
                "eta_y": ey,
                "epochs_to_gy2_target": epochs_to_target(m, "grad_y_norm", TARGET),
                "epochs_to_g2_target": epochs_to_target(m, "grad_norm", TARGET),
                "final_gy2": f"{(last.grad_y_norm**2).mean():.3g} +- {(last.grad_y_norm**2).std():.2g}",
                "final_g2": f"{(last.grad_norm**2).mean():.3g} +- {(last.grad_norm**2).std():.2g}",
                "seconds": round(result.seconds, 2),
                "out": str(out),
            }
        )
        status |= int(result.diverged)
    table = pd.DataFrame(rows).set_index("config")
    print(f"demo: hybrid ZO/FO SGD on {DEMO_PROBLEM}, {args.seeds} seeds, {args.epochs} epochs, RR order")
    print(
        f"constants: L_x={c.L_x:.3g}, L_y={c.L_y:.3g}, L_xy={c.L_xy:.3g}, d_x={objective.d_x}, "
        f"d_y={objective.d_y}, n={objective.n}"
    )
    print(f"targets: seed-mean ||grad_y f||^2 and ||grad f||^2 below {TARGET:g} x their start values\n")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.drop(columns="out").to_string(float_format=lambda v: f"{v:.4g}"))
    ratio = table.loc["one_step", "epochs_to_gy2_target"] / table.loc["two_steps", "epochs_to_gy2_target"]
    print(f"\nadapter-gradient target: one step needs {ratio:.3g}x the epochs of two steps")
    print("outputs:\n" + "\n".join(f"  {r['out']}/ (config.json, metrics.csv, summary.json)" for r in rows))
    return status
