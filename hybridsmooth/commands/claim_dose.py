"""``hybridsmooth claim dose``: the hybrid at several ZO step sizes eta_x against FO-PEFT on the same paired seeds,
at one adapter step (``claim.dose``): is there an eta_x at which the joint update beats FO-PEFT?"""

from __future__ import annotations

import math
from pathlib import Path

from ..errors import UsageError
from .claim_summary import in_points


def add_dose_arguments(actions) -> None:
    from . import sweep as sweep_command

    text = "the hybrid at several ZO step sizes eta_x against FO-PEFT on the same seeds (resumable)"
    p = actions.add_parser("dose", help=text, description=text)
    p.add_argument("--cell", default="main", help="the claim cell whose runs these are (default main)")
    p.add_argument("--quick", action="store_true", help="the quick cell: a tiny model, the pipeline only")
    p.add_argument("--out", required=True, help="folder of the results (its runs/ holds the run folders)")
    p.add_argument("--steps", type=int, default=None, help="steps per run (default: the cell's)")
    p.add_argument("--seeds", default=None, metavar="N|A-B", help="seeds 0..N-1, or A..B (default: the cell's)")
    p.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="change a key of the cell's problem spec"
    )
    p.add_argument(
        "--eta-x",
        required=True,
        metavar="A,B,...",
        help="the hybrid's ZO step sizes, e.g. 0,1e-5,1e-4,1e-3 (0: its code path with x still)",
    )
    p.add_argument(
        "--eta-y",
        type=float,
        default=None,
        help="the adapter step of every run, the hybrid's and FO-PEFT's (default: the hybrid's in --selection)",
    )
    p.add_argument(
        "--selection",
        default=None,
        metavar="CSV",
        help="an earlier claim's selection.csv: the hybrid's selected eta_y and mu (one of --eta-y, --selection)",
    )
    p.add_argument(
        "--report",
        action="store_true",
        help="rebuild dose.csv and dose.png from the finished runs, or from dose_per_seed.csv without them; run "
        "nothing",
    )
    sweep_command._add_run_arguments(p)
    p.set_defaults(methods=None, zo_precision=None)


def dose(args) -> int:
    from ..claim import dose as dose_mod
    from ..claim.plots import plot_dose
    from ..claim.protocol import RUNS_DIR, has_run_folders, sweep_descriptions
    from . import sweep as sweep_command
    from .claim import cell_from_args

    cell = cell_from_args(args)
    eta_xs = dose_mod.check_eta_xs(_numbers(args.eta_x))
    eta_y, mu = _adapter_step(args, cell)
    runs = dose_mod.dose_runs(cell, eta_xs, eta_y, mu)
    out = Path(args.out)
    say = lambda line: print(line, flush=True)  # noqa: E731
    unused = sweep_command.given_run_options(args) if args.report else []
    if unused:
        raise UsageError(f"claim dose --report runs nothing: {', '.join(unused)} does not apply")
    if not args.report:
        sweep_command._check_run_options(args)
        sweep_command.refuse_shard(args, "claim dose", "its dose.toml")
        out.mkdir(parents=True, exist_ok=True)
        sweep_descriptions(
            [r for *_, r in runs],
            out / RUNS_DIR,
            out / "dose.toml",
            say=say,
            workers=args.workers or 1,
            threads=args.threads or 1,
            executor=args.executor,
            options=sweep_command._executor_options(args),
        )
    try:
        if has_run_folders(out):
            per_seed, probes = dose_mod.dose_tables(runs, out / RUNS_DIR)
        else:
            per_seed, probes = dose_mod.read_source_tables(out)
            _check_same_runs(per_seed, runs, out)
        table = dose_mod.dose_table(per_seed, probes, cell.probe_every)
    except (FileNotFoundError, ValueError) as err:
        raise UsageError(f"claim dose: {err}; run `hybridsmooth claim dose` without --report to finish it") from None
    per_seed.to_csv(out / "dose_per_seed.csv", index=False)
    if len(probes):
        probes.to_csv(out / "dose_probes.csv", index=False)
    table.to_csv(out / "dose.csv", index=False)
    title = f"cell {cell.name}: the hybrid against its ZO step size, eta_y = {eta_y:g}, {len(cell.seeds)} seeds"
    plot_dose(table, out / "dose.png", title=title)
    shown = table.assign(
        difference=in_points(table, "mean_difference", "low", "high"),
        zo_share=[f"{100 * v:.2g}%" if math.isfinite(v) else "-" for v in table["x_share_expected"]],
    )
    columns = ["eta_x", "pairs", "difference", "sign_flip_p", "holm_p", "verdict", "collapsed", "zo_share"]
    print(shown[columns].to_string(index=False))
    print(f"wrote {out / 'dose.csv'}, {out / 'dose_per_seed.csv'}, {out / 'dose.png'}")
    return 0


def _check_same_runs(per_seed, runs, out: Path) -> None:
    """Tables rebuilt without their run folders must hold the runs the options name, no more and no fewer."""
    named = {(m, float(x), int(s)) for m, x, s, _ in runs}
    held = {(m, float(x), int(s)) for m, x, s in zip(per_seed["method"], per_seed["eta_x"], per_seed["seed"])}
    if named != held:
        raise UsageError(
            f"{out / 'dose_per_seed.csv'} holds {len(held)} runs, the options name {len(named)} (another --eta-x, "
            "--seeds or adapter step): give the options the dose ran with"
        )


def _numbers(text: str) -> list[float]:
    try:
        return [float(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--eta-x takes step sizes separated by commas, e.g. 0,1e-5,1e-4; got {text!r}") from None


def _adapter_step(args, cell) -> tuple[float, float]:
    """(eta_y, mu): --eta-y with the cell's mu, or the hybrid's selected setting in --selection."""
    from ..claim.cells import MU

    if (args.eta_y is None) == (args.selection is None):
        raise UsageError("claim dose: give one of --eta-y (the adapter step) or --selection (an earlier claim's)")
    if args.eta_y is not None:
        return float(args.eta_y), MU
    from ..claim.protocol import read_tuning
    from ..claim.selection import select
    from .claim import _selection_file

    tuning = read_tuning(_selection_file(args.selection), cell.with_changes(methods=("hybrid",), control_seeds=()))
    chosen = select(tuning)[0]["hybrid"]
    return chosen["eta_y"], chosen["mu"]
