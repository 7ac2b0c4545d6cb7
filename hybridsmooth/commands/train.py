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

import dataclasses
import json
import sys

import pandas as pd
import torch

from .. import validate
from ..engine import json_safe
from ..engine.execute import check_batch_memory, execute
from ..engine.interrupt import RunInterrupted
from ..engine.run_description import DEFAULT_SEEDS, MAX_SEED, MODEL_ONLY, RunDescription, is_model_problem
from ..engine.rundir import check_run_folder, open_run_folder
from ..errors import UsageError
from ..optim.hybrid_sgd import FO_POINTS, METHODS, UPDATES, HybridSGDConfig
from ..optim.orders import ORDERS
from ..optim.run_metrics import summarize_run
from ..problems import make_problem
from ..zo.estimators import FORMS
from ..zo.gaussian_split import ZO_STREAMS
from ..zo.inplace import NOISE_MODES
from ..zo.precision import ZO_PRECISIONS

SYNTHETIC_ONLY = ("seeds", "seed_list")
# the option defaults are the description's: one definition, read from the dataclasses
OPT = {f.name: f.default for f in dataclasses.fields(HybridSGDConfig)}
RUN = {f.name: f.default for f in dataclasses.fields(RunDescription)}


def add_arguments(parser) -> None:
    parser.add_argument(
        "problem", help="problem spec, e.g. quadratic:dx=50,dy=10,Lx=10,Ly=1,n=16 (see `hybridsmooth problems`)"
    )
    _optimizer_options(parser.add_argument_group("optimizer"))
    _folder_options(parser.add_argument_group("run folder and output"))
    _synthetic_options(parser.add_argument_group("synthetic problems (seeds batched)"))
    _model_options(parser.add_argument_group("torch-model problems (llm:...)"))


def _optimizer_options(group) -> None:
    group.add_argument(
        "--method",
        default=OPT["method"],
        choices=list(METHODS),
        help="x/y rules: hybrid (ZO/FO), fo_full (FO/FO), fo_peft (frozen/FO), zo_full (ZO/frozen), "
        f"zo_peft (frozen/ZO); default {OPT['method']}",
    )
    group.add_argument("--eta-x", type=float, default=None, help="step size of the x (full-model) block")
    group.add_argument("--eta-y", type=float, default=None, help="step size of the y (adapter) block")
    group.add_argument(
        "--epochs", type=int, default=OPT["epochs"], help=f"number of epochs T (default {OPT['epochs']})"
    )
    for flag, name, kind, what, choices in (
        ("--order", "order", str, "sample order", ORDERS),
        ("--seed", "seed", int, "run seed of the noise and order streams", None),
        ("--mu", "mu", float, "ZO smoothing radius", None),
        ("--form", "form", str, "ZO estimator", FORMS),
        ("--q", "q", int, "ZO directions per step", None),
        ("--update", "update", str, "block update", UPDATES),
        ("--fo-point", "fo_point", str, "where the adapter gradient is taken", FO_POINTS),
    ):
        group.add_argument(
            flag,
            type=kind,
            default=OPT[name],
            choices=list(choices) if choices else None,
            help=f"{what} (default {OPT[name]:g})" if kind is float else f"{what} (default {OPT[name]})",
        )
    group.add_argument(
        "--zo-precision",
        default=OPT["zo_precision"],
        choices=list(ZO_PRECISIONS),
        help="torch models in bfloat16/float16: plain (perturb, restore and update the weights in their dtype), "
        "master (a float32 copy of the ZO block is the iterate: exact restore, 2x the bf16 weights' memory) or "
        f"stochastic (stochastic rounding of the update, no copy); default {OPT['zo_precision']}",
    )
    group.add_argument(
        "--zo-stream",
        default=OPT["zo_stream"],
        choices=list(ZO_STREAMS),
        help="torch models, Gaussian forms: how a ZO direction is drawn, sequential (entry after entry from the "
        "step's generator, one core) or split (independently seeded chunks on all threads: the same distribution, "
        f"other numbers, about 0.6x the seconds of a noise pass on 2 CPU cores); default {OPT['zo_stream']}",
    )
    group.add_argument(
        "--divergence-factor",
        type=float,
        default=OPT["divergence_factor"],
        help=f"a run diverged when its loss exceeds this times its start loss (default {OPT['divergence_factor']:g})",
    )


