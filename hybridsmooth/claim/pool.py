"""The seeded runs of several claim folders of one cell, pooled into one analysis: more seeds at the same selected
step sizes, run at another time or on another machine (``claim run --seeds 10-19 --selection ...``).

Each source contributes the tables an analysis read out of its run folders (selection.csv, per_seed.csv,
curves.csv, probes.csv), so sources whose run folders are gone still pool. The sources must select the same
step sizes for every method they share, and no (method, seed) may come from two of them: a seed run twice
would count twice (and on two machines its late collapse can differ, README). A method's rows come from every
source that ran it; pairs stay pairs because a seed's runs of two methods come from one source or from
sources with the same settings and seed. The pooled folder holds the joined tables and no run folders, so
``claim report`` analyses it like any committed cell.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from ..engine.rundir import write_atomic
from ..errors import UsageError
from .cells import CONTROL, Cell
from .protocol import RUNS_DIR, check_steps, read_source_tables
from .selection import select
from .tables import zo_precisions

SETTING_KEYS = ("eta_x", "eta_y", "mu")


def _methods(cell: Cell) -> list[str]:
    return [*cell.methods, *([CONTROL] if cell.control_seeds else [])]


def _setting(selected: dict, method: str) -> tuple:
    return tuple(float(selected[method].get(k, 0.0)) for k in SETTING_KEYS)


def pool_claims(cell: Cell, sources: Sequence[str | Path], out: str | Path, *, say: Callable = print) -> dict:
    """Write ``out``'s selection, per-seed, curve and probe tables from ``sources`` (module docstring), and its
    meta.json naming them; constants.json from the first source measured at the cell's problem. Returns the
    pooled counts: {method: seeds}."""
    out = Path(out)
    sources = [Path(s) for s in sources]
    if len(sources) < 2:
        raise UsageError("claim pool needs at least two --from folders")
    if any(s.resolve() == out.resolve() for s in sources):
        raise UsageError(f"{out} is one of the --from folders: pool into a new folder")
    if (out / RUNS_DIR).is_dir() and any((out / RUNS_DIR).iterdir()):
        raise UsageError(f"{out} holds run folders of its own: pool into a new folder")
    meta_path = out / "meta.json"
    if (out / "per_seed.csv").is_file() and not (
        meta_path.is_file() and "pooled_from" in json.loads(meta_path.read_text())
    ):
        raise UsageError(f"{out} holds another claim's tables: pool into a new folder (an earlier pool is replaced)")
    methods = _methods(cell)
    tuning_parts, seeded, curves, probes, agreed, origin, pooled = [], [], [], [], {}, {}, []
    agreed_precision: dict[str, tuple] = {}
    for src in sources:
        try:
            tuning, per_seed, curve, probe = read_source_tables(src)
        except FileNotFoundError as err:
            raise UsageError(f"--from {src}: {err} (pool the folders of finished claim runs)") from None
        check_steps(per_seed, cell.steps, f"--from {src}")
        selected, _ = select(tuning)
        ran = [m for m in methods if m in set(per_seed["method"])]
        for m, precision in zo_precisions(per_seed[per_seed["method"].isin(ran)]).items():
            if agreed_precision.setdefault(m, (precision, src))[0] != precision:
                first, where = agreed_precision[m]
                raise UsageError(
                    f"{src} ran {m} in ZO precision {precision}, {where} in {first}: pool runs of one precision "
                    "only (it changes a run's numbers as a step size does)"
                )
        for m in ran:
            key = "hybrid" if m == CONTROL else m
            setting = _setting(selected, key)
            if agreed.setdefault(key, (setting, src))[0] != setting:
                first, where = agreed[key]
                raise UsageError(
                    f"{src} selected {key} at (eta_x, eta_y, mu) = {setting}, {where} at {first}: pool runs of the "
                    "same selected step sizes only (claim run --selection)"
                )
            if key not in origin:
                origin[key] = src
                tuning_parts.append(tuning[tuning["method"] == key])
        seeded.append(per_seed[per_seed["method"].isin(ran)])
        pooled.append(len(seeded[-1]))
        curves.append(curve[curve["method"].isin(ran)])
        if len(probe):
            probes.append(probe[probe["method"].isin(ran)])
    missing = [m for m in cell.methods if m not in origin]
    if missing:
        raise UsageError(f"no --from folder ran {', '.join(missing)}; give --methods the folders ran")
    per_seed = pd.concat(seeded, ignore_index=True)
    if "zo_precision" in per_seed:  # a source from before runs recorded it ran in plain precision
        per_seed["zo_precision"] = per_seed["zo_precision"].fillna("plain")
    twice = per_seed[per_seed.duplicated(["method", "seed"], keep=False)]
    if len(twice):
        row = twice.iloc[0]
        where = sorted({str(Path(f).parent.parent) for f in twice[twice["method"] == row.method]["folder"]})
        raise UsageError(
            f"{row.method} seed {int(row.seed)} was run in more than one folder ({', '.join(where)}): each "
            "seed may come from one folder only"
        )
    out.mkdir(parents=True, exist_ok=True)
    tuning = pd.concat(tuning_parts, ignore_index=True)
    # a run's tuning row says where it ran; ``selected`` is recomputed by the analysis from these rows
    tuning.to_csv(out / "selection.csv", index=False)
    per_seed.sort_values(["method", "seed"], kind="stable").to_csv(out / "per_seed.csv", index=False)
    pd.concat(curves, ignore_index=True).to_csv(out / "curves.csv", index=False)
    if probes:
        pd.concat(probes, ignore_index=True).to_csv(out / "probes.csv", index=False)
    _copy_constants(cell, sources, out, say)
    meta = _pooled_meta(sources, pooled)
    if any(_meta(src).get("tuned_here") is False for src in set(origin.values())):
        meta["tuned_here"] = False  # the selection rows come from a folder that took them from a given table
    write_atomic(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    counts = {m: sorted(int(s) for s in per_seed[per_seed["method"] == m]["seed"]) for m in methods}
    for m, seeds in counts.items():
        if seeds:
            say(f"{m}: {len(seeds)} seeds ({_seed_ranges(seeds)})")
    return counts


def _copy_constants(cell: Cell, sources: list[Path], out: Path, say: Callable) -> None:
    problem = cell.problem_at(cell.tune_seed)
    for src in sources:
        path = src / "constants.json"
        if path.is_file() and json.loads(path.read_text()).get("problem") == problem:
            shutil.copyfile(path, out / "constants.json")
            say(f"block constants from {path}")
            return
    say("no --from folder measured the block constants of this cell's problem: the theory limits are left out")


def _meta(src: Path) -> dict:
    path = src / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def _pooled_meta(sources: list[Path], pooled: list[int]) -> dict:
    parts, machines = [], set()
    for src, n in zip(sources, pooled):
        meta = _meta(src)
        # a folder analysed before runs recorded their machine says so, instead of passing for one of the others
        machines.update(meta.get("machines") or [f"not recorded for {src}"])
        parts.append(
            {
                "folder": str(src),
                "seeded_runs_pooled": int(n),
                "runs": meta.get("runs"),
                "run_minutes": meta.get("run_minutes"),
                "span_minutes": meta.get("span_minutes"),
                "machines": meta.get("machines", []),
            }
        )
    return {"pooled_from": parts, "runs": int(sum(pooled)), "machines": sorted(machines)}


def _seed_ranges(seeds: list[int]) -> str:
    runs, start = [], seeds[0]
    for a, b in zip(seeds, seeds[1:] + [None]):
        if b != a + 1:
            runs.append(f"{start}" if start == a else f"{start}-{a}")
            start = b
    return ", ".join(runs)
