"""The claim test end to end: tune on dev, run the selected settings on every seed, analyse, plot, report.

``run_claim(cell, out_dir)`` runs the cell's tuning grid as a sweep (``engine.sweep``: any of its
executors, resumable, a finished run is never repeated), selects each method's setting on the dev split
(``claim.selection``), runs the selected settings on every seed as a second sweep, measures the block
constants at the start point for the theory's step-size limits, and writes into ``out_dir``:

  tuning.toml, final.toml   the two sweeps' grid files (``hybridsmooth sweep run`` takes them as they are)
  selection.csv             every tuning run, with the selected one marked
  per_seed.csv              every seeded run: test accuracy and loss, final dev loss, seconds
  curves.csv, probes.csv    dev loss and accuracy along each run; the block probe's records
  methods.csv               per method: test accuracy and dev loss with bootstrap 95% intervals
  paired.csv                Hybrid - FO-PEFT and Hybrid - FO-Full by seed: verdicts, typical seed, seed plan
  collapses.csv             the same pairs: late collapses per method, exact McNemar p-value
  targets.csv               steps and seconds to the target dev loss, with intervals
  levelled.csv              whether each method's dev loss has levelled off
  control.csv               the hybrid at eta_x = 0 against FO-PEFT, per seed
  control_steps.csv         the same at every evaluation (control.png draws it, where the control ran)
  control_paired.csv,       the control - FO-PEFT as paired.csv and collapses.csv have the claim's pairs: what
  control_collapses.csv       rounding alone does to a comparison
  contributions.csv         the first-order decrease owed to each block, and how far each moved
  step_sizes.csv            the grids' stable ranges and the selected values against the theory's limits
  budget.csv                steps, passes and seconds per method
  constants.json            L_x, L_y at the start point (Lanczos, with residuals), tr(H_xx) (forward passes)
  claim.png, report.md      the figure, and the verdicts in words

``analyse(cell, out_dir)`` rebuilds every table, the figure and the report from the run folders alone, or,
where the run folders are gone (they are not committed), from the four tables read out of them
(selection.csv, per_seed.csv, curves.csv, probes.csv): a committed cell's report is rebuilt without training.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from ..engine.rundir import write_atomic
from ..engine.sweep import Grid, plan, run_all, write_grid
from ..errors import UsageError
from . import report as report_mod
from . import tables
from .cells import Cell
from .plots import plot_claim, plot_control
from .selection import RULE, select, step_size_table

RUNS_DIR = "runs"
# the theory's step-size limits come from Ritz values converged to 1% (a fixed 8 products left MiniLM's L_x at
# relative residual 0.38 before); the product budget bounds a solve that does not get there, and says so
CONSTANTS_RTOL = 1e-2
CONSTANTS_PRODUCTS = 60
# tr(H_xx) by the ZO step's own second differences: 64 directions gave 1039 +- 288 on the SmolLM2 cell's
# minibatch (5.6 min on 2 cores); 32 place the descent bound within about 1.3x, against grids of decades
TRACE_DIRECTIONS = 32
# the tables read out of the run folders, enough to rebuild every other output
SOURCE_TABLES = ("selection.csv", "per_seed.csv", "curves.csv")


def sweep_descriptions(descriptions, root: Path, grid_file: Path, *, say: Callable, **run_options) -> None:
    write_grid(grid_file, root, descriptions)
    planned = plan(Grid(root, tuple(descriptions)))
    todo = sum(p.state != "finished" for p in planned)
    say(f"{grid_file.name}: {len(planned)} runs, {todo} to run")
    done = [0]

    def report(outcome):
        done[0] += 1
        if outcome.status != "skipped":
            say(f"  [{done[0]}/{len(planned)}] {outcome.status}: {Path(outcome.folder).name} {outcome.message}")

    outcomes = run_all(planned, report=report, **run_options)
    bad = [o for o in outcomes if o.status in ("failed", "interrupted")]
    if bad:
        raise UsageError(
            f"{len(bad)} run(s) of {grid_file} did not finish ({bad[0].status}: {bad[0].message}); "
            "run the same command again to continue"
        )


def run_claim(
    cell: Cell,
    out_dir: str | Path,
    *,
    workers: int = 1,
    threads: int = 1,
    executor: str = "local",
    options: dict | None = None,
    constants: bool = True,
    selection_from: str | Path | None = None,
    say: Callable[[str], None] = print,
) -> dict:
    """Run the whole protocol (module docstring) and return the verdicts (``report.verdicts``).

    ``selection_from``: the selection.csv of an earlier claim run of the same cell; its selected step sizes
    are taken as they are and the tuning phase is skipped (more seeds, or fewer methods, without tuning again)."""
    out = Path(out_dir)
    root = out / RUNS_DIR
    out.mkdir(parents=True, exist_ok=True)
    run_options = dict(workers=workers, threads=threads, executor=executor, options=options)
    started = time.perf_counter()
    if selection_from is None:
        sweep_descriptions([r for _, _, r in cell.tuning_runs()], root, out / "tuning.toml", say=say, **run_options)
        tuning = tables.tuning_table(cell, root)
    else:
        tuning = read_tuning(Path(selection_from), cell)
        say(f"step sizes as selected in {selection_from} (no tuning)")
    selected, selection = select(tuning)
    selection.to_csv(out / "selection.csv", index=False)
    for method, setting in selected.items():
        say(f"selected for {method}: {describe_setting(method, setting)}")
    sweep_descriptions([r for _, _, r in cell.final_runs(selected)], root, out / "final.toml", say=say, **run_options)
    if constants:
        measure_constants(cell, out, say=say)
    wall = time.perf_counter() - started
    return analyse(cell, out, wall_seconds=wall, workers=workers)


def describe_setting(method: str, setting: dict) -> str:
    """The settings that matter to ``method``: the step sizes of its moving blocks, mu where a block is ZO."""
    from ..optim.hybrid_sgd import METHODS

    modes = METHODS[method]
    parts = [f"eta_{b}={setting[f'eta_{b}']:g}" for b, m in zip("xy", modes) if m != "frozen"]
    return ", ".join(parts + ([f"mu={setting['mu']:g}"] if "zo" in modes else []))


def measure_constants(
    cell: Cell,
    out: Path,
    *,
    say: Callable = print,
    rtol: float = CONSTANTS_RTOL,
    max_products: int = CONSTANTS_PRODUCTS,
    trace_directions: int = TRACE_DIRECTIONS,
) -> dict:
    """L_x and L_y of minibatch 0 at the start point of the tuning seed: Lanczos until the explicit relative
    residual ||H v - theta v|| / |theta| is at most ``rtol`` or ``max_products`` products are spent (each
    block's ``converged`` flag says which); and tr(H_xx) there from forward passes (``trace_directions``
    second differences of radius MU, with its standard error), for the ZO descent bound of
    ``selection.zo_descent_bound``. Read from constants.json when it holds this cell's at these settings (a
    file from before ``rtol``, with a fixed product count, is measured again; one without the trace gets it)."""
    path = out / "constants.json"
    problem = cell.problem_at(cell.tune_seed)
    data = None
    if path.is_file():
        stored = json.loads(path.read_text())
        if stored.get("problem") == problem and (stored.get("rtol"), stored.get("max_products")) == (
            rtol,
            max_products,
        ):
            if stored.get("tr_x") is not None:
                return stored
            data = stored
    from ..problems import make_problem

    objective = make_problem(problem)
    if data is None:
        data = _block_norms(objective, problem, rtol, max_products, say)
    data.update(_x_trace(objective, trace_directions, say))
    write_atomic(path, json.dumps(data, indent=2) + "\n")
    return data


def _block_norms(objective, problem: str, rtol: float, max_products: int, say: Callable) -> dict:
    from ..curvature.block_constants import block_constants

    say(f"block constants of {problem} (minibatch 0, Lanczos to relative residual {rtol:g}, at most {max_products})")
    result = block_constants(
        objective, blocks=("xx", "yy"), idx=0, max_iter=max_products, tol=rtol, residuals="explicit"
    )
    data = {"problem": problem, "rtol": rtol, "max_products": max_products, "d_x": objective.d_x, "d_y": objective.d_y}
    for block, name in (("xx", "x"), ("yy", "y")):
        e = result[block]
        data.update(
            {
                f"L_{name}": e.estimate,
                f"L_{name}_residual": e.residual,  # ||H v - theta v||, in the units of L
                f"L_{name}_rel_residual": e.residual / abs(e.estimate) if e.estimate else math.inf,
                f"L_{name}_converged": bool(e.converged),
                f"L_{name}_products": e.hvps,
                f"L_{name}_seconds": e.seconds,
            }
        )
    return data


def _x_trace(objective, directions: int, say: Callable) -> dict:
    from ..curvature.forward_only import forward_trace, live_point
    from .cells import MU

    say(f"tr(H_xx) of minibatch 0 from {directions} second differences (forward passes only, mu = {MU:g})")
    x, y = live_point(objective)
    row = forward_trace([x], lambda: objective.loss(x, y, 0), mu=MU, n_dirs=directions, seed=0).iloc[0]
    return {
        "tr_x": float(row["estimate"]),
        "tr_x_stderr": float(row["stderr"]),
        "tr_x_directions": int(row["n"]),
        "tr_x_seconds": float(row["seconds"]),
    }


def analyse(cell: Cell, out_dir: str | Path, *, wall_seconds: float | None = None, workers: int | None = None) -> dict:
    """Every table, the figure and the report from the finished run folders (module docstring)."""
    out = Path(out_dir)
    root = out / RUNS_DIR
    from_folders = has_run_folders(out)
    if from_folders:
        here = tuned_here(cell, out)
        tuning = tables.tuning_table(cell, root) if here else read_tuning(out / "selection.csv", cell)
        selected, selection = select(tuning)
        per_seed, curves, probes = tables.final_tables(cell, selected, root)
    else:
        tuning, per_seed, curves, probes = read_source_tables(out)
        selected, selection = select(tuning)
    check_steps(per_seed, cell.steps, out)
    selection.to_csv(out / "selection.csv", index=False)
    per_seed.to_csv(out / "per_seed.csv", index=False)
    curves.to_csv(out / "curves.csv", index=False)
    if len(probes):
        probes.to_csv(out / "probes.csv", index=False)
    frames = {
        "methods": tables.method_summary(per_seed),
        "paired": tables.paired_table(per_seed),
        "targets": tables.targets_table(curves, tables.target_dev_loss(curves)),
        "levelled": tables.levelled_table(curves),
        "control": tables.control_table(per_seed, curves),
        "control_steps": tables.control_steps(per_seed, curves),
        "control_paired": tables.paired_table(per_seed, pairs=tables.CONTROL_PAIRS),
        "control_collapses": tables.collapse_table(per_seed, pairs=tables.CONTROL_PAIRS),
        "collapses": tables.collapse_table(per_seed),
        "contributions": tables.contribution_table(probes, cell.probe_every) if len(probes) else pd.DataFrame(),
        "budget": tables.budget_table(tuning, per_seed, cell.steps),
    }
    constants_path = out / "constants.json"
    constants = json.loads(constants_path.read_text()) if constants_path.is_file() else {}
    frames["step_sizes"] = step_size_table(selection, constants)
    for name, frame in frames.items():
        frame.to_csv(out / f"{name}.csv", index=False)
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if wall_seconds is not None:
        meta = {"wall_seconds": wall_seconds, "workers": workers}
    if from_folders:
        # the tuning runs count where they ran here; a selection taken from elsewhere brought only its table
        # (a selected tuning run is also its seed's final run: counted once)
        folders = dict.fromkeys([*(tuning["folder"] if here else []), *per_seed["folder"]])
        meta.update(folder_times([Path(f) for f in folders]))
        meta["tuned_here"] = here
    write_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
    plot_claim(
        out, out / "claim.png", title=f"claim test, cell {cell.name}: {cell.notes}", probe_every=cell.probe_every
    )
    if len(frames["control"]):
        plot_control(out, out / "control.png", title=f"the eta_x = 0 control, cell {cell.name}")
    verdicts = report_mod.verdicts(frames)
    text = report_mod.render(cell, frames, selection, constants, meta, rule=RULE, per_seed=per_seed)
    write_atomic(out / "report.md", text)
    return verdicts


def check_steps(per_seed: pd.DataFrame, steps: int, where) -> None:
    """Refuse seeded runs of another length than ``steps`` (the cell's, or ``--steps``). A run folder's identity
    leaves its step count out (a continuation keeps it), so without this the report of 200-step runs analysed
    as the cell's 100 would say 100, and a pool could join runs of both lengths. A diverged run stops early."""
    if not len(per_seed):
        return
    done = per_seed["steps_done"].astype(int)
    wrong = per_seed[(done > steps) | (~per_seed["diverged"].astype(bool) & (done != steps))]
    if len(wrong):
        row = wrong.iloc[0]
        raise UsageError(
            f"{where}: {row.method} seed {int(row.seed)} ran {int(row.steps_done)} steps, where this analysis "
            f"expects {steps}: give the --steps its runs were made with"
        )


def tuned_here(cell: Cell, out: Path) -> bool:
    """Whether ``cell``'s tuning ran in ``out`` (every tuning run has its folder there), rather than its step
    sizes coming from an earlier claim's selection (``claim run --selection``; always so for the control run
    without the hybrid)."""
    return set(cell.selected_methods()) <= set(cell.methods) and all(
        (Path(out) / RUNS_DIR / r.content_hash()).is_dir() for _, _, r in cell.tuning_runs()
    )


def has_run_folders(out: Path) -> bool:
    """Whether ``out`` still holds the claim's run folders (a committed cell keeps only its tables)."""
    root = Path(out) / RUNS_DIR
    return root.is_dir() and any(root.iterdir())


def _read_runs_table(path: Path) -> pd.DataFrame:
    """A table of runs as written by ``analyse`` (one row per run, its ``diverged`` flag a bool)."""
    table = pd.read_csv(path)
    table["diverged"] = table["diverged"].astype(bool)
    return table


def read_tuning(path: Path, cell: Cell) -> pd.DataFrame:
    """The tuning table of the methods whose selection ``cell``'s seeded runs take (``Cell.selected_methods``)
    from a selection.csv (written by an earlier analysis)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no selection table (the cell's tuning runs are not here either)")
    tuning = _read_runs_table(path).drop(columns=["selected"], errors="ignore")
    # the control falls back to the hybrid's own eta_y where FO-PEFT was not selected (Cell.final_runs)
    needed = [*cell.methods, *(["hybrid"] if cell.control_seeds else [])]
    missing = [m for m in dict.fromkeys(needed) if m not in set(tuning["method"])]
    if missing:
        raise UsageError(
            f"{path} selects no step sizes for {', '.join(missing)}: give the --methods (and --seeds) the claim "
            "ran with"
        )
    needed_grids = tuple(m for m in cell.selected_methods() if m in cell.grids)
    tuning = tuning[tuning["method"].isin(needed_grids)].reset_index(drop=True)
    grid = {(m, r.eta_x, r.eta_y, r.mu) for m, _, r in cell.with_changes(methods=needed_grids).tuning_runs()}
    foreign = [
        f"{row.method} eta_x={row.eta_x:g} eta_y={row.eta_y:g} mu={row.mu:g}"
        for row in tuning.itertuples()
        if (row.method, row.eta_x, row.eta_y, row.mu) not in grid
    ]
    if foreign:
        raise UsageError(f"{path} was not made for cell {cell.name}: {foreign[0]} is not on its grid")
    return tuning


def read_source_tables(out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(tuning, per seed, curves, probes) from the tables an earlier analysis read out of the run folders."""
    missing = [name for name in SOURCE_TABLES if not (Path(out) / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{out} holds neither run folders nor {', '.join(missing)}")
    tuning = _read_runs_table(out / "selection.csv").drop(columns=["selected"], errors="ignore")
    per_seed = _read_runs_table(out / "per_seed.csv")
    curves = pd.read_csv(out / "curves.csv")
    probes_path = out / "probes.csv"
    probes = pd.read_csv(probes_path) if probes_path.is_file() else pd.DataFrame()
    return tuning, per_seed, curves, probes


def folder_times(folders: list[Path]) -> dict:
    """From the run folders, whichever command or machine ran them: the runs' summed durations and, where
    every completion marker records its run's start and end, the wall time during which at least one run was
    going and the span from the first start to the last end. The span counts the hours between sittings (a
    claim resumed on a GPU lent for minutes at a time); the busy time does not. Folders written before the
    markers recorded those times make every duration the runs' own timers (summary.json's seconds: training
    steps only) and give no wall time: their files' times are those of the last copy or checkout."""
    spans = [run_interval(Path(f)) for f in folders]
    timed = all(span is not None for span in spans)
    durations = [e - s for s, e in spans] if timed else [_run_seconds(Path(f)) for f in folders]
    return {
        "runs": len(folders),
        "run_minutes": sum(durations) / 60,
        "span_minutes": (max(e for _, e in spans) - min(s for s, _ in spans)) / 60 if timed else None,
        "busy_minutes": union_seconds(spans) / 60 if timed else None,
        "machines": sorted({machine(f) for f in folders}),
    }


def run_interval(folder: Path) -> tuple[float, float] | None:
    """(start, end) of a finished run in seconds since the epoch, as its completion marker records them."""
    marker = json.loads((folder / "complete.json").read_text())
    if marker.get("started_at") is None or marker.get("finished_at") is None:
        return None
    return float(marker["started_at"]), float(marker["finished_at"])


def _run_seconds(folder: Path) -> float:
    return float(json.loads((folder / "summary.json").read_text()).get("seconds") or 0.0)


def union_seconds(spans: list[tuple[float, float]]) -> float:
    """The length of the union of the intervals."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def machine(folder: Path) -> str:
    """Where a run ran, from its config.json: two machines agree only to rounding (their floating-point kernels
    differ), and a run that is unstable late can amplify that into a different ending."""
    cfg = json.loads((folder / "config.json").read_text())
    device = cfg.get("device", "?") + (f" ({cfg['gpu']})" if cfg.get("gpu") else "")
    return (
        f"{cfg.get('cpu', '?')}, {device}, torch {cfg.get('torch_version', '?')}, {cfg.get('threads', '?')} thread(s)"
    )