def _folder_options(group) -> None:
    group.add_argument("--out", default="runs/train", help="run folder to write (default runs/train)")
    group.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last checkpoint (same problem and options; "
        "--epochs / --steps may extend it)",
    )
    group.add_argument("--overwrite", action="store_true", help="replace the run that --out holds")
    group.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="checkpoint every N epochs (synthetic) or steps (torch models); default: none "
        "(synthetic runs still keep their records on Ctrl-C)",
    )
    group.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    group.add_argument("--quiet", action="store_true", help="no progress bar")
    group.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's choice; 1 is fastest for small problems on a busy machine)",
    )


def _synthetic_options(group) -> None:
    group.add_argument(
        "--seeds", type=int, default=None, help=f"seeds 0..N-1 run as one batch (default {DEFAULT_SEEDS})"
    )
    group.add_argument(
        "--seed-list",
        default=None,
        metavar="I,J,...",
        help="run only these seed indices (the labels of metrics.csv), e.g. 3 or 3,7: "
        "seed k is the same run alone as in a batch",
    )


def _model_options(group) -> None:
    # default None: an option given for a synthetic problem is refused, not ignored
    group.add_argument(
        "--steps", type=int, default=None, help="optimizer steps (default: --epochs x the number of minibatches)"
    )
    group.add_argument(
        "--eval-every", type=int, default=None, help="dev evaluation every N steps (default: start and end)"
    )
    group.add_argument("--eval-limit", type=int, default=None, help="dev examples per evaluation (default: all)")
    group.add_argument(
        "--noise-mode",
        default=None,
        choices=list(NOISE_MODES),
        help="ZO noise: regenerate from the seed (least memory) or draw once per step into a buffer "
        f"(default {RUN['noise_mode']})",
    )


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
    names = [n for n in OPT if n not in ("eta_x", "eta_y")]
    try:
        return HybridSGDConfig(eta_x=etas["x"], eta_y=etas["y"], **{n: getattr(args, n) for n in names})
    except ValueError as err:
        raise UsageError(str(err)) from None


def build_description(args) -> RunDescription:
    """The run the parsed arguments describe (options not given take the description's defaults)."""
    seeds = parse_seed_list(args.seed_list) if args.seed_list is not None else args.seeds
    model = {n: getattr(args, n) for n in MODEL_ONLY if getattr(args, n) is not None}
    return RunDescription(
        args.problem, build_config(args), seeds=seeds, checkpoint_every=args.checkpoint_every or 0, **model
    )


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
    is_model = is_model_problem(args.problem)
    _check_options(args, is_model)
    description = build_description(args)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    check_run_folder(args.out, resume=args.resume, overwrite=args.overwrite)
    objective = make_problem(args.problem)
    if not is_model:
        check_batch_memory(objective, description.seeds, description.optimizer.q)
    with open_run_folder(args.out, resume=args.resume, overwrite=args.overwrite) as folder:
        try:
            result = execute(description, folder=folder, objective=objective, progress=not args.quiet)
        except RunInterrupted as err:
            print(f"hybridsmooth train: {err}", file=sys.stderr)
            return 130
        if is_model:  # a torch model: one run, in place, step by step
            return report_model(description, result, args, folder)
        return report_synthetic(description, result, args, folder)


def report_synthetic(description: RunDescription, result, args, folder) -> int:
    config = description.optimizer
    summary = {**summarize_run(result), "out": str(folder.path)}
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


def report_model(description: RunDescription, res, args, folder) -> int:
    config = description.optimizer
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
        **res.precision,
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
        if res.precision.get("zo_precision_theory"):
            print(res.precision["zo_precision_theory"])
        print(f"wrote {folder.path}/config.json, metrics.csv (per step), evals.csv, summary.json")
    if res.precision.get("zo_precision_note"):  # one line at the end, also beside --json output
        print(res.precision["zo_precision_note"], file=sys.stderr if args.json else sys.stdout)
    return 1 if res.diverged else 0
