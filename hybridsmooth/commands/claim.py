"""``hybridsmooth claim run | report | plan | merge | pool | summary``: the accuracy claim as a tuned, seeded, paired
test.

``run`` tunes each method on the dev split, runs the selected settings on every seed, measures the block
constants and writes the tables, figure and report (``claim.protocol``); run again, it continues where it
stopped (finished runs are never repeated). ``report`` rebuilds the tables, figure and report from the run
folders, or from the committed tables where the folders are gone. ``plan`` writes the grid files of the
two phases (the second once the first is finished) for ``hybridsmooth sweep run`` elsewhere. ``merge --from
DIR`` brings in the cell's runs finished in another claim folder (or its ``runs/``), phase by phase
(``engine.sweep_merge``): what a GPU box or a cluster's scratch made joins ``--out`` without being run again.
``pool --from A --from B`` analyses the seeded runs of several finished claim folders at the same selected
step sizes as one (``claim.pool``): more seeds run later, ``run --seeds 10-19 --selection A/selection.csv``,
or the eta_x = 0 control alone, ``run --methods hybrid_eta_x_0 --seeds 0-1 --selection A/selection.csv``.
``summary --from A=LABEL --from B=LABEL`` gathers the paired differences of finished folders of any cells into one
table and figure (``claim.summary``, its action in ``commands.claim_summary``). ``dose --eta-x A,B,...`` runs the
hybrid at several ZO step sizes against FO-PEFT on the same seeds (``claim.dose``, ``commands.claim_dose``).

Cells (``--cell``): ``main`` (MiniLM + LoRA, tweets), ``topic`` (MiniLM + LoRA, BBC News), ``smollm2``
(SmolLM2-135M + LoRA, tweets; ``smollm2_short``: cut to about two hours on 2 cores), ``paper`` (OPT-1.3B +
LoRA on SST-2, on GPUs), ``quick`` (a tiny random model: the pipeline in seconds; ``--quick`` is ``--cell
quick``). ``--set key=value`` changes a key of the
cell's problem spec (a model on disk: ``--set model=/ckpt/opt-1.3b``; SST-2 from a file: ``--set
data=/data/sst2/train.tsv``; ``--set device=cuda --set dtype=bfloat16``, with ``--zo-precision master`` so
that small ZO steps survive bfloat16). The executors and their options are those of ``sweep run``.
"""

from __future__ import annotations

from pathlib import Path

from .. import validate
from ..claim.cells import CELLS, CONTROL, METHOD_ORDER
from ..errors import UsageError
from . import claim_dose, claim_summary
from . import sweep as sweep_command

METHOD_NAMES = (*METHOD_ORDER, CONTROL)

ACTIONS = ("run", "report", "plan", "merge", "pool", "summary", "dose")


def add_arguments(parser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=type(parser))
    for name, help_text in (
        ("run", "tune on dev, run the selected settings on every seed, analyse (resumable)"),
        ("report", "rebuild the tables, figure and report from the finished runs"),
        ("plan", "write the grid files of the two phases (the second once tuning is finished)"),
        ("merge", "bring in the cell's runs finished in another claim folder (--from), phase by phase"),
        ("pool", "analyse the seeded runs of several claim folders (--from A --from B) at the same step sizes"),
    ):
        p = actions.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--cell", default="main", help=f"{' | '.join(CELLS)} (default main)")
        p.add_argument("--quick", action="store_true", help="the quick cell: a tiny model, the pipeline only")
        p.add_argument("--out", required=True, help="folder of the results (its runs/ holds the run folders)")
        p.add_argument(
            "--steps",
            type=int,
            default=None,
            help="steps per run (default: the cell's); report, merge and pool: the steps the runs were made with",
        )
        p.add_argument(
            "--seeds",
            default=None,
            metavar="N|A-B",
            help="seeds 0..N-1, or A..B, at the selected settings (a range without the tuning seed 0: with "
            "--selection, to add seeds that `claim pool` joins to an earlier folder's)",
        )
        p.add_argument(
            "--methods",
            default=None,
            metavar="M,M",
            help=f"only these methods (of {', '.join(METHOD_NAMES)}; any the cell has a grid for, also one it "
            f"does not run by default); the control {CONTROL} runs only when listed: on the --seeds given, else "
            "on the cell's control seeds; listed without hybrid, it needs --selection",
        )
        p.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="change a key of the cell's problem spec"
        )
        p.add_argument(
            "--zo-precision",
            choices=["plain", "master", "stochastic"],
            default=None,
            help="rounding of the ZO steps in bfloat16/float16 (default plain; see Low precision in the README)",
        )
        if name == "report":
            p.add_argument(
                "--partial",
                action="store_true",
                help="how far the run has got (tuning_progress.csv, tuning_curves.csv): every finished tuning run, "
                "the selection where a method's grid has finished, the seeded runs done",
            )
        if name == "merge":
            sweep_command.add_merge_source(p, "another claim folder of the same cell, or its runs/")
        if name == "pool":
            p.add_argument(
                "--from",
                dest="sources",
                action="append",
                required=True,
                metavar="DIR",
                help="a finished claim folder of the cell (its tables suffice); give two or more",
            )
        if name == "run":
            sweep_command._add_run_arguments(p)
            p.add_argument("--no-constants", action="store_true", help="skip the block constants (theory limits)")
            p.add_argument(
                "--selection",
                default=None,
                metavar="CSV",
                help="take the step sizes an earlier claim selected (its selection.csv) instead of tuning",
            )

    claim_summary.add_summary_arguments(actions)
    claim_dose.add_dose_arguments(actions)


