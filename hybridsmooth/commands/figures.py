"""``hybridsmooth figures [--quick | --full] [--only a,b] [--rerun] [--out figures] [--runs-dir runs/figures]
[--workers N] [--write-grid FILE]``: build the registered figures (``hybridsmooth.experiments.EXPERIMENTS``).

For each selected implemented figure: when its stored tables exist for the same config and ``--rerun`` is not
given, only re-plot (no training); otherwise run, then plot. Writes OUT/<name>.png, OUT/<name>.csv (the main
table) and rewrites OUT/README.md with one caption line per figure. Bad names, configs and output folders are
refused before any run (a figure run can take minutes; its result must not be lost to an unwritable folder).
``--workers N`` runs the figures in N processes first (``figure_workers``), then plots them in order.

``--write-grid FILE`` trains and plots nothing: it writes the training runs of the selected figures as a grid
file (a list of runs) whose root is the figures' store of model runs, so that ``hybridsmooth sweep run FILE``
trains them (on a cluster, in shards) and the same ``figures`` command without ``--write-grid`` then finds
the finished runs there and only plots.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch

from .. import experiments as ex
from .. import validate
from ..engine import sweep
from ..engine.rundir import json_safe, write_atomic
from ..errors import UsageError
from ..experiments import figure_runs
from ..experiments.registry import CONFIG_FILE, read_config, tables_exist, validate_config
from ..paths import ensure_output_dir, ensure_output_file
from .figure_workers import run_in_workers

GRID_SUFFIXES = (".toml", ".yaml", ".yml")


def add_arguments(parser) -> None:
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--quick",
        dest="mode",
        action="store_const",
        const="quick",
        help="small configs that run on CPU in minutes (default)",
    )
    mode.add_argument("--full", dest="mode", action="store_const", const="full", help="THEORY's sizes (longer)")
    parser.set_defaults(mode="quick")
    parser.add_argument(
        "--only", default=None, metavar="NAMES", help="comma-separated figure names (default: every implemented figure)"
    )
    parser.add_argument("--rerun", action="store_true", help="redo the runs even when stored tables exist")
    parser.add_argument("--out", default="figures", help="folder of the PNGs, CSVs and README.md (default figures)")
    parser.add_argument(
        "--runs-dir",
        dest="runs_dir",
        default="runs/figures",
        help="folder of the stored runs, one sub-folder per figure (default runs/figures)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="figures run side by side in this many processes (default 1); figures sharing a run share a worker",
    )
    parser.add_argument(
        "--write-grid",
        dest="write_grid",
        default=None,
        metavar="FILE",
        help="write the figures' training runs as a sweep grid (.toml or .yaml) rooted in their store; train nothing",
    )


def _summary(config: dict) -> str:
    """A short key=value summary of a config for the README (long lists abbreviated)."""
    parts = []
    for k, v in config.items():
        if k == "mode":
            continue
        if isinstance(v, (list, tuple)):
            v = (
                "["
                + ", ".join(f"{t:g}" if isinstance(t, float) else str(t) for t in v[:4])
                + (", ...]" if len(v) > 4 else "]")
            )
        elif isinstance(v, float):
            v = f"{v:g}"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def _stored_config(tables_dir: Path) -> dict | None:
    try:
        return read_config(tables_dir)
    except (OSError, ValueError):
        return None


def _has_stored_run(e, tables_dir: Path, config: dict) -> bool:
    return tables_exist(e, tables_dir) and _stored_config(tables_dir) == json_safe(config)


def write_readme(out: Path, runs_dir: Path) -> Path:
    """One line per registered figure: caption, and how it was made (or 'not implemented yet')."""
    lines = [
        "# Figures",
        "",
        "Made by `hybridsmooth figures` from stored run tables (`--rerun` redoes the runs). "
        "Each figure's data is the CSV of the same name. Theory figures are synthetic and run on CPU.",
        "",
    ]
    shown = []
    for e in ex.EXPERIMENTS.values():
        png = out / f"{e.name}.png"
        if not e.implemented:
            lines.append(f"- **{e.name}** ({e.kind}): {e.caption}")
            continue
        if not png.is_file():
            lines.append(f"- **{e.name}** ({e.kind}): not built in this folder yet. {e.caption}")
            continue
        cfg = _stored_config(runs_dir / e.name) or {}
        mode = cfg.get("mode", "unknown")
        lines.append(
            f"- **{e.name}** ({e.kind}, [png]({e.name}.png), [csv]({e.name}.csv)): {e.caption} "
            f"Made with `hybridsmooth figures --{mode} --only {e.name}` ({mode} mode: {_summary(cfg)})."
        )
        shown.append(e)
    for e in shown:
        lines += ["", f"## {e.title}", "", f"![{e.name}]({e.name}.png)"]
    path = out / "README.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def run(args) -> int:
    start = time.perf_counter()
    mode = getattr(args, "mode", None) or "quick"
    # --rerun: model runs stored by earlier processes no longer count (figures of one call still share theirs)
    figure_runs.fresh_runs(bool(args.rerun))
    selected = ex.select(args.only, ex.EXPERIMENTS)
    if not args.only:
        selected = [e for e in selected if e.implemented]
    out, runs_dir = Path(args.out), Path(args.runs_dir)
    configs = {}
    for e in selected:  # validate every config before any run, so a bad one fails fast
        configs[e.name] = e.config(mode)
        if e.implemented:
            validate_config(e, configs[e.name])
    workers = validate.integer("--workers", getattr(args, "workers", 1), minimum=1, error=UsageError)
    if getattr(args, "write_grid", None):
        if workers != 1:
            raise UsageError("--workers runs figures, which --write-grid does not; the sweep has its own --workers")
        return write_figures_grid(args.write_grid, selected, configs, runs_dir, mode)
    stored = {e.name: _has_stored_run(e, runs_dir / e.name, configs[e.name]) and not args.rerun for e in selected}
    ensure_output_dir(out, "--out")
    if not all(stored.values()):  # re-plotting only reads the runs folder, which may then be read-only
        ensure_output_dir(runs_dir, "--runs-dir")
    to_run = [e for e in selected if not stored[e.name]]
    ran = {}
    if workers > 1 and len(to_run) > 1:
        ran = run_in_workers(
            to_run, configs, runs_dir, rerun=bool(args.rerun), workers=workers, threads=torch.get_num_threads()
        )
    for i, e in enumerate(selected, 1):
        tables_dir = runs_dir / e.name
        config = configs[e.name]
        t0 = time.perf_counter()
        if stored[e.name]:
            action = "re-plot from stored tables"
        elif e.name in ran:
            action = f"run in a worker ({ran[e.name]:.1f} s), plot"
        else:
            action = "run + plot"
            print(f"[{i}/{len(selected)}] {e.name}: running ({mode}) ...", flush=True)
            # the config is written last by a run, so a run that fails leaves no stale "complete" marker
            (tables_dir / CONFIG_FILE).unlink(missing_ok=True)
            e.run(config, tables_dir)
        png = out / f"{e.name}.png"
        e.plot(tables_dir, png)
        shutil.copyfile(tables_dir / e.main_table, out / f"{e.name}.csv")
        print(f"[{i}/{len(selected)}] {e.name}: {action} in {time.perf_counter() - t0:.1f} s -> {png}", flush=True)
    readme = write_readme(out, runs_dir)
    print(
        f"figures: {len(selected)} built in {time.perf_counter() - start:.1f} s; index {readme}; "
        f"tables under {runs_dir}"
    )
    return 0


# --- the runs of figures as a sweep grid -----------------------------------------------------------------------
def write_figures_grid(path: str, selected, configs: dict, runs_dir: Path, mode: str) -> int:
    """Write the training runs of the ``selected`` figures (their ``Experiment.runs``) as a grid whose root is
    the figures' store of model runs, where ``figure_runs.load_figure_run`` finds what the sweep finishes."""
    if Path(path).suffix.lower() not in GRID_SUFFIXES:
        raise UsageError(f"--write-grid {path}: give a .toml or .yaml file")
    out = ensure_output_file(path, "--write-grid")
    runs, notes = _grid_runs(selected, configs)
    if not runs:
        raise UsageError(f"--write-grid: {', '.join(e.name for e in selected)} train no runs; nothing to write")
    # absolute: a sweep reads root against its own working directory, which may be another one (a cluster job)
    root = (runs_dir / figure_runs.MODEL_RUNS_DIR).resolve()
    sweep.write_grid(out, root, runs)
    for note in notes:
        print(note)
    names = ",".join(e.name for e in selected)
    print(f"wrote {out}: {len(runs)} runs, root {root}")
    print(
        f"next: hybridsmooth sweep run {out}; then "
        f"hybridsmooth figures --{mode} --only {names} --runs-dir {runs_dir} plots them"
    )
    return 0


def _grid_runs(selected, configs: dict) -> tuple[list, list[str]]:
    """The distinct runs of the figures (model and synthetic), in figure order, and a line for each figure
    that has none (it computes when it plots)."""
    runs: dict[str, tuple[str, object]] = {}
    notes = []
    for e in selected:
        listed = e.runs(configs[e.name]) if e.implemented and e.runs is not None else []
        if not listed:
            notes.append(f"{e.name}: no training runs to sweep (it computes when plotted)")
        for d in listed:
            owner, known = runs.setdefault(d.content_hash(), (e.name, d))
            if known != d:  # one folder per content hash: two lengths of one run cannot share it
                raise UsageError(f"--write-grid: {owner} and {e.name} ask for one run at two lengths ({d.label()})")
    return [d for _, d in runs.values()], notes
