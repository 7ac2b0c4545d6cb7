"""``hybridsmooth train PROBLEM``: reshuffling hybrid SGD (or a baseline) on a problem spec, many seeds at once.

Writes config.json, metrics.csv and summary.json to ``--out``; prints a table of final values (mean +- std
over seeds) or, with ``--json``, the summary as JSON on stdout. A diverged run still writes its files,
prints the diagnosis and exits with status 1.
"""
from __future__ import annotations

import json
import sys

import pandas as pd
import torch

from ..engine import json_safe, run_config_record, write_run
from ..errors import UsageError
from ..optim.hybrid_sgd import FO_POINTS, METHODS, UPDATES, HybridSGDConfig, run_hybrid_sgd, summarize_run
from ..optim.orders import ORDERS
from ..problems import make_problem
from ..zo.estimators import FORMS


def add_arguments(parser) -> None:
    parser.add_argument("problem", help="problem spec, e.g. quadratic:dx=50,dy=10,Lx=10,Ly=1,n=16 "
                                        "(see `hybridsmooth problems`)")
    parser.add_argument("--method", default="hybrid", choices=list(METHODS),
                        help="x/y rules: hybrid (ZO/FO), fo_full (FO/FO), fo_peft (frozen/FO), zo_full (ZO/frozen), "
                             "zo_peft (frozen/ZO); default hybrid")
    parser.add_argument("--eta-x", type=float, default=None, help="step size of the x (full-model) block")
    parser.add_argument("--eta-y", type=float, default=None, help="step size of the y (adapter) block")
    parser.add_argument("--epochs", type=int, default=20, help="number of epochs T (default 20)")
    parser.add_argument("--order", default="rr", choices=list(ORDERS), help="sample order (default rr)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds run as one batch (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="run seed of the noise and order streams (default 0)")
    parser.add_argument("--mu", type=float, default=1e-3, help="ZO smoothing radius (default 1e-3)")
    parser.add_argument("--form", default="central", choices=list(FORMS), help="ZO estimator (default central)")
    parser.add_argument("--q", type=int, default=1, help="ZO directions per step (default 1)")
    parser.add_argument("--update", default="jacobi", choices=list(UPDATES), help="block update (default jacobi)")
    parser.add_argument("--fo-point", default="clean", choices=list(FO_POINTS),
                        help="where the adapter gradient is taken (default clean)")
    parser.add_argument("--divergence-factor", type=float, default=1e6,
                        help="a seed diverged when its loss exceeds this times its start loss (default 1e6)")
    parser.add_argument("--out", default="runs/train", help="run directory to write (default runs/train)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    model = parser.add_argument_group("torch-model problems (llm:...)")
    model.add_argument("--steps", type=int, default=None,
                       help="optimizer steps (default: --epochs x the number of minibatches)")
    model.add_argument("--eval-every", type=int, default=0, help="dev evaluation every N steps (default: start and end)")
    model.add_argument("--eval-limit", type=int, default=None, help="dev examples per evaluation (default: all)")
    model.add_argument("--checkpoint-every", type=int, default=0, help="checkpoint every N steps (default: none)")
    model.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    model.add_argument("--noise-mode", default="regenerate", choices=["regenerate", "buffer"],
                       help="ZO noise: regenerate from the seed (least memory) or draw once per step into a buffer")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: torch's choice; 1 is fastest for small problems "
                             "on a busy machine)")


def build_config(args) -> HybridSGDConfig:
    """The optimizer config from parsed arguments; bad values become a one-line UsageError."""
    x_mode, y_mode = METHODS[args.method]
    etas = {}
    for block, mode in (("x", x_mode), ("y", y_mode)):
        value = getattr(args, f"eta_{block}")
        if mode == "frozen":
            if value not in (None, 0.0):
                raise UsageError(f"--method {args.method} keeps {block} frozen: drop --eta-{block}")
            value = 0.0
        elif value is None:
            raise UsageError(f"--method {args.method} updates {block}: give --eta-{block} (a positive step size)")
        etas[block] = value
    if args.seeds < 1:
        raise UsageError(f"--seeds must be a positive integer, got {args.seeds}")
    try:
        return HybridSGDConfig(method=args.method, eta_x=etas["x"], eta_y=etas["y"], epochs=args.epochs,
                               order=args.order, update=args.update, fo_point=args.fo_point, form=args.form,
                               mu=args.mu, q=args.q, seed=args.seed, divergence_factor=args.divergence_factor)
    except ValueError as err:
        raise UsageError(str(err)) from None


def summary_table(summary: dict) -> pd.DataFrame:
    rows = {}
    for col in ("loss", "grad_norm", "grad_x_norm", "grad_y_norm"):
        rows[col] = {"mean": summary[f"final_{col}_mean"], "std": summary[f"final_{col}_std"]}
    return pd.DataFrame(rows).T


def run(args) -> int:
    config = build_config(args)
    if args.threads is not None:
        if args.threads < 1:
            raise UsageError(f"--threads must be a positive integer, got {args.threads}")
        torch.set_num_threads(args.threads)
    objective = make_problem(args.problem)
    if hasattr(objective, "x_layout"):      # a torch model: one run, in place, step by step
        return run_model(objective, config, args)
    result = run_hybrid_sgd(objective, config, seeds=args.seeds, progress=not args.quiet)
    summary = summarize_run(result)
    summary["out"] = str(args.out)
    record = run_config_record(problem=args.problem, config=config, seeds=args.seeds, objective=objective)
    out = write_run(args.out, record, result.metrics, summary)
    if args.json:
        print(json.dumps(json_safe(summary), allow_nan=False))
        if result.diverged:
            print(result.diagnosis, file=sys.stderr)
    else:
        print(f"{config.method} on {args.problem}: {summary['seeds']} seeds, {config.epochs} epochs, "
              f"{summary['seconds']:.2f} s")
        print(f"final values over seeds (mean, std):\n{summary_table(summary).to_string(float_format='%.4g')}")
        print(result.diagnosis)
        print(f"wrote {out}/config.json, metrics.csv, summary.json")
    return 1 if result.diverged else 0


def run_model(objective, config: HybridSGDConfig, args) -> int:
    from ..engine.model_run import ModelRunConfig, train_model

    steps = args.steps if args.steps is not None else config.epochs * objective.n
    run_config = ModelRunConfig(steps=steps, eval_every=args.eval_every, eval_limit=args.eval_limit,
                                checkpoint_every=args.checkpoint_every, noise_mode=args.noise_mode)
    res = train_model(objective, config, run_config, out_dir=args.out, resume=args.resume, progress=not args.quiet)
    last = res.evals.iloc[-1] if len(res.evals) else None
    summary = {"method": config.method, "problem": args.problem, "steps": res.completed_steps,
               "diverged": res.diverged, "diagnosis": res.diagnosis,
               "seconds_per_step": float(res.steps["seconds"].mean()) if len(res.steps) else None,
               "final_train_loss": float(res.steps["loss"].iloc[-1]) if len(res.steps) else None,
               "dev_loss": None if last is None else float(last["dev_loss"]),
               "dev_accuracy": None if last is None else float(last["dev_accuracy"]), "out": str(args.out)}
    if args.json:
        print(json.dumps(json_safe(summary), allow_nan=False))
    else:
        print(f"{config.method} on {args.problem}: {res.completed_steps} steps, "
              f"{summary['seconds_per_step'] or 0:.2f} s/step")
        if len(res.evals):
            print(res.evals.to_string(index=False, float_format="%.4g"))
        print(res.diagnosis)
        print(f"wrote {args.out}/config.json, metrics.csv (per step), evals.csv, summary.json")
    return 1 if res.diverged else 0