def cell_from_args(args):
    from ..claim.cells import cell_named
    from ..problems import parse_spec

    cell = cell_named("quick" if args.quick else args.cell)
    changes = {}
    if args.steps is not None:
        changes["steps"] = validate.integer("--steps", args.steps, minimum=1, error=UsageError)
        if changes["steps"] != cell.steps:
            # the notes describe the cell as defined (some name its step count): the report and figure say both
            changes["notes"] = f"{cell.notes}; run here at {changes['steps']} steps (--steps), not {cell.steps}"
    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
        changes["seeds"] = seeds
        changes["control_seeds"] = tuple(s for s in cell.control_seeds if s in seeds)
    if args.methods is not None:
        names = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in names if m not in METHOD_NAMES]
        if unknown or not names:
            raise UsageError(f"--methods: unknown method(s) {unknown or names}; accepted: {', '.join(METHOD_NAMES)}")
        # a method the cell does not run by default but has a grid for runs when named (the cut SmolLM2
        # cell's FO-Full: its own folder, pooled with the default methods' folders afterwards)
        gridless = [m for m in names if m != CONTROL and m not in cell.grids]
        if gridless:
            raise UsageError(
                f"--methods: cell {cell.name} has no step-size grid for {', '.join(gridless)}; "
                f"it has grids for {', '.join(m for m in METHOD_ORDER if m in cell.grids)}"
            )
        changes["methods"] = tuple(m for m in METHOD_ORDER if m in names)
        if CONTROL not in names:
            changes["control_seeds"] = ()
        elif args.seeds is not None or not cell.control_seeds:
            # named with the seeds, the control runs on those seeds (also in a folder of its own, for seeds whose
            # hybrid and FO-PEFT runs are elsewhere); a cell without default control seeds runs it on its seeds
            changes["control_seeds"] = changes.get("seeds", cell.seeds)
    if args.zo_precision is not None:
        changes["zo_precision"] = args.zo_precision
    if args.set:
        changes["problem"] = _with_keys(cell.problem, args.set)
        parse_spec(changes["problem"])  # a bad key or value is refused now, not in every worker
        # likewise the notes describe the cell as defined (its adapter, its device): say what --set changed
        changed = ", ".join(item.strip() for item in args.set)
        changes["notes"] = f"{changes.get('notes', cell.notes)}; run here with {changed} (--set)"
    return cell.with_changes(**changes) if changes else cell


def parse_seeds(text) -> tuple[int, ...]:
    """``N`` (seeds 0..N-1) or ``A-B`` (seeds A..B), at least two seeds."""
    first, dash, last = str(text).strip().partition("-")
    try:
        seeds = range(int(first), int(last) + 1) if dash else range(int(first))
    except ValueError:
        raise UsageError(f"--seeds takes N (seeds 0..N-1) or A-B (seeds A..B), got {text!r}") from None
    if len(seeds) < 2 or seeds.start < 0:
        raise UsageError(f"--seeds {text}: give at least two seeds, none negative")
    return tuple(seeds)


def _with_keys(problem: str, items: list[str]) -> str:
    name, _, rest = problem.partition(":")
    keys = dict(item.split("=", 1) for item in filter(None, rest.split(",")))
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--set takes KEY=VALUE, got {item!r}")
        if key.strip() == "seed":
            raise UsageError("--set seed: the seeds are the claim test's own (--seeds)")
        keys[key.strip()] = value.strip()
    return f"{name}:" + ",".join(f"{k}={v}" for k, v in keys.items())


