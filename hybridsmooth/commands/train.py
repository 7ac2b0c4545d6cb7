"""``hybridsmooth train PROBLEM``: reshuffling hybrid SGD (or a baseline) on a problem spec, many seeds at once.

Writes config.json, metrics.csv, summary.json and, last, complete.json to ``--out``; prints a table of final
values (mean +- std over seeds) or, with ``--json``, the summary as JSON on stdout. A diverged run still
writes its files, prints the diagnosis and exits with status 1. ``--out`` must not hold a run already,
unless ``--resume`` continues that same run or ``--overwrite`` replaces it. Ctrl-C keeps what was
recorded (exit status 130) and ``--resume`` continues from there.

Options that do not apply to the problem are refused, not ignored: ``--seeds`` / ``--seed-list`` are for
synthetic problems (many seeds batched), ``--steps`` / ``--eval-every`` / ``--eval-limit`` /
``--noise-mode`` for torch models (one run, step by step).
"""

from __future__ import annotations

import json
import sys

import pandas as pd
import torch

from .. import validate
from ..engine import json_safe
from ..engine.interrupt import RunInterrupted
from ..engine.rundir import check_run_folder, open_run_folder
from ..errors import UsageError
from ..objectives.base import Objective
from ..optim.hybrid_sgd import FO_POINTS, METHODS, UPDATES, HybridSGDConfig
from ..optim.orders import ORDERS
from ..problems import make_problem, parse_spec
from ..zo.estimators import FORMS

DEFAULT_SEEDS = 20
# the problems trained in place, one run at a time (torch models); the others run many seeds batched
MODEL_PROBLEMS = ("llm",)
MODEL_ONLY = ("steps", "eval_every", "eval_limit", "noise_mode")
SYNTHETIC_ONLY = ("seeds", "seed_list")
MAX_SEED = 2**63 - 1
# a batched step holds the point, the q directions and a few temporaries per seed
WORKING_COPIES = 8


def add_arguments(parser) -> None:
    parser.add_argument(
        "problem", help="problem spec, e.g. quadratic:dx=50,dy=10,Lx=10,Ly=1,n=16 (see `hybridsmooth problems`)"
    )
    parser.add_argument(
        "--method",
        default="hybrid",
        choices=list(METHODS),
        help="x/y rules: hybrid (ZO/FO), fo_full (FO/FO), fo_peft (frozen/FO), zo_full (ZO/frozen), "
        "zo_peft (frozen/ZO); default hybrid",
    )
    parser.add_argument("--eta-x", type=float, default=None, help="step size of the x (full-model) block")
    parser.add_argument("--eta-y", type=float, default=None, help="step size of the y (adapter) block")
    parser.add_argument("--epochs", type=int, default=20, help="number of epochs T (default 20)")
    parser.add_argument("--order", default="rr", choices=list(ORDERS), help="sample order (default rr)")
    parser.add_argument("--seed", type=int, default=0, help="run seed of the noise and order streams (default 0)")
    parser.add_argument("--mu", type=float, default=1e-3, help="ZO smoothing radius (default 1e-3)")
    parser.add_argument("--form", default="central", choices=list(FORMS), help="ZO estimator (default central)")
    parser.add_argument("--q", type=int, default=1, help="ZO directions per step (default 1)")
    parser.add_argument("--update", default="jacobi", choices=list(UPDATES), help="block update (default jacobi)")
    parser.add_argument(
        "--fo-point",
        default="clean",
        choices=list(FO_POINTS),
        help="where the adapter gradient is taken (default clean)",
    )
    parser.add_argument(
        "--divergence-factor",
        type=float,
        default=None,
        help="a run diverged when its loss exceeds this times its start loss "
        "(default 1e6 for synthetic problems, 1e3 for torch models)",
    )
    parser.add_argument("--out", default="runs/train", help="run folder to write (default runs/train)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (same problem and options; "
        "--epochs / --steps may extend it)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the run that --out holds")
    parser.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="checkpoint every N epochs (synthetic) or steps (torch models); default: none "
        "(synthetic runs still keep their records on Ctrl-C)",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    synthetic = parser.add_argument_group("synthetic problems (seeds batched)")
    synthetic.add_argument(
        "--seeds", type=int, default=None, help=f"seeds 0..N-1 run as one batch (default {DEFAULT_SEEDS})"
    )
    synthetic.add_argument(
        "--seed-list",
        default=None,
        metavar="I,J,...",
        help="run only these seed indices (the labels of metrics.csv), e.g. 3 or 3,7: "
        "seed k is the same run alone as in a batch",
    )
    model = parser.add_argument_group("torch-model problems (llm:...)")
    model.add_argument(
        "--steps", type=int, default=None, help="optimizer steps (default: --epochs x the number of minibatches)"
    )
    model.add_argument(
        "--eval-every", type=int, default=None, help="dev evaluation every N steps (default: start and end)"
    )
    model.add_argument("--eval-limit", type=int, default=None, help="dev examples per evaluation (default: all)")
    model.add_argument(
        "--noise-mode",
        default=None,
        choices=["regenerate", "buffer"],
        help="ZO noise: regenerate from the seed (least memory; default) or draw once per step into a buffer",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is fastest for small problems on a busy machine)",
    )