def run(args) -> int:
    if args.action is None:
        raise UsageError(f"give an action: {', '.join(ACTIONS)}")
    if args.action == "summary":
        return claim_summary.summary(args)
    if args.action == "dose":
        return claim_dose.dose(args)
    cell = cell_from_args(args)
    out = Path(args.out)
    if args.action == "run":
        return _run(args, cell, out)
    if args.action == "report":
        return _progress(cell, out) if args.partial else _report(cell, out)
    if args.action in ("plan", "merge") and not cell.methods:
        # both go phase by phase from the tuning grid, which the control alone does not have
        raise UsageError(
            f"claim {args.action}: the control alone has no grid to tune; run it at an earlier claim's step sizes "
            "(`claim run --methods hybrid_eta_x_0 --selection DIR/selection.csv`) and join folders with `claim pool`"
        )
    if args.action == "merge":
        return _merge(cell, out, Path(args.source))
    if args.action == "pool":
        # the seeds are those the folders ran, and no run happens: these would be ignored, so they are refused
        for flag, value in (("--seeds", args.seeds), ("--zo-precision", args.zo_precision)):
            if value is not None:
                raise UsageError(f"claim pool takes no {flag}: the pooled runs are those the --from folders hold")
        return _pool(cell, out, args.sources)
    return _plan(cell, out)


def _pool(cell, out: Path, sources: list[str]) -> int:
    from ..claim.pool import pool_claims

    pool_claims(cell, sources, out, say=lambda line: print(line, flush=True))
    return _report(cell, out)


def _run(args, cell, out: Path) -> int:
    from ..claim.protocol import run_claim

    if cell.control_seeds and "hybrid" not in cell.methods and args.selection is None:
        # the control is the hybrid's setting at eta_x = 0 (FO-PEFT's eta_y): without the hybrid's tuning
        # here, those step sizes come from an earlier selection
        raise UsageError(
            f"--methods: {CONTROL} is the hybrid's control; list hybrid with it, or give the --selection "
            "of a claim that selected the hybrid and FO-PEFT"
        )
    sweep_command._check_run_options(args)
    sweep_command.refuse_shard(args, "claim run", "the grids `claim plan` writes")
    options = sweep_command._executor_options(args)
    verdicts = run_claim(
        cell,
        out,
        workers=args.workers or 1,
        threads=args.threads or 1,
        executor=args.executor,
        options=options,
        constants=not args.no_constants,
        selection_from=_selection_file(args.selection),
        say=lambda line: print(line, flush=True),
    )
    _print_verdicts(verdicts, out)
    return 0


def _selection_file(path: str | None) -> Path | None:
    if path is None:
        return None
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"--selection {path}: no such file (the selection.csv of an earlier claim run)")
    return file


def _report(cell, out: Path) -> int:
    from ..claim.protocol import SOURCE_TABLES, analyse, has_run_folders

    if not has_run_folders(out) and not all((out / name).is_file() for name in SOURCE_TABLES):
        raise UsageError(
            f"{out} holds no claim runs (no {out / 'runs'}) and no tables of an earlier analysis "
            f"({', '.join(SOURCE_TABLES)}); run `hybridsmooth claim run` first"
        )
    try:
        verdicts = analyse(cell, out)
    except FileNotFoundError as err:
        raise UsageError(
            _unfinished(cell, out) or f"{err}; run `hybridsmooth claim run` with the same options to finish it"
        ) from None
    _print_verdicts(verdicts, out)
    return 0


def _unfinished(cell, out: Path) -> str | None:
    """What a report of an unfinished claim can still do (a GPU box that stopped in the seeded phase): the
    methods whose every seed finished, which ``--methods`` analyses now; None when the tuning is unfinished."""
    from ..claim.cells import CONTROL
    from ..claim.progress import claim_progress
    from ..claim.protocol import RUNS_DIR

    progress = claim_progress(cell, out / RUNS_DIR, selected=_earlier_selection(cell, out))
    if progress.seeded_total is None:
        return None
    done = progress.seeded_complete
    complete = [m for m in cell.methods if done.get(m)]
    text = f"{progress.seeded_done} of {progress.seeded_total} seeded runs have finished; "
    if "hybrid" in complete and len(complete) > 1:
        text += f"every seed of {', '.join(complete)}: `--methods {','.join(complete)}` analyses those now; "
    elif complete:
        text += f"every seed of {', '.join(complete)} only, too few to compare the hybrid with a baseline; "
    if done.get(CONTROL) is False:
        text += "the eta_x = 0 control has not; "
    return text + "`--partial` shows the rest, and `hybridsmooth claim run` with the same options finishes it"


def _progress(cell, out: Path) -> int:
    from ..claim.progress import claim_progress, progress_lines
    from ..claim.protocol import RUNS_DIR, has_run_folders

    if not has_run_folders(out):
        raise UsageError(f"{out} holds no claim runs (no {out / RUNS_DIR}); run `hybridsmooth claim run` first")
    progress = claim_progress(cell, out / RUNS_DIR, selected=_earlier_selection(cell, out))
    for line in progress_lines(cell, progress):
        print(line)
    if progress.tuning.empty:
        return 0
    progress.tuning.to_csv(out / "tuning_progress.csv", index=False)
    progress.curves.to_csv(out / "tuning_curves.csv", index=False)
    if not progress.curves.empty:
        from ..claim.plots import plot_tuning

        plot_tuning(
            progress.tuning, progress.curves, out / "tuning_progress.png", title=f"claim cell {cell.name}: tuning"
        )
    print(f"tuning_progress.csv, tuning_curves.csv and tuning_progress.png in {out}")
    return 0


def _earlier_selection(cell, out: Path) -> dict | None:
    """The step sizes a `claim run --selection` took (its selection.csv, written before the seeded runs): where
    not every tuning run has a folder here (the analysis's own rule); None where they do, or before a selection."""
    from ..claim.protocol import read_tuning, tuned_here
    from ..claim.selection import select

    if tuned_here(cell, out) or not (out / "selection.csv").is_file():
        return None
    return select(read_tuning(out / "selection.csv", cell))[0]


def _plan(cell, out: Path) -> int:
    _write_tuning_grid(cell, out)
    if _write_final_grid(cell, out) is None:
        print("the tuning runs are not all finished: run them, then plan again for the seeded runs")
    return 0


def _write_tuning_grid(cell, out: Path) -> Path:
    from ..claim.protocol import RUNS_DIR
    from ..engine.sweep import write_grid

    path = write_grid(out / "tuning.toml", out / RUNS_DIR, [r for _, _, r in cell.tuning_runs()])
    print(f"wrote {path} ({len(cell.tuning_runs())} runs)")
    return path


def _write_final_grid(cell, out: Path) -> Path | None:
    """final.toml from the selection, or None while the tuning runs are not all finished."""
    from ..claim import tables
    from ..claim.protocol import RUNS_DIR
    from ..claim.selection import select
    from ..engine.sweep import write_grid

    try:
        selected, _ = select(tables.tuning_table(cell, out / RUNS_DIR))
    except FileNotFoundError:
        return None
    final = [r for _, _, r in cell.final_runs(selected)]
    path = write_grid(out / "final.toml", out / RUNS_DIR, final)
    print(f"wrote {path} ({len(final)} runs)")
    return path


def _merge(cell, out: Path, source: Path) -> int:
    from ..claim.protocol import RUNS_DIR

    if (source / RUNS_DIR).is_dir():
        source = source / RUNS_DIR
    if not source.is_dir():
        raise UsageError(f"--from {source}: not a claim folder nor a folder of run folders")
    _merge_phase("tuning", _write_tuning_grid(cell, out), source)
    final = _write_final_grid(cell, out)  # the seeded runs are named by the selection, once tuning is complete
    if final is None:
        print("the tuning runs are not all finished here: the seeded runs cannot be named yet")
    else:
        _merge_phase("seeded", final, source)
    return 0


def _merge_phase(name: str, grid: Path, source: Path) -> None:
    from ..engine import sweep
    from ..engine.sweep_merge import merge_counts, merge_finished

    results = merge_finished(sweep.plan(sweep.read_grid(grid)), source)
    for r in results:
        if r.status in ("replaced", "kept"):
            print(f"{name}: {r.status} {r.folder.name}: {r.note}")
    counts = merge_counts(results)
    print(f"{name}: {len(results)} runs: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n))


def _print_verdicts(verdicts: dict, out: Path) -> None:
    for line in verdicts.values():
        print(line)
    print(f"tables, claim.png and report.md in {out}")