def build_config(args, *, divergence_factor: float | None = None) -> HybridSGDConfig:
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
    extra = {} if divergence_factor is None else {"divergence_factor": divergence_factor}
    try:
        return HybridSGDConfig(
            method=args.method,
            eta_x=etas["x"],
            eta_y=etas["y"],
            epochs=args.epochs,
            order=args.order,
            update=args.update,
            fo_point=args.fo_point,
            form=args.form,
            mu=args.mu,
            q=args.q,
            seed=args.seed,
            **extra,
        )
    except ValueError as err:
        raise UsageError(str(err)) from None


def parse_seed_list(text: str) -> list[int]:
    """'3' or '3,7' -> [3] or [3, 7]: distinct non-negative seed indices, in the order given."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) > MAX_SEED:
            raise UsageError(f"--seed-list takes comma-separated integers in [0, 2^63), e.g. 3,7; got {text!r}")
        seeds.append(int(part))
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seed-list names a seed twice: {text!r}")
    return seeds


def _given(args, names) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n) is not None]


def _check_options(args, is_model: bool) -> None:
    """Refuse options that do not apply to the problem, and impossible values, before any work."""
    wrong = _given(args, SYNTHETIC_ONLY if is_model else MODEL_ONLY)
    if wrong:
        kind = (
            "a torch model trains one run (give --seed for another run)"
            if is_model
            else "synthetic problems run in epochs (give --epochs)"
        )
        raise UsageError(
            f"{', '.join(wrong)} do{'es' if len(wrong) == 1 else ''} not apply to {args.problem!r}: {kind}"
        )
    if args.seeds is not None and args.seed_list is not None:
        raise UsageError("give --seeds or --seed-list, not both")
    for name in ("epochs", "steps", "eval_every", "checkpoint_every"):
        value = getattr(args, name)
        if value is not None and value < 0:
            raise UsageError(f"--{name.replace('_', '-')} must be a non-negative integer, got {value}")
    if args.eval_limit is not None and args.eval_limit < 1:
        raise UsageError(f"--eval-limit must be a positive integer, got {args.eval_limit}")
    if args.threads is not None:
        validate.threads("--threads", args.threads)
    # seeds key the random streams as 64-bit integers
    validate.integer("--seed", args.seed, minimum=0, maximum=MAX_SEED, error=UsageError)
    if args.seeds is not None:
        validate.integer("--seeds", args.seeds, minimum=1, maximum=MAX_SEED, error=UsageError)
    validate.integer("--q", args.q, minimum=1, error=UsageError)


def summary_table(summary: dict) -> pd.DataFrame:
    rows = {}
    for col in ("loss", "grad_norm", "grad_x_norm", "grad_y_norm"):
        rows[col] = {"mean": summary[f"final_{col}_mean"], "std": summary[f"final_{col}_std"]}
    return pd.DataFrame(rows).T


def run(args) -> int:
    is_model = parse_spec(args.problem)[0] in MODEL_PROBLEMS
    _check_options(args, is_model)
    config = build_config(args, divergence_factor=None if is_model else args.divergence_factor)
    seeds = parse_seed_list(args.seed_list) if args.seed_list is not None else (args.seeds or DEFAULT_SEEDS)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    check_run_folder(args.out, resume=args.resume, overwrite=args.overwrite)
    objective = make_problem(args.problem)
    if not is_model:
        check_batch_memory(objective, seeds, config.q)
    with open_run_folder(args.out, resume=args.resume, overwrite=args.overwrite) as folder:
        try:
            if is_model:  # a torch model: one run, in place, step by step
                return run_model(objective, config, args, folder)
            return run_synthetic(objective, config, args, folder, seeds)
        except RunInterrupted as err:
            print(f"hybridsmooth train: {err}", file=sys.stderr)
            return 130


def check_batch_memory(objective: Objective, seeds, q: int) -> None:
    """Refuse a batch of seeds whose working set cannot fit in memory, before allocating any of it."""
    count = seeds if isinstance(seeds, int) else len(seeds)
    itemsize = torch.empty((), dtype=objective.dtype).element_size()
    validate.check_allocation(
        count * (q + WORKING_COPIES) * (objective.d_x + objective.d_y),
        itemsize,
        f"{count} seeds x (q={q} directions + {WORKING_COPIES} working copies) x d={objective.d_x + objective.d_y}",
    )


def run_synthetic(objective: Objective, config: HybridSGDConfig, args, folder, seeds) -> int:
    from ..engine.synthetic_run import train_synthetic

    result, summary = train_synthetic(
        objective,
        config,
        seeds=seeds,
        folder=folder,
        problem=args.problem,
        checkpoint_every=args.checkpoint_every or 0,
        progress=not args.quiet,
    )
    if args.json:
        print(json.dumps(json_safe(summary), allow_nan=False))
        if result.diverged:
            print(result.diagnosis, file=sys.stderr)
    else:
        print(
            f"{config.method} on {args.problem}: {summary['seeds']} seeds, {config.epochs} epochs, "
            f"{summary['seconds']:.2f} s"
        )
        print(f"final values over seeds (mean, std):\n{summary_table(summary).to_string(float_format='%.4g')}")
        print(result.diagnosis)
        print(f"wrote {folder.path}/config.json, metrics.csv, summary.json")
    return 1 if result.diverged else 0


def run_model(objective: Objective, config: HybridSGDConfig, args, folder) -> int:
    from ..engine.model_run import ModelRunConfig, train_model

    steps = args.steps if args.steps is not None else config.epochs * objective.n
    extra = {} if args.divergence_factor is None else {"divergence_factor": args.divergence_factor}
    run_config = ModelRunConfig(
        steps=steps,
        eval_every=args.eval_every or 0,
        eval_limit=args.eval_limit,
        checkpoint_every=args.checkpoint_every or 0,
        noise_mode=args.noise_mode or "regenerate",
        **extra,
    )
    res = train_model(objective, config, run_config, out_dir=folder, progress=not args.quiet)
    # the final dev values are those evaluated at the last step; a diverged run has none
    last = res.evals.iloc[-1] if len(res.evals) and int(res.evals["step"].iloc[-1]) == res.completed_steps else None
    summary = {
        "method": config.method,
        "problem": args.problem,
        "steps": res.completed_steps,
        "diverged": res.diverged,
        "diagnosis": res.diagnosis,
        "seconds_per_step": float(res.steps["seconds"].mean()) if len(res.steps) else None,
        "final_train_loss": float(res.steps["loss"].iloc[-1]) if len(res.steps) else None,
        "dev_loss": None if last is None else float(last["dev_loss"]),
        "dev_accuracy": None if last is None else float(last["dev_accuracy"]),
        "out": str(folder.path),
    }
    if args.json:
        print(json.dumps(json_safe(summary), allow_nan=False))
    else:
        print(
            f"{config.method} on {args.problem}: {res.completed_steps} steps, "
            f"{summary['seconds_per_step'] or 0:.2f} s/step"
        )
        if len(res.evals):
            print(res.evals.to_string(index=False, float_format="%.4g"))
        print(res.diagnosis)
        print(f"wrote {folder.path}/config.json, metrics.csv (per step), evals.csv, summary.json")
    return 1 if res.diverged else 0
